//! Inverter protocol personalities over real PTYs and the control API: each configured unit
//! answers the identification probes as its family does (`../shared/reference/pi18/README.md`
//! §4.2), the PI18 unit takes a setter and reads it back, and `GET /devices/{name}` names the
//! protocol.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{http, open, start};
use sungate_drivers::link::Link;
use sungate_drivers::pi18::codec::DecodeOptions;
use sungate_drivers::pi18::{Query, decode_frame, parse_command};
use tokio::time::Instant;

const T: Duration = Duration::from_secs(2);

/// One simulated inverter per protocol (the example site in config/).
const FIVE: &str = include_str!("../../config/sim-protocols.toml");

async fn exchange(
    link: &mut sungate_drivers::link::StreamLink<sungate_sim::frontend::pty::FdStream>,
    frame: &[u8],
) -> Vec<u8> {
    link.discard_input().await.unwrap();
    link.write_frame(frame).await.unwrap();
    link.read_until(b'\r', 1024, Instant::now() + T)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_configured_protocol_is_visible_and_answers_its_probes() {
    let sim = start(FIVE, "protocols", 1.0).await;
    let qpi_crc: &[u8] = b"QPI\xbe\xac\r";
    let pi18_probe: &[u8] = b"^P005PI\x71\x8b\r";
    let pi17_probe: &[u8] = b"^P003PI\r";
    let qpi_bare: &[u8] = b"QPI\r";
    let nak: &[u8] = b"(NAK\x73\x73\r";
    let refuse: &[u8] = b"^0\x1b\xe3\r";
    let pi30: &[u8] = b"(PI30\x9a\x0b\r";
    let table: [(&str, [&[u8]; 4]); 5] = [
        ("pi30", [pi30, nak, nak, nak]),
        ("pi30max", [pi30, nak, nak, nak]),
        ("pi18", [refuse, b"^D00518\x3b\x03\r", refuse, refuse]),
        ("pi17", [refuse, refuse, b"^D00517\xca\xec\r", refuse]),
        ("pi16", [b"(PI16\x9c\xaf\r", nak, nak, b"(PI16\x9c\xaf\r"]),
    ];
    for (name, expected) in table {
        let (status, body) = http(&sim, "GET", &format!("/devices/{name}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["protocol"], name, "{body}");
        assert_eq!(body["state"]["config"]["protocol"], name);
        let mut link = open(&sim, name);
        for (probe, want) in [qpi_crc, pi18_probe, pi17_probe, qpi_bare]
            .into_iter()
            .zip(expected)
        {
            let got = exchange(&mut link, probe).await;
            assert_eq!(
                got,
                want,
                "{name} answering {:?}: {:?}",
                String::from_utf8_lossy(probe),
                String::from_utf8_lossy(&got)
            );
        }
    }
    let (_, all) = http(&sim, "GET", "/devices", None).await;
    let names: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["protocol"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["pi30", "pi30max", "pi18", "pi17", "pi16"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pi18_unit_takes_a_setter_and_reads_it_back() {
    let sim = start(FIVE, "protocols-pi18", 1.0).await;
    let mut link = open(&sim, "pi18");
    for &q in Query::ALL {
        let frame = exchange(&mut link, &q.request()).await;
        decode_frame(q.command(), &frame, DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{q}: {e}: {:?}", String::from_utf8_lossy(&frame)));
    }
    let setter = parse_command("MCHGC0,040").unwrap();
    let reply = exchange(&mut link, &setter.request()).await;
    assert_eq!(reply, b"^1\x0b\xc2\r");
    let rb = setter.readback().unwrap();
    let frame = exchange(&mut link, &rb.query.request()).await;
    let piri = decode_frame("PIRI", &frame, DecodeOptions::default()).unwrap();
    assert!(rb.matches(&piri), "{piri:?}");
    let (_, body) = http(&sim, "GET", "/devices/pi18", None).await;
    assert_eq!(body["state"]["settings"]["units"][0]["max_charge_a"], 40);
}
