//! `driver = "pi18"` through the whole gateway core: config, the registry building the driver,
//! the port task polling it over a TCP "serial bridge", and a setter verified by read-back,
//! against a small scripted PI18 unit made of the golden frames of
//! `tests/fixtures/pi18/frames.tsv` (PI V01, ID V27, VFW V26, GS V08, MOD V15, FWS V17,
//! PIRI V12, MCHGCR V28, MUCHGCR V29), whose PIRI follows the setters it accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sungate::app::Gateway;
use sungate::config::Config;
use sungate::core::bus::Event;
use sungate_drivers::driver::Command as DeviceCommand;
use sungate_drivers::pi18::{self, Reply, Setter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

const FRAMES: &str = include_str!("../../tests/fixtures/pi18/frames.tsv");

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// (request, reply) of vector `id`.
fn vector(id: &str) -> (Vec<u8>, Vec<u8>) {
    FRAMES
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|c| c[0] == id)
        .map(|c| (hex(c[3]), hex(c[4])))
        .unwrap()
}

fn payload(id: &str) -> String {
    match pi18::decode_reply(&vector(id).1, pi18::DecodeOptions::default()).unwrap() {
        Reply::Data(p) => p,
        other => panic!("{id}: {other:?}"),
    }
}

/// The unit's answer to one request; `piri` is its current PIRI payload.
fn answer(request: &[u8], piri: &Mutex<Vec<String>>) -> Vec<u8> {
    if request.starts_with(b"^S") {
        let text = String::from_utf8_lossy(&request[5..request.len() - 3]).into_owned();
        let Ok(setter) = pi18::parse_command(&text) else {
            return pi18::codec::REFUSE.to_vec();
        };
        let mut piri = piri.lock().unwrap();
        match setter {
            Setter::OutputSourcePriority(p) => piri[17] = (p as u8).to_string(),
            Setter::ChargerSourcePriority { priority, .. } => {
                piri[18] = (priority as u8).to_string()
            }
            Setter::MaxChargingCurrent { amps, .. } => piri[15] = format!("{:03}", amps.get()),
            Setter::MaxUtilityChargingCurrent { amps, .. } => {
                piri[14] = format!("{:03}", amps.get())
            }
        }
        return pi18::codec::ACCEPT.to_vec();
    }
    if request == pi18::Query::Piri.request().as_slice() {
        return pi18::encode_reply(&piri.lock().unwrap().join(",")).unwrap();
    }
    ["V01", "V27", "V26", "V08", "V15", "V17", "V28", "V29"]
        .iter()
        .map(|id| vector(id))
        .find(|(req, _)| req == request)
        .map(|(_, reply)| reply)
        .unwrap_or_else(|| pi18::codec::REFUSE.to_vec())
}

/// A PI18 unit on a TCP port (one connection at a time).
async fn fake_unit() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let piri = Arc::new(Mutex::new(
        payload("V12")
            .split(',')
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    ));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let piri = piri.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                while let Ok(1) = sock.read(&mut byte).await {
                    buf.push(byte[0]);
                    if byte[0] != b'\r' {
                        continue;
                    }
                    let request = std::mem::take(&mut buf);
                    let reply = answer(&request, &piri);
                    if sock.write_all(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pi18_device_is_identified_polled_and_set() {
    let addr = fake_unit().await;
    let config = Config::parse(
        &format!(
            "[[port]]\nname = \"inv\"\ntcp = \"{addr}\"\ntimeout = 1.0\n\n[[device]]\n\
             name = \"infini\"\ndriver = \"pi18\"\nport = \"inv\"\npoll_interval = 0.3\n\
             queries = [\"GS\", \"MOD\", \"FWS\", \"PIRI\"]\n"
        ),
        "pi18.toml",
    )
    .unwrap();
    let gw = Gateway::start(&config);
    let mut rx = gw.bus.subscribe();
    let end = Instant::now() + Duration::from_secs(10);
    let mut identified = None;
    let mut reading = None;
    // Snapshots come only after identify succeeded (PI said 18); the Identified event itself may
    // be published before this test subscribed, so it is checked when seen.
    while reading.is_none() {
        match tokio::time::timeout_at(end, rx.recv()).await {
            Ok(Ok(Event::Identified { info, .. })) => identified = Some(info),
            Ok(Ok(Event::Snapshot { reading: r, .. })) => reading = Some(r),
            Ok(Ok(_)) => {}
            other => panic!("no identification and snapshot: {other:?}"),
        }
    }
    if let Some(info) = identified {
        assert_eq!(info.protocol, "PI18");
        assert_eq!(info.serial.as_deref(), Some("96161704100242"));
    }
    let reading = reading.unwrap();
    // GS with PI30's names (V08), MOD, PIRI's settings.
    assert_eq!(
        reading.value("battery_voltage").and_then(|v| v.as_f64()),
        Some(52.6)
    );
    assert_eq!(
        reading.value("pv_input_power").and_then(|v| v.as_i64()),
        Some(1924)
    );
    assert!(reading.value("device_mode").is_some());
    assert_eq!(
        reading
            .get("output_source_priority")
            .and_then(|f| f.raw.as_deref()),
        Some("1")
    );

    // A setter, verified by read-back; one outside the unit's list is refused before sending.
    let outcome = gw
        .execute(
            "infini",
            DeviceCommand::Set {
                name: "output_source_priority".into(),
                value: "solar_first".into(),
            },
        )
        .await
        .unwrap();
    assert!(outcome.verified, "{outcome:?}");
    assert_eq!(outcome.sent, "POP0");
    let outcome = gw
        .execute(
            "infini",
            DeviceCommand::Set {
                name: "max_charging_current".into(),
                value: "60".into(),
            },
        )
        .await
        .unwrap();
    assert!(outcome.verified, "{outcome:?}");
    let err = gw
        .execute(
            "infini",
            DeviceCommand::Set {
                name: "max_charging_current".into(),
                value: "65".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("65"), "{err}");
    gw.shutdown().await;
}
