//! HidLink over the in-memory report pipe, on tokio's paused clock.

use std::io;
use std::time::Duration;

use tokio::time::Instant;

use super::memory::{self, to_reports};
use super::*;
use crate::driver::{Driver, DriverError};
use crate::link::{Link, LinkError};
use crate::pi30::codec::{EncodeOptions, encode_command, encode_frame};
use crate::pi30::driver::{Pi30Driver, Pi30Options};
use crate::pi30::queries::Query;

const QPIGS_PAYLOAD: &str = "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010";

fn data(payload: &str) -> Vec<u8> {
    encode_frame(format!("({payload}").as_bytes(), EncodeOptions::default())
}

fn command_name(frame: &[u8]) -> String {
    String::from_utf8_lossy(&frame[..frame.len().saturating_sub(3)]).into_owned()
}

fn driver() -> Pi30Driver {
    Pi30Driver::new(Pi30Options {
        queries: vec![Query::Qpigs, Query::Qmod],
        reply_timeout: Duration::from_millis(300),
        ..Pi30Options::default()
    })
}

fn soon() -> Instant {
    Instant::now() + Duration::from_millis(300)
}

#[tokio::test(start_paused = true)]
async fn a_long_command_is_split_into_zero_padded_reports_with_report_id_0() {
    let (mut link, mut dev) = memory::link();
    let frame = encode_command("PBCV56.4", EncodeOptions::default());
    // PBCV56.4, CRC-16/XMODEM 0xBEBB, CR: 11 bytes -> two reports.
    assert_eq!(frame, b"PBCV56.4\xbe\xbb\r");
    link.write_frame(&frame).await.unwrap();
    assert_eq!(
        dev.take_written(),
        [
            [0x00, b'P', b'B', b'C', b'V', b'5', b'6', b'.', b'4'],
            [0x00, 0xbe, 0xbb, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00],
        ]
    );
    // Exactly 8 bytes: one report, no padding.
    link.write_frame(&encode_command("QPIGS", EncodeOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        dev.take_written(),
        [[0x00, b'Q', b'P', b'I', b'G', b'S', 0xb7, 0xa9, 0x0d]]
    );
}

#[tokio::test(start_paused = true)]
async fn a_reply_over_many_reports_is_reassembled_without_padding() {
    let (mut link, dev) = memory::link();
    let reply = data(QPIGS_PAYLOAD);
    assert_ne!(reply.len() % 8, 0, "the last report carries padding");
    dev.send_reply(&reply);
    let frame = link.read_until(b'\r', 512, soon()).await.unwrap();
    assert_eq!(frame, reply);
}

#[tokio::test(start_paused = true)]
async fn a_report_after_the_reply_is_left_for_the_next_read() {
    let (mut link, dev) = memory::link();
    dev.send_reply(b"(NAKss\r");
    dev.send_reply(b"(ACK9 \r");
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"(NAKss\r"
    );
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"(ACK9 \r"
    );
}

#[tokio::test(start_paused = true)]
async fn bytes_after_the_cr_in_its_report_are_padding_and_dropped() {
    let (mut link, dev) = memory::link();
    dev.send_report(*b"(B\xe7\xc9\rxyz");
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"(B\xe7\xc9\r"
    );
    let err = link.read_until(b'\r', 512, soon()).await.unwrap_err();
    assert!(matches!(err, LinkError::Timeout { received: 0 }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn all_zero_reports_are_skipped_and_zero_crc_bytes_kept() {
    let (mut link, dev) = memory::link();
    dev.send_report([0; 8]);
    // A CRC byte of 0x00 at the end of a full report is data, not padding.
    dev.send_report(*b"(12345\xab\x00");
    dev.send_report(*b"\r\0\0\0\0\0\0\0");
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"(12345\xab\x00\r"
    );
}

#[tokio::test(start_paused = true)]
async fn pi18_answer_in_one_padded_report() {
    let (mut link, dev) = memory::link();
    dev.send_report([0x5e, 0x30, 0x1b, 0xe3, 0x0d, 0x00, 0x00, 0x00]);
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"^0\x1b\xe3\r"
    );

    // Through the driver: a clear protocol mismatch.
    let (mut link, dev) = memory::link();
    let _unit = tokio::spawn(dev.serve(|_| Some((Duration::ZERO, b"^0\x1b\xe3\r".to_vec()))));
    let err = driver().identify(&mut link).await.unwrap_err();
    assert!(matches!(err, DriverError::ProtocolMismatch(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_partial_reply_times_out_and_is_discarded_before_the_next_request() {
    let (mut link, dev) = memory::link();
    let reply = data(QPIGS_PAYLOAD);
    let reports = to_reports(&reply);
    for report in &reports[..3] {
        dev.send_report(*report);
    }
    let t0 = Instant::now();
    let err = link.read_until(b'\r', 512, soon()).await.unwrap_err();
    assert!(matches!(err, LinkError::Timeout { received: 24 }), "{err}");
    assert!(!err.is_fatal());
    assert_eq!(t0.elapsed(), Duration::from_millis(300));

    // The rest of the reply arrives late; discard drops it and the partial reply.
    for report in &reports[3..] {
        dev.send_report(*report);
    }
    let dropped = link.discard_input().await.unwrap();
    assert_eq!(dropped, reports.len() * 8);
    dev.send_reply(b"(ACK9 \r");
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"(ACK9 \r"
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_reply_is_never_decoded_as_the_answer_to_the_next_command() {
    // The unit answers QPIGS 2 s late, after the driver gave up. When the driver then asks QMOD,
    // the old QPIGS reports are waiting in the device: they must be discarded, not decoded.
    let (mut link, dev) = memory::link();
    let unit = tokio::spawn(dev.serve(|frame| match command_name(frame).as_str() {
        "QPIGS" => Some((Duration::from_secs(2), data(QPIGS_PAYLOAD))),
        "QMOD" => Some((Duration::from_millis(50), data("B"))),
        _ => Some((Duration::ZERO, b"(NAKss\r".to_vec())),
    }));
    let d = driver();
    let err = d.query(&mut link, Query::Qpigs).await.unwrap_err();
    assert!(
        matches!(err, DriverError::Link(LinkError::Timeout { received: 0 })),
        "{err}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reading = d.query(&mut link, Query::Qmod).await.unwrap();
    assert_eq!(
        reading.value("device_mode").and_then(|v| v.as_str()),
        Some("Battery")
    );
    // The QPIGS reply is gone for good: a later QPIGS gets its own (late again) answer only.
    drop(link);
    let seen: Vec<String> = unit
        .await
        .unwrap()
        .iter()
        .map(|f| command_name(f))
        .collect();
    assert_eq!(seen, ["QPIGS", "QMOD"]);
}

#[tokio::test(start_paused = true)]
async fn identify_and_poll_over_hid() {
    let (mut link, dev) = memory::link();
    let _unit = tokio::spawn(dev.serve(|frame| {
        let reply = match command_name(frame).as_str() {
            "QPI" => data("PI30"),
            "QID" => data("92932004102453"),
            "QVFW" => data("VERFW:00072.70"),
            "QPIGS" => data(QPIGS_PAYLOAD),
            "QMOD" => data("L"),
            _ => b"(NAKss\r".to_vec(),
        };
        Some((Duration::from_millis(30), reply))
    }));
    let mut d = driver();
    let info = d.identify(&mut link).await.unwrap();
    assert_eq!(info.serial.as_deref(), Some("92932004102453"));
    assert_eq!(info.firmware.as_deref(), Some("00072.70"));
    let flat = d.poll(&mut link).await.unwrap().flatten();
    assert_eq!(
        flat.value("pv_input_power").and_then(|v| v.as_i64()),
        Some(856)
    );
    assert_eq!(
        flat.value("device_mode").and_then(|v| v.as_str()),
        Some("Line")
    );
}

#[tokio::test(start_paused = true)]
async fn enodev_on_read_is_fatal() {
    let (mut link, dev) = memory::link();
    dev.send_error(io::Error::from_raw_os_error(19));
    let err = link.read_until(b'\r', 512, soon()).await.unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
    assert!(err.is_fatal());
}

#[tokio::test(start_paused = true)]
async fn enodev_or_epipe_on_write_is_fatal() {
    let (mut link, dev) = memory::link();
    dev.fail_next_write(io::Error::from_raw_os_error(19));
    let err = link.write_frame(b"QPIGS\xb7\xa9\r").await.unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
    assert!(err.is_fatal());

    // Unplugged: the device end is gone.
    drop(dev);
    let err = link.write_frame(b"QPIGS\xb7\xa9\r").await.unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
    let err = link.discard_input().await.unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn hidapi_disconnect_message_is_fatal() {
    let (mut link, dev) = memory::link();
    dev.send_error(io::Error::other(
        "hidapi error: unexpected poll error (device disconnected)",
    ));
    let err = link.read_chunk(soon()).await.unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_few_eagains_are_retried() {
    let (mut link, dev) = memory::link();
    for _ in 0..5 {
        dev.send_error(io::ErrorKind::WouldBlock.into());
    }
    dev.send_error(io::ErrorKind::Interrupted.into());
    dev.send_reply(b"(ACK9 \r");
    assert_eq!(
        link.read_until(b'\r', 512, soon()).await.unwrap(),
        b"(ACK9 \r"
    );
    dev.fail_next_write(io::ErrorKind::WouldBlock.into());
    link.write_frame(b"QMOD\x49\xc1\r").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_eagain_storm_closes_the_link() {
    let (mut link, dev) = memory::link();
    for _ in 0..1000 {
        dev.send_error(io::ErrorKind::WouldBlock.into());
    }
    let t0 = Instant::now();
    let err = link
        .read_until(b'\r', 512, Instant::now() + Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
    assert!(err.is_fatal());
    assert!(err.to_string().contains("EAGAIN"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(1), "gave up early");

    let (mut link, dev) = memory::link();
    for _ in 0..100 {
        dev.fail_next_write(io::ErrorKind::WouldBlock.into());
    }
    let err = link.write_frame(b"QMOD\x49\xc1\r").await.unwrap_err();
    assert!(matches!(err, LinkError::Closed(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn overflow_without_a_delimiter() {
    let (mut link, dev) = memory::link();
    for _ in 0..70 {
        dev.send_report([b'x'; 8]);
    }
    let err = link.read_until(b'\r', 512, soon()).await.unwrap_err();
    assert!(matches!(err, LinkError::Overflow(520)), "{err}");
    assert!(!err.is_fatal());
}

#[tokio::test(start_paused = true)]
async fn read_chunk_returns_report_payloads_without_padding() {
    let (mut link, dev) = memory::link();
    dev.send_report([0; 8]);
    dev.send_report(*b"(ACK9 \r\0");
    assert_eq!(link.read_chunk(soon()).await.unwrap(), b"(ACK9 \r");
    let err = link.read_chunk(soon()).await.unwrap_err();
    assert!(matches!(err, LinkError::Timeout { received: 0 }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn discard_input_on_an_idle_device_returns_at_once() {
    let (mut link, _dev) = memory::link();
    let t0 = Instant::now();
    assert_eq!(link.discard_input().await.unwrap(), 0);
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

/// Hosts ends of fake inverters answering QID with these serials ("" = no unit: fails to open),
/// opened by hidraw index.
fn units(serials: &[&'static str]) -> Vec<Option<HidLink<memory::ReportPipe>>> {
    serials
        .iter()
        .map(|&serial| {
            if serial.is_empty() {
                return None;
            }
            let (link, dev) = memory::link();
            tokio::spawn(dev.serve(move |frame| match command_name(frame).as_str() {
                "QID" => Some((Duration::from_millis(20), data(serial))),
                _ => Some((Duration::ZERO, b"(NAKss\r".to_vec())),
            }));
            Some(link)
        })
        .collect()
}

fn candidates(n: usize) -> Vec<HidCandidate> {
    (0..n)
        .map(|i| HidCandidate {
            path: format!("/dev/hidraw{i}"),
            serial_number: None,
            product: Some("MEC0003".into()),
        })
        .collect()
}

fn opener(
    mut links: Vec<Option<HidLink<memory::ReportPipe>>>,
) -> impl FnMut(&HidCandidate) -> Result<HidLink<memory::ReportPipe>, LinkError> {
    move |c| {
        let index: usize = c.path["/dev/hidraw".len()..].parse().unwrap();
        links
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(|| LinkError::Closed(format!("cannot open {}", c.path)))
    }
}

#[tokio::test(start_paused = true)]
async fn find_by_serial_picks_the_inverter_with_that_serial() {
    let timeout = Duration::from_millis(200);
    let open = opener(units(&["", "11111111111111", "22222222222222"]));
    let found = find_by_serial(&candidates(3), "22222222222222", open, |link| {
        Box::pin(query_pi30_serial(link, timeout))
    })
    .await
    .unwrap();
    let (candidate, mut link) = found.expect("found");
    assert_eq!(candidate.path, "/dev/hidraw2");
    // The link handed back is open and usable.
    assert_eq!(
        query_pi30_serial(&mut link, timeout).await.as_deref(),
        Some("22222222222222")
    );

    let open = opener(units(&["11111111111111", "22222222222222"]));
    let none = find_by_serial(&candidates(2), "33333333333333", open, |link| {
        Box::pin(query_pi30_serial(link, timeout))
    })
    .await
    .unwrap();
    assert!(none.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_matching_usb_serial_descriptor_needs_no_query() {
    let mut list = candidates(2);
    list[1].serial_number = Some("ABC".into());
    let open = opener(units(&["11111111111111", "22222222222222"]));
    let (candidate, _link) = find_by_serial(&list, "ABC", open, |link| {
        Box::pin(query_pi30_serial(link, Duration::from_millis(100)))
    })
    .await
    .unwrap()
    .expect("found");
    assert_eq!(candidate.path, "/dev/hidraw1");
}

#[test]
fn find_by_serial_is_send() {
    fn assert_send<T: Send>(_: T) {}
    let candidates = Vec::new();
    assert_send(find_by_serial(
        &candidates,
        "1",
        |_| Ok(memory::link().0),
        |link| Box::pin(query_pi30_serial(link, Duration::from_millis(1))),
    ));
}
