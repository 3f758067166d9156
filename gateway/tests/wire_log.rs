//! Wire tracing: `RUST_LOG=sungate::wire=debug` shows each request and reply per port as text,
//! `trace` adds hex, so a user can attach the conversation with a device to a bug report.
//! Checked on the real binary against the simulator: a PI30 request/reply pair and a VE.Direct
//! HEX exchange.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::simulator;

/// Run `sungate` with `RUST_LOG=filter`; its stderr.
async fn sungate_log(filter: &str, args: &[String]) -> String {
    let (filter, owned) = (filter.to_owned(), args.to_vec());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sungate"))
            .args(&owned)
            .env("RUST_LOG", filter)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    stderr
}

/// The wire log lines of `port` going `direction`.
fn wire_lines<'a>(log: &'a str, port: &str, direction: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains("sungate::wire") && l.contains(port))
        .filter(|l| l.contains(&format!("direction=\"{direction}\"")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_log_shows_requests_and_replies_per_port() {
    let sim = simulator("", "wire", 1.0).await;
    let inverter = sim.pty_dir.join("inverter").display().to_string();
    let mppt = sim.pty_dir.join("mppt").display().to_string();

    // PI30: QPIGS and its reply, as text (CRC bytes and CR escaped).
    let log = sungate_log(
        "sungate::wire=debug",
        &[
            "query".into(),
            "--port".into(),
            inverter.clone(),
            "QPIGS".into(),
        ],
    )
    .await;
    let requests = wire_lines(&log, &inverter, "request");
    assert_eq!(requests.len(), 1, "{log}");
    assert!(requests[0].contains("text=QPIGS\\x"), "{log}");
    assert!(requests[0].ends_with("\\r"), "{log}");
    let replies = wire_lines(&log, &inverter, "reply");
    assert!(
        replies
            .iter()
            .any(|l| l.contains("text=(") && l.contains("\\r")),
        "{log}"
    );
    assert!(!log.contains("hex="), "hex is for trace only:\n{log}");

    // trace: the same bytes as hex too ("QPIGS" = 51 50 49 47 53).
    let log = sungate_log(
        "sungate::wire=trace",
        &["query".into(), "--port".into(), inverter, "QPIGS".into()],
    )
    .await;
    assert!(
        wire_lines(&log, "", "request")
            .iter()
            .any(|l| l.contains("hex=51 50 49 47 53")),
        "{log}"
    );

    // VE.Direct HEX: get 0xEDF0 (battery maximum current) on the MPPT, and its answer among
    // the text records: the reply frame starts with the same command and register id.
    let log = sungate_log(
        "sungate::wire=debug",
        &[
            "query".into(),
            "--protocol".into(),
            "vedirect".into(),
            "--port".into(),
            mppt.clone(),
            "0xEDF0".into(),
        ],
    )
    .await;
    let requests = wire_lines(&log, &mppt, "request");
    assert!(
        requests.iter().any(|l| l.contains("text=:7F0ED00")),
        "{log}"
    );
    let replies = wire_lines(&log, &mppt, "reply");
    assert!(
        replies.iter().any(|l| l.contains(":7F0ED00")),
        "no HEX reply in the wire log:\n{log}"
    );
    // Off by default: nothing of the wire without the target enabled.
    let quiet = sungate_log(
        "warn",
        &[
            "query".into(),
            "--port".into(),
            sim.pty_dir.join("inverter").display().to_string(),
            "QMOD".into(),
        ],
    )
    .await;
    assert!(!quiet.contains("sungate::wire"), "{quiet}");
    sim.shutdown().await;
}
