//! The simulated BMV and MPPT driven through the shared codecs over real PTYs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{http, open, start};
use serde_json::json;
use sungate_drivers::link::{Link, StreamLink};
use sungate_drivers::vedirect::hex::{HexCommand, HexFrame, decode_frame};
use sungate_drivers::vedirect::text::{TextEvent, TextParser, TextStats};
use sungate_sim::frontend::pty::FdStream;
use tokio::time::Instant;

/// Read a VE.Direct PTY for `dur`, returning the parser's events and stats.
async fn listen(link: &mut StreamLink<FdStream>, dur: Duration) -> (Vec<TextEvent>, TextStats) {
    let mut parser = TextParser::new();
    let mut events = Vec::new();
    let end = Instant::now() + dur;
    while Instant::now() < end {
        if let Ok(chunk) = link.read_chunk(end).await {
            parser.feed(&chunk, |e| events.push(e));
        }
    }
    (events, parser.stats())
}

fn hex_frames(events: &[TextEvent]) -> Vec<HexFrame> {
    events
        .iter()
        .filter_map(|e| match e {
            TextEvent::Hex(line) => Some(decode_frame(line).unwrap()),
            _ => None,
        })
        .collect()
}

fn blocks(events: &[TextEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, TextEvent::Block(_)))
        .count()
}

const MODES: &str = r#"
[[device]]
name = "bmv"
kind = "bmv"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "mppt-new"
kind = "mppt"
[device.mppt]
firmware_mode = "new"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "mppt-old"
kind = "mppt"
[device.mppt]
firmware_mode = "old"
[[device.interface]]
name = "serial"
kind = "pty"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_blocks_pass_the_checksum_with_hex_traffic_interleaved_in_both_modes() {
    let sim = start(MODES, "ve-modes", 1.0).await;
    for name in ["bmv", "mppt-new", "mppt-old"] {
        let mut link = open(&sim, name);
        // quiet: only text
        let (events, stats) = listen(&mut link, Duration::from_millis(2600)).await;
        assert!(stats.blocks_ok >= 2, "{name}: {stats:?}");
        assert!(stats.checksum_failures <= 1, "{name}: {stats:?}");
        let first = blocks(&events);

        // HEX pings every 300 ms while listening
        let mut parser = TextParser::new();
        let mut events = Vec::new();
        let end = Instant::now() + Duration::from_millis(3000);
        let mut next_ping = Instant::now();
        while Instant::now() < end {
            if Instant::now() >= next_ping {
                link.write_frame(&HexFrame::ping().encode()).await.unwrap();
                next_ping += Duration::from_millis(300);
            }
            if let Ok(chunk) = link.read_chunk(next_ping.min(end)).await {
                parser.feed(&chunk, |e| events.push(e));
            }
        }
        let stats = parser.stats();
        assert_eq!(stats.checksum_failures, 0, "{name}: {stats:?}");
        let replies = hex_frames(&events)
            .into_iter()
            .filter(|f| f.command == HexCommand::PingReply)
            .count();
        assert!(replies >= 5, "{name}: only {replies} ping replies");
        let during = blocks(&events);
        if name == "mppt-old" {
            // old firmware pauses its text output while HEX traffic goes on
            assert!(
                during <= 1,
                "{name}: {during} text blocks during HEX traffic"
            );
            let (_, after) = listen(&mut link, Duration::from_millis(5000)).await;
            assert!(
                after.blocks_ok >= 1,
                "{name}: text did not resume: {after:?}"
            );
        } else {
            // one record a second goes on: at least 2 complete in 3 s
            assert!(
                during >= 2,
                "{name}: text stopped during HEX traffic ({during}, quiet: {first})"
            );
        }
    }
    sim.shutdown().await;
}

async fn hex_exchange(
    link: &mut StreamLink<FdStream>,
    request: &HexFrame,
    want: HexCommand,
) -> HexFrame {
    link.write_frame(&request.encode()).await.unwrap();
    let end = Instant::now() + Duration::from_secs(3);
    let mut parser = TextParser::new();
    loop {
        let chunk = link.read_chunk(end).await.unwrap();
        let mut found = None;
        parser.feed(&chunk, |e| {
            if let TextEvent::Hex(line) = e {
                let frame = decode_frame(&line).unwrap();
                let same_register = match (frame.as_register(), request.as_register()) {
                    (Some(a), Some(b)) => a.id == b.id,
                    _ => true,
                };
                if frame.command == want && same_register {
                    found = Some(frame);
                }
            }
        });
        if let Some(f) = found {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_sense_values_are_used_then_expire_after_60_simulated_seconds() {
    // 30 simulated seconds per real second
    let sim = start("", "ve-remote", 30.0).await;
    let mut mppt = open(&sim, "mppt");

    // set 0x2003 = 23.50 °C with the little-endian id: exactly vectors H42, echoed back
    let set = HexFrame::set(0x2003, &2350i16.to_le_bytes());
    assert_eq!(set.encode(), b":80320002E09F3\n");
    let echo = hex_exchange(&mut mppt, &set, HexCommand::Set).await;
    assert_eq!(echo.as_register().unwrap().value, 2350i16.to_le_bytes());
    assert!(echo.as_register().unwrap().flags.is_ok());
    let set_v = HexFrame::set(0x2002, &1318u16.to_le_bytes());
    hex_exchange(&mut mppt, &set_v, HexCommand::Set).await;

    let (_, state) = http(&sim, "GET", "/devices/mppt", None).await;
    assert_eq!(
        state["state"]["remote"]["temperature_in_use"], true,
        "{state}"
    );
    assert_eq!(state["state"]["remote"]["temperature_c"], 23.5, "{state}");

    // 60 simulated seconds later (2 s real) both are dropped
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (_, state) = http(&sim, "GET", "/devices/mppt", None).await;
    assert_eq!(
        state["state"]["remote"]["temperature_in_use"], false,
        "{state}"
    );
    assert_eq!(state["state"]["remote"]["voltage_in_use"], false, "{state}");

    // the byte-swapped id (the seed script's mistake, vectors H43) gets "Unknown Id"
    let swapped = HexFrame::set(0x0320, &2350i16.to_le_bytes());
    assert_eq!(swapped.encode(), b":82003002E09F3\n");
    let reply = hex_exchange(&mut mppt, &swapped, HexCommand::Set).await;
    assert!(reply.as_register().unwrap().flags.unknown_id(), "{reply:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmv_answers_hex_gets_with_its_model_values() {
    let sim = start("", "ve-bmv", 1.0).await;
    http(
        &sim,
        "POST",
        "/devices/bmv/env",
        Some(json!({"battery_temperature_c": 31.5})),
    )
    .await;
    let mut bmv = open(&sim, "bmv");
    let reply = hex_exchange(&mut bmv, &HexFrame::get(0xEDEC), HexCommand::Get).await;
    let reg = reply.as_register().unwrap();
    let spec = sungate_drivers::vedirect::registers::lookup(0xEDEC).unwrap();
    let celsius = spec.decode(&reg.value).unwrap().unwrap().as_f64().unwrap();
    assert!((celsius - 31.5).abs() < 0.01, "{celsius}");
    // unknown register -> Unknown Id
    let reply = hex_exchange(&mut bmv, &HexFrame::get(0x7777), HexCommand::Get).await;
    assert!(reply.as_register().unwrap().flags.unknown_id());
    // no temperature sensor -> not available
    http(
        &sim,
        "POST",
        "/devices/bmv/env",
        Some(json!({"battery_temperature_c": null})),
    )
    .await;
    let reply = hex_exchange(&mut bmv, &HexFrame::get(0xEDEC), HexCommand::Get).await;
    assert_eq!(
        spec.decode(&reply.as_register().unwrap().value).unwrap(),
        None
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_faults_appear_and_clear() {
    let sim = start("", "ve-faults", 1.0).await;
    let mut bmv = open(&sim, "bmv");
    http(
        &sim,
        "POST",
        "/devices/bmv/faults",
        Some(json!({"corrupt_checksum": true})),
    )
    .await;
    let (_, stats) = listen(&mut bmv, Duration::from_millis(2500)).await;
    assert_eq!(stats.blocks_ok, 0, "{stats:?}");
    assert!(stats.checksum_failures >= 2, "{stats:?}");
    http(
        &sim,
        "POST",
        "/devices/bmv/faults",
        Some(json!({"corrupt_checksum": false, "garbage_rate": 0.5})),
    )
    .await;
    let (_, stats) = listen(&mut bmv, Duration::from_millis(3000)).await;
    assert!(
        stats.bytes_skipped > 0 || stats.checksum_failures > 0,
        "{stats:?}"
    );
    http(&sim, "DELETE", "/devices/bmv/faults", None).await;
    let _ = listen(&mut bmv, Duration::from_millis(300)).await;
    let (_, stats) = listen(&mut bmv, Duration::from_millis(2500)).await;
    assert!(stats.blocks_ok >= 2, "{stats:?}");
    assert!(stats.checksum_failures <= 1, "{stats:?}");
    // silence
    http(
        &sim,
        "POST",
        "/devices/bmv/faults",
        Some(json!({"silent": true})),
    )
    .await;
    let _ = listen(&mut bmv, Duration::from_millis(300)).await;
    let (events, _) = listen(&mut bmv, Duration::from_millis(2000)).await;
    assert!(events.is_empty(), "{events:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_bytes_and_night_silence() {
    let sim = start("", "ve-night", 1.0).await;
    let mut mppt = open(&sim, "mppt");
    // dropped bytes: blocks fail their checksum, nothing wrong is committed
    http(
        &sim,
        "POST",
        "/devices/mppt/faults",
        Some(json!({"drop_rate": 0.05})),
    )
    .await;
    let _ = listen(&mut mppt, Duration::from_millis(300)).await;
    let (_, stats) = listen(&mut mppt, Duration::from_millis(3000)).await;
    assert!(
        stats.checksum_failures + stats.bytes_skipped > 0,
        "{stats:?}"
    );
    // night-time silence of old MPPTs: no PV, no output at all
    http(&sim, "DELETE", "/devices/mppt/faults", None).await;
    http(
        &sim,
        "POST",
        "/devices/mppt/env",
        Some(json!({"pv_power_w": 0})),
    )
    .await;
    http(
        &sim,
        "POST",
        "/devices/mppt/faults",
        Some(json!({"night_silence": true})),
    )
    .await;
    let _ = listen(&mut mppt, Duration::from_millis(1500)).await;
    let (events, _) = listen(&mut mppt, Duration::from_millis(2500)).await;
    assert!(events.is_empty(), "talked at night: {events:?}");
    // sunrise: it talks again
    http(
        &sim,
        "POST",
        "/devices/mppt/env",
        Some(json!({"pv_power_w": 300})),
    )
    .await;
    let _ = listen(&mut mppt, Duration::from_millis(1200)).await;
    let (_, stats) = listen(&mut mppt, Duration::from_millis(2500)).await;
    assert!(stats.blocks_ok >= 1, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_interface_behaves_like_a_serial_bridge() {
    let sim = start(
        r#"
[[device]]
name = "mppt"
kind = "mppt"
[[device.interface]]
name = "tcp"
kind = "tcp"
listen = "127.0.0.1:0"
"#,
        "ve-tcp",
        1.0,
    )
    .await;
    let (_, state) = http(&sim, "GET", "/devices/mppt", None).await;
    let addr = state["interfaces"][0]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut link = StreamLink::new(stream);
    let mut parser = TextParser::new();
    let end = Instant::now() + Duration::from_millis(2500);
    while let Ok(chunk) = link.read_chunk(end).await {
        parser.feed(&chunk, |_| {});
    }
    assert!(parser.stats().blocks_ok >= 2, "{:?}", parser.stats());
    assert_eq!(parser.stats().checksum_failures, 0);
    // a HEX exchange works over TCP too
    link.write_frame(&HexFrame::ping().encode()).await.unwrap();
    let mut found = false;
    let end = Instant::now() + Duration::from_secs(2);
    let mut parser = TextParser::new();
    while let Ok(chunk) = link.read_chunk(end).await {
        parser.feed(&chunk, |e| {
            if let TextEvent::Hex(line) = e {
                found |= decode_frame(&line).unwrap().command == HexCommand::PingReply;
            }
        });
        if found {
            break;
        }
    }
    assert!(found, "no ping reply over TCP");
    sim.shutdown().await;
}
