//! The simulated PI30 inverter driven through the shared codecs over real PTYs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{http, open, pi30_raw, start};
use serde_json::json;
use sungate_drivers::pi30::codec::{DecodeOptions, Reply, decode_reply};
use sungate_drivers::pi30::fields::{Variant, decode_frame};

const T: Duration = Duration::from_secs(2);

const TWO_INVERTERS: &str = r#"
[[device]]
name = "inverter"
kind = "inverter"
[[device.interface]]
name = "serial"
kind = "pty"
[[device.interface]]
name = "usb"
kind = "pty"

[[device]]
name = "max"
kind = "inverter"
[device.inverter]
variant = "max"
rated_va = 11000
rated_w = 11000
parallel_units = 2
[[device.interface]]
name = "serial"
kind = "pty"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_is_answered_with_a_valid_crc_and_decodes() {
    let sim = start(TWO_INVERTERS, "queries", 1.0).await;
    for (link_name, variant, queries) in [
        (
            "inverter",
            Variant::Pi30,
            &[
                "QPI", "QID", "QSID", "QVFW", "QVFW2", "QMN", "QGMN", "QPIRI", "QFLAG", "QPIGS",
                "QMOD", "QPIWS", "QDI", "QMCHGCR", "QMUCHGCR", "QPGS0", "QBOOT", "QOPM",
            ][..],
        ),
        (
            "max",
            Variant::Pi30Max,
            &[
                "QPI", "QPIGS", "QPIGS2", "QPIRI", "QPGS0", "QPGS1", "QMOD", "QPIWS",
            ][..],
        ),
    ] {
        let mut link = open(&sim, link_name);
        for q in queries {
            let frame = pi30_raw(&mut link, q, T).await.unwrap();
            let reading = decode_frame(q, &frame, variant, DecodeOptions::default())
                .unwrap_or_else(|e| panic!("{link_name} {q}: {e}: {frame:02x?}"));
            assert!(!reading.is_empty(), "{link_name} {q}");
        }
        // an unknown command is refused
        let frame = pi30_raw(&mut link, "QXYZ", T).await.unwrap();
        assert_eq!(
            decode_reply(&frame, DecodeOptions::default()),
            Ok(Reply::Nak)
        );
    }
    // the 11 kW MAX unit reports a 5-digit rated power and parallel totals that add up
    let mut link = open(&sim, "max");
    let rated = decode_frame(
        "QPIRI",
        &pi30_raw(&mut link, "QPIRI", T).await.unwrap(),
        Variant::Pi30Max,
        DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(
        rated
            .value("ac_output_apparent_power")
            .and_then(|v| v.as_i64()),
        Some(11000)
    );
    let u0 = decode_frame(
        "QPGS0",
        &pi30_raw(&mut link, "QPGS0", T).await.unwrap(),
        Variant::Pi30Max,
        DecodeOptions::default(),
    )
    .unwrap();
    let u1 = decode_frame(
        "QPGS1",
        &pi30_raw(&mut link, "QPGS1", T).await.unwrap(),
        Variant::Pi30Max,
        DecodeOptions::default(),
    )
    .unwrap();
    let p = |r: &sungate_drivers::Reading, f: &str| {
        r.value(f)
            .and_then(|v| v.as_i64())
            .unwrap_or_else(|| panic!("{f}: {r:?}"))
    };
    assert_ne!(u0.value("serial_number"), u1.value("serial_number"));
    let total = p(&u0, "total_output_active_power");
    let own = p(&u0, "ac_output_active_power") + p(&u1, "ac_output_active_power");
    assert!((total - own).abs() <= 2, "total {total} vs sum {own}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setters_change_later_replies_and_bad_values_change_nothing() {
    let sim = start("", "setters", 1.0).await;
    let mut link = open(&sim, "inverter");
    let qpiri = |frame: Vec<u8>| {
        decode_frame("QPIRI", &frame, Variant::Pi30, DecodeOptions::default()).unwrap()
    };
    let before = qpiri(pi30_raw(&mut link, "QPIRI", T).await.unwrap());
    assert_eq!(
        decode_reply(
            &pi30_raw(&mut link, "POP02", T).await.unwrap(),
            DecodeOptions::default()
        ),
        Ok(Reply::Ack)
    );
    let after = qpiri(pi30_raw(&mut link, "QPIRI", T).await.unwrap());
    assert_eq!(
        after.get("output_source_priority").unwrap().raw.as_deref(),
        Some("2")
    );
    // an out-of-range bulk voltage is refused and changes nothing
    assert_eq!(
        decode_reply(
            &pi30_raw(&mut link, "PBCV70.0", T).await.unwrap(),
            DecodeOptions::default()
        ),
        Ok(Reply::Nak)
    );
    let again = qpiri(pi30_raw(&mut link, "QPIRI", T).await.unwrap());
    assert_eq!(
        again.value("battery_bulk_charge_voltage"),
        before.value("battery_bulk_charge_voltage")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_interfaces_used_at_once_lock_the_unit_until_reset() {
    let sim = start(TWO_INVERTERS, "lockup", 1.0).await;
    // strictly alternating use of both interfaces (what a lock group does) never locks up
    let mut serial = open(&sim, "inverter");
    let mut usb = open(&sim, "inverter-usb");
    for _ in 0..5 {
        pi30_raw(&mut serial, "QPIGS", T).await.unwrap();
        pi30_raw(&mut usb, "QPIGS", T).await.unwrap();
    }
    assert_eq!(
        http(&sim, "GET", "/devices/inverter", None).await.1["locked"],
        false
    );

    // two clients polling at once, one per interface: the unit locks up
    let hammer = |mut link: sungate_drivers::link::StreamLink<_>| {
        tokio::spawn(async move {
            for _ in 0..40 {
                if pi30_raw(&mut link, "QPIGS", Duration::from_millis(300))
                    .await
                    .is_err()
                {
                    return true;
                }
            }
            false
        })
    };
    let a = hammer(serial);
    let b = hammer(usb);
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a || b, "concurrent use never went unanswered");
    let (_, state) = http(&sim, "GET", "/devices/inverter", None).await;
    assert_eq!(state["locked"], true, "{state}");
    let mut serial = open(&sim, "inverter");
    assert!(
        pi30_raw(&mut serial, "QPI", Duration::from_millis(500))
            .await
            .is_err(),
        "a locked unit answered"
    );

    // reset through the control API clears it
    let (status, _) = http(&sim, "POST", "/devices/inverter/reset", None).await;
    assert_eq!(status, 200);
    let frame = pi30_raw(&mut serial, "QPI", T).await.unwrap();
    assert_eq!(
        decode_reply(&frame, DecodeOptions::default()),
        Ok(Reply::Data("PI30".into()))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_appear_as_configured_and_clear_again() {
    let sim = start("", "faults", 1.0).await;
    let mut link = open(&sim, "inverter");
    let decode = |f: &[u8]| decode_reply(f, DecodeOptions::default());

    http(
        &sim,
        "POST",
        "/devices/inverter/faults",
        Some(json!({"corrupt_checksum": true})),
    )
    .await;
    let err = decode(&pi30_raw(&mut link, "QPIGS", T).await.unwrap()).unwrap_err();
    assert!(err.to_string().contains("CRC"), "{err}");

    http(
        &sim,
        "POST",
        "/devices/inverter/faults",
        Some(json!({"corrupt_checksum": false, "nak": true})),
    )
    .await;
    assert_eq!(
        decode(&pi30_raw(&mut link, "QPIGS", T).await.unwrap()),
        Ok(Reply::Nak)
    );

    http(
        &sim,
        "POST",
        "/devices/inverter/faults",
        Some(json!({"nak": false, "pi18": true})),
    )
    .await;
    assert!(matches!(
        decode(&pi30_raw(&mut link, "QPIGS", T).await.unwrap()),
        Ok(Reply::ProtocolMismatch(_))
    ));

    http(
        &sim,
        "POST",
        "/devices/inverter/faults",
        Some(json!({"pi18": false, "silent": true})),
    )
    .await;
    assert!(
        pi30_raw(&mut link, "QPIGS", Duration::from_millis(400))
            .await
            .is_err()
    );

    http(
        &sim,
        "POST",
        "/devices/inverter/faults",
        Some(json!({"silent": false, "slow_ms": 600})),
    )
    .await;
    assert!(
        pi30_raw(&mut link, "QPI", Duration::from_millis(300))
            .await
            .is_err(),
        "slow reply came early"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // a bad fault value is refused and changes nothing
    let (status, body) = http(
        &sim,
        "POST",
        "/devices/inverter/faults",
        Some(json!({"drop_rate": 3.0})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let (status, state) = http(&sim, "DELETE", "/devices/inverter/faults", None).await;
    assert_eq!(status, 200);
    assert_eq!(state["faults"]["slow_ms"], 0);
    assert_eq!(
        decode(&pi30_raw(&mut link, "QPI", T).await.unwrap()),
        Ok(Reply::Data("PI30".into()))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_removes_the_port_and_reconnect_brings_a_new_one() {
    let sim = start("", "replug", 1.0).await;
    let path = sim.pty_dir.join("inverter");
    let mut link = open(&sim, "inverter");
    pi30_raw(&mut link, "QPI", T).await.unwrap();
    let (status, _) = http(&sim, "POST", "/devices/inverter/disconnect", None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!path.exists(), "the symlink is still there");
    assert!(
        pi30_raw(&mut link, "QPI", Duration::from_millis(300))
            .await
            .is_err()
    );
    http(&sim, "POST", "/devices/inverter/reconnect", None).await;
    common::wait_for_path(&path).await;
    let mut link = open(&sim, "inverter");
    let frame = pi30_raw(&mut link, "QPI", T).await.unwrap();
    assert_eq!(
        decode_reply(&frame, DecodeOptions::default()),
        Ok(Reply::Data("PI30".into()))
    );
    // unknown devices and interfaces are clear errors
    assert_eq!(
        http(&sim, "POST", "/devices/toaster/reset", None).await.0,
        404
    );
    assert_eq!(
        http(
            &sim,
            "POST",
            "/devices/inverter/disconnect?interface=nope",
            None
        )
        .await
        .0,
        400
    );
    sim.shutdown().await;
}
