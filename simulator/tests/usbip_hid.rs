//! The simulated inverter exported over USB/IP, driven by a minimal USB/IP client speaking to
//! it over TCP on 127.0.0.1 the way Linux vhci-hcd and usbhid would (no kernel USB needed): the
//! device list, the import, the enumeration and usbhid probe requests, PI30 commands as
//! SET_REPORT control transfers, replies as interrupt IN reports, unlinks, unplugging, and the
//! lockup when a second interface is used at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use common::{open, pi30_raw, start};
use sungate_drivers::pi30::codec::{
    DecodeOptions, EncodeOptions, Reply, decode_reply, encode_command,
};
use sungate_drivers::pi30::fields::{Variant, decode_frame};
use sungate_sim::device::Device;
use sungate_sim::frontend::usbip::serve_usbip;
use sungate_sim::sim::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(3);
const BUSID: &str = "1-1";

/// An inverter with a serial PTY and a second interface "usb" that the test exports over
/// USB/IP (the config has no usbip kind yet, so the test spawns the server itself; the "usb"
/// PTY that the config creates stays unused).
const INVERTER: &str = r#"
[[device]]
name = "inverter"
kind = "inverter"
[[device.interface]]
name = "serial"
kind = "pty"
[[device.interface]]
name = "usb"
kind = "pty"
"#;

struct Harness {
    sim: Simulator,
    device: Device,
    usb: usize,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

async fn harness(tag: &str) -> Harness {
    let sim = start(INVERTER, tag, 1.0).await;
    let device = sim.device("inverter").unwrap().clone();
    let usb = device.interface_index("usb").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_usbip(device.clone(), usb, listener, BUSID.into()));
    Harness {
        sim,
        device,
        usb,
        addr,
        server,
    }
}

impl Harness {
    async fn stop(self) {
        self.server.abort();
        self.sim.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal USB/IP client

fn op(code: u16) -> Vec<u8> {
    let mut m = 0x0111u16.to_be_bytes().to_vec();
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// OP_REQ_DEVLIST: the whole answer (the server closes the connection after it).
async fn devlist(addr: SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&op(0x8005)).await.unwrap();
    let mut reply = Vec::new();
    timeout(T, s.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    reply
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ret {
    command: u32,
    seqnum: u32,
    status: i32,
    actual_length: u32,
    data: Vec<u8>,
}

struct Client {
    stream: TcpStream,
    next_seq: u32,
    devid: u32,
    /// Direction of every submitted URB (a RET_SUBMIT carries data only for IN).
    dir_in: HashMap<u32, bool>,
    /// Answers read while waiting for another one.
    stash: VecDeque<Ret>,
}

/// OP_REQ_IMPORT: the client in URB mode and the 312-byte device record, or the error status.
async fn import(addr: SocketAddr, busid: &str) -> Result<(Client, Vec<u8>), u32> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = op(0x8003);
    let mut id = busid.as_bytes().to_vec();
    id.resize(32, 0);
    req.extend_from_slice(&id);
    s.write_all(&req).await.unwrap();
    let mut header = [0u8; 8];
    timeout(T, s.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(be16(&header, 0), 0x0111);
    assert_eq!(be16(&header, 2), 0x0003);
    let status = be32(&header, 4);
    if status != 0 {
        return Err(status);
    }
    let mut record = vec![0u8; 312];
    timeout(T, s.read_exact(&mut record))
        .await
        .unwrap()
        .unwrap();
    let devid = (be32(&record, 288) << 16) | be32(&record, 292);
    Ok((
        Client {
            stream: s,
            next_seq: 1,
            devid,
            dir_in: HashMap::new(),
            stash: VecDeque::new(),
        },
        record,
    ))
}

fn setup(request_type: u8, request: u8, value: u16, index: u16, length: u16) -> [u8; 8] {
    let mut s = [request_type, request, 0, 0, 0, 0, 0, 0];
    s[2..4].copy_from_slice(&value.to_le_bytes());
    s[4..6].copy_from_slice(&index.to_le_bytes());
    s[6..8].copy_from_slice(&length.to_le_bytes());
    s
}

impl Client {
    /// USBIP_CMD_SUBMIT; returns its seqnum.
    async fn submit(&mut self, dir_in: bool, ep: u32, len: u32, setup: [u8; 8], out: &[u8]) -> u32 {
        let seqnum = self.next_seq;
        self.next_seq += 1;
        let mut m = Vec::new();
        for v in [1, seqnum, self.devid, dir_in as u32, ep, 0, len, 0, 0, 0] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend_from_slice(&setup);
        m.extend_from_slice(out);
        self.dir_in.insert(seqnum, dir_in);
        self.stream.write_all(&m).await.unwrap();
        seqnum
    }

    async fn unlink(&mut self, victim: u32) -> u32 {
        let seqnum = self.next_seq;
        self.next_seq += 1;
        let mut m = Vec::new();
        for v in [2, seqnum, self.devid, 0, 0, victim] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend_from_slice(&[0; 24]);
        self.stream.write_all(&m).await.unwrap();
        seqnum
    }

    /// Read one RET_SUBMIT or RET_UNLINK.
    async fn read_ret(&mut self) -> std::io::Result<Ret> {
        let mut h = [0u8; 48];
        self.stream.read_exact(&mut h).await?;
        let command = be32(&h, 0);
        let seqnum = be32(&h, 4);
        assert_eq!(&h[8..20], &[0; 12], "devid, direction, ep are 0 in replies");
        let status = be32(&h, 20) as i32;
        let actual_length = if command == 3 { be32(&h, 24) } else { 0 };
        let mut data = vec![];
        if command == 3 && self.dir_in.get(&seqnum) == Some(&true) {
            data = vec![0u8; actual_length as usize];
            self.stream.read_exact(&mut data).await?;
        }
        Ok(Ret {
            command,
            seqnum,
            status,
            actual_length,
            data,
        })
    }

    /// The answer to `seqnum`, or None after `wait`; other answers are kept for later.
    async fn wait_for(&mut self, seqnum: u32, wait: Duration) -> Option<Ret> {
        if let Some(i) = self.stash.iter().position(|r| r.seqnum == seqnum) {
            return self.stash.remove(i);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // read_ret is not cancel-safe, so a timeout here ends the connection's usefulness:
            // only time out where the test expects no answer and stops reading afterwards, or
            // where the server is known to send nothing (a held URB).
            match tokio::time::timeout_at(deadline, self.read_ret()).await {
                Ok(Ok(r)) if r.seqnum == seqnum => return Some(r),
                Ok(Ok(r)) => self.stash.push_back(r),
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    async fn control_in(&mut self, setup: [u8; 8]) -> Ret {
        let len = u16::from_le_bytes([setup[6], setup[7]]) as u32;
        let s = self.submit(true, 0, len, setup, &[]).await;
        let r = self.wait_for(s, T).await.expect("control IN answered");
        assert_eq!(r.command, 3);
        r
    }

    async fn control_out(&mut self, setup: [u8; 8], data: &[u8]) -> Ret {
        let s = self.submit(false, 0, data.len() as u32, setup, data).await;
        let r = self.wait_for(s, T).await.expect("control OUT answered");
        assert_eq!(r.command, 3);
        r
    }

    async fn get_descriptor(&mut self, kind: u8, index: u8, len: u16) -> Vec<u8> {
        let r = self
            .control_in(setup(0x80, 0x06, u16::from_le_bytes([index, kind]), 0, len))
            .await;
        assert_eq!(r.status, 0, "GET_DESCRIPTOR {kind:#x}/{index}");
        r.data
    }

    /// SET_REPORT(output, id 0) with one zero-padded 8-byte report, as hidraw sends for a
    /// 9-byte write starting with report id 0.
    async fn set_report(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= 8);
        let mut report = [0u8; 8];
        report[..bytes.len()].copy_from_slice(bytes);
        let r = self
            .control_out(setup(0x21, 0x09, 0x0200, 0, 8), &report)
            .await;
        assert_eq!((r.status, r.actual_length), (0, 8));
    }

    /// Send a PI30 command in 8-byte SET_REPORTs.
    async fn send_command(&mut self, command: &str) {
        for chunk in encode_command(command, EncodeOptions::default()).chunks(8) {
            self.set_report(chunk).await;
        }
    }

    /// Keep one interrupt IN URB pending, as usbhid does, until the reports hold a `\r`; returns
    /// the reassembled reply with the zero padding after the `\r` stripped.
    async fn read_reply(&mut self) -> Vec<u8> {
        let mut reply = Vec::new();
        loop {
            let s = self.submit(true, 1, 8, [0; 8], &[]).await;
            let r = self.wait_for(s, T).await.expect("an interrupt IN report");
            assert_eq!((r.status, r.actual_length), (0, 8), "{r:?}");
            reply.extend_from_slice(&r.data);
            if let Some(end) = reply.iter().position(|&b| b == b'\r') {
                assert!(reply[end + 1..].iter().all(|&b| b == 0), "{reply:02x?}");
                reply.truncate(end + 1);
                return reply;
            }
        }
    }

    async fn query(&mut self, command: &str) -> Vec<u8> {
        self.send_command(command).await;
        self.read_reply().await
    }
}

/// What Linux does between the import and a usable /dev/hidraw0: usbcore enumeration (device
/// descriptor, configuration, strings, SET_CONFIGURATION), then usbhid's probe (SET_IDLE, the
/// report descriptor through an interface-directed GET_DESCRIPTOR).
async fn enumerate(c: &mut Client) {
    let d = c.get_descriptor(0x01, 0, 64).await;
    assert_eq!(d.len(), 18);
    let head = c.get_descriptor(0x02, 0, 9).await;
    let total = le16(&head, 2);
    assert_eq!(c.get_descriptor(0x02, 0, total).await.len(), total as usize);
    c.get_descriptor(0x03, 0, 255).await;
    assert_eq!(
        c.control_out(setup(0x00, 0x09, 1, 0, 0), &[]).await.status,
        0
    );
    assert_eq!(
        c.control_out(setup(0x21, 0x0A, 0, 0, 0), &[]).await.status,
        0
    );
    let r = c.control_in(setup(0x81, 0x06, 0x2200, 0, 27)).await;
    assert_eq!(r.status, 0);
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_list_shows_the_hid_bridge() {
    let h = harness("usbip-devlist").await;
    let list = devlist(h.addr).await;
    assert_eq!(be16(&list, 0), 0x0111);
    assert_eq!(be16(&list, 2), 0x0005);
    assert_eq!(be32(&list, 4), 0, "status");
    assert_eq!(be32(&list, 8), 1, "one device");
    let dev = &list[12..];
    assert_eq!(dev.len(), 312 + 4, "one device record and one interface");
    let path = String::from_utf8_lossy(&dev[..256]);
    assert!(path.trim_end_matches('\0').ends_with("/1-1"), "{path}");
    assert_eq!(&dev[256..259], b"1-1");
    assert!(dev[259..288].iter().all(|&b| b == 0));
    assert_eq!(be32(dev, 288), 1, "busnum");
    assert_eq!(be32(dev, 296), 2, "full speed");
    assert_eq!((be16(dev, 300), be16(dev, 302)), (0x0665, 0x5161));
    // class defined per interface, configuration 1 of 1, one interface
    assert_eq!(&dev[306..312], &[0, 0, 0, 1, 1, 1]);
    // the interface: HID, no subclass (not a boot device), no protocol
    assert_eq!(&dev[312..316], &[3, 0, 0, 0]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_descriptors_are_well_formed() {
    let h = harness("usbip-descriptors").await;
    assert_eq!(
        import(h.addr, "9-9").await.err(),
        Some(1),
        "unknown bus id refused"
    );
    let (mut c, record) = import(h.addr, BUSID).await.unwrap();
    assert_eq!((be16(&record, 300), be16(&record, 302)), (0x0665, 0x5161));
    assert_eq!(c.devid, (1 << 16) | 2);

    // device descriptor: the first 8 bytes (what a host asks first) then all of it
    let short = c.get_descriptor(0x01, 0, 8).await;
    assert_eq!(short.len(), 8);
    assert_eq!(short[7], 8, "bMaxPacketSize0");
    let d = c.get_descriptor(0x01, 0, 64).await;
    assert_eq!((d[0], d[1], d.len()), (18, 0x01, 18));
    assert_eq!(le16(&d, 2), 0x0110, "USB 1.1: no BOS descriptor");
    assert_eq!((le16(&d, 8), le16(&d, 10)), (0x0665, 0x5161));
    assert_eq!(d[17], 1, "one configuration");

    // configuration: walk it descriptor by descriptor
    let head = c.get_descriptor(0x02, 0, 9).await;
    assert_eq!((head[0], head[1]), (9, 0x02));
    let total = le16(&head, 2) as usize;
    let cfg = c.get_descriptor(0x02, 0, 255).await;
    assert_eq!(cfg.len(), total);
    assert_eq!(
        (cfg[4], cfg[5]),
        (1, 1),
        "one interface, configuration value 1"
    );
    let mut at = 0;
    let mut report_len = 0;
    let mut endpoints = Vec::new();
    while at < cfg.len() {
        let (len, kind) = (cfg[at] as usize, cfg[at + 1]);
        assert!(len >= 2 && at + len <= cfg.len(), "descriptor at {at}");
        let body = &cfg[at..at + len];
        match kind {
            0x04 => assert_eq!(
                &body[2..8],
                &[0, 0, 1, 3, 0, 0],
                "interface 0: HID, 1 endpoint"
            ),
            0x21 => {
                assert_eq!(body[5], 1);
                assert_eq!(body[6], 0x22);
                report_len = le16(body, 7);
            }
            0x05 => endpoints.push((body[2], body[3] & 3, le16(body, 4), body[6])),
            0x02 => {}
            other => panic!("unexpected descriptor {other:#x}"),
        }
        at += len;
    }
    assert_eq!(at, total);
    // only interrupt IN 0x81, 8 bytes; no OUT endpoint
    assert_eq!(endpoints.len(), 1);
    let (address, kind, size, interval) = endpoints[0];
    assert_eq!((address, kind, size), (0x81, 3, 8));
    assert!((1..=255).contains(&interval));

    // strings: the language list, then manufacturer and product in UTF-16LE
    let langs = c.get_descriptor(0x03, 0, 255).await;
    assert_eq!(langs, [4, 3, 0x09, 0x04]);
    for index in [d[14], d[15]] {
        let s = c.get_descriptor(0x03, index, 255).await;
        assert_eq!((s[0] as usize, s[1]), (s.len(), 3));
        assert!(s.len() > 2 && s.len() % 2 == 0);
    }

    // the HID descriptor and the report descriptor, asked of the interface
    let hid = c.control_in(setup(0x81, 0x06, 0x2100, 0, 9)).await;
    assert_eq!(
        (hid.status, hid.data[1], le16(&hid.data, 7)),
        (0, 0x21, report_len)
    );
    let r = c.control_in(setup(0x81, 0x06, 0x2200, 0, report_len)).await;
    assert_eq!(r.status, 0);
    assert_eq!(r.data.len(), report_len as usize);
    let (input, output, ids) = report_sizes(&r.data);
    assert_eq!((input, output), (8, 8), "8-byte input and output reports");
    assert!(!ids, "no report ids");

    // the requests usbcore and usbhid send: all accepted
    for (s, what) in [
        (setup(0x00, 0x09, 1, 0, 0), "SET_CONFIGURATION"),
        (setup(0x01, 0x0B, 0, 0, 0), "SET_INTERFACE"),
        (setup(0x21, 0x0A, 0, 0, 0), "SET_IDLE"),
        (
            setup(0x02, 0x01, 0, 0x81, 0),
            "CLEAR_FEATURE(ENDPOINT_HALT)",
        ),
    ] {
        assert_eq!(c.control_out(s, &[]).await.status, 0, "{what}");
    }
    let conf = c.control_in(setup(0x80, 0x08, 0, 0, 1)).await;
    assert_eq!(conf.data, [1]);
    let status = c.control_in(setup(0x80, 0x00, 0, 0, 2)).await;
    assert_eq!(status.data, [0, 0]);
    // GET_REPORT(input) with nothing queued: 8 zero bytes, at once
    let rep = c.control_in(setup(0xA1, 0x01, 0x0100, 0, 8)).await;
    assert_eq!((rep.status, rep.data), (0, vec![0; 8]));
    // what a USB 1.1 device does not have is stalled (-EPIPE)
    let q = c.control_in(setup(0x80, 0x06, 0x0600, 0, 10)).await;
    assert_eq!((q.status, q.actual_length), (-32, 0), "device qualifier");
    let f = c.control_in(setup(0xA1, 0x01, 0x0300, 0, 8)).await;
    assert_eq!(f.status, -32, "no feature report");
    // an interrupt OUT transfer has no endpoint
    let s = c.submit(false, 1, 8, [0; 8], &[0; 8]).await;
    assert_eq!(c.wait_for(s, T).await.unwrap().status, -32);
    h.stop().await;
}

/// Total bits of input and output main items in a report descriptor (short items only), in
/// bytes, and whether it declares report ids.
fn report_sizes(desc: &[u8]) -> (u32, u32, bool) {
    let (mut size, mut count, mut input, mut output, mut ids) = (0u32, 0u32, 0, 0, false);
    let mut at = 0;
    while at < desc.len() {
        let prefix = desc[at];
        let len = match prefix & 3 {
            3 => 4,
            n => n as usize,
        };
        let mut value = 0u32;
        for (i, b) in desc[at + 1..at + 1 + len].iter().enumerate() {
            value |= (*b as u32) << (8 * i);
        }
        match prefix & 0xFC {
            0x74 => size = value,
            0x94 => count = value,
            0x84 => ids = true,
            0x80 => input += size * count,
            0x90 => output += size * count,
            _ => {}
        }
        at += 1 + len;
    }
    assert_eq!(at, desc.len(), "items end with the descriptor");
    (input / 8, output / 8, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qpi_goes_out_as_set_report_and_comes_back_as_input_reports() {
    let h = harness("usbip-qpi").await;
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;

    // hidraw opened: usbhid submits its interrupt URB. With nothing queued it is held, not
    // answered empty.
    let held = c.submit(true, 1, 8, [0; 8], &[]).await;
    // a control transfer still goes through while the URB is held
    let r = c.control_in(setup(0x80, 0x06, 0x0100, 0, 18)).await;
    assert_eq!(r.data.len(), 18);
    assert!(
        c.stash.is_empty(),
        "the held URB was answered: {:?}",
        c.stash
    );

    // QPI<crc>\r is 6 bytes: one zero-padded report
    let qpi = encode_command("QPI", EncodeOptions::default());
    assert_eq!(qpi.len(), 6);
    c.set_report(&qpi).await;
    let first = c.wait_for(held, T).await.expect("the held URB completes");
    assert_eq!((first.status, first.actual_length), (0, 8));
    let mut reply = first.data;
    while !reply.contains(&b'\r') {
        let s = c.submit(true, 1, 8, [0; 8], &[]).await;
        reply.extend(c.wait_for(s, T).await.unwrap().data);
    }
    let end = reply.iter().position(|&b| b == b'\r').unwrap();
    assert!(reply[end + 1..].iter().all(|&b| b == 0), "zero padding");
    reply.truncate(end + 1);
    assert_eq!(reply, b"(PI30\x9a\x0b\r");
    assert_eq!(
        decode_reply(&reply, DecodeOptions::default()),
        Ok(Reply::Data("PI30".into()))
    );

    // mpp-solar writes the command itself to hidraw (no report id byte), which usbhid sends as
    // SET_REPORT with wValue 0x0251 ('Q' taken as the report id) and the bytes unchanged
    let mut report = [0u8; 8];
    report[..6].copy_from_slice(&qpi);
    let r = c
        .control_out(setup(0x21, 0x09, 0x0251, 0, 8), &report)
        .await;
    assert_eq!(r.status, 0);
    assert_eq!(c.read_reply().await, b"(PI30\x9a\x0b\r");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reply_spans_many_reports_and_decodes() {
    let h = harness("usbip-qpigs").await;
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;
    for _ in 0..3 {
        let frame = c.query("QPIGS").await;
        assert!(frame.len() > 100, "{} bytes", frame.len());
        let reading = decode_frame("QPIGS", &frame, Variant::Pi30, DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{e}: {frame:02x?}"));
        assert!(reading.value("battery_voltage").is_some(), "{reading:?}");
    }
    let frame = c.query("QPIRI").await;
    decode_frame("QPIRI", &frame, Variant::Pi30, DecodeOptions::default()).unwrap();
    assert!(!h.device.lock().locked);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_split_over_two_reports_is_reassembled() {
    let h = harness("usbip-split").await;
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;
    let recharge = |frame: Vec<u8>| {
        decode_frame("QPIRI", &frame, Variant::Pi30, DecodeOptions::default())
            .unwrap()
            .value("battery_recharge_voltage")
            .and_then(|v| v.as_f64())
            .unwrap()
    };
    let before = recharge(c.query("QPIRI").await);
    let target = if before == 49.0 {
        "PBCV47.0"
    } else {
        "PBCV49.0"
    };
    let frame = encode_command(target, EncodeOptions::default());
    assert_eq!(frame.len(), 11, "two reports: 8 bytes, then 3 and padding");
    // Hold the interrupt URB across the two SET_REPORTs: the first half alone must not be
    // answered (the unit waits for the \r).
    let held = c.submit(true, 1, 8, [0; 8], &[]).await;
    c.set_report(&frame[..8]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let probe = c.control_in(setup(0x80, 0x08, 0, 0, 1)).await;
    assert_eq!(probe.data, [1]);
    assert!(
        c.stash.is_empty(),
        "answered before the command was complete"
    );
    c.set_report(&frame[8..]).await;
    let r = c.wait_for(held, T).await.unwrap();
    let mut reply = r.data;
    while !reply.contains(&b'\r') {
        let s = c.submit(true, 1, 8, [0; 8], &[]).await;
        reply.extend(c.wait_for(s, T).await.unwrap().data);
    }
    assert_eq!(
        decode_reply(&reply, DecodeOptions::default()),
        Ok(Reply::Ack),
        "{reply:02x?}"
    );
    let expected = if target == "PBCV47.0" { 47.0 } else { 49.0 };
    assert_eq!(recharge(c.query("QPIRI").await), expected);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_the_pending_interrupt_urb_is_answered() {
    let h = harness("usbip-unlink").await;
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;
    // hidraw closed: usbhid kills its interrupt URB
    let held = c.submit(true, 1, 8, [0; 8], &[]).await;
    let unlink = c.unlink(held).await;
    let r = c.wait_for(unlink, T).await.unwrap();
    assert_eq!(r.command, 4, "RET_UNLINK");
    assert_eq!(
        r.status, -104,
        "-ECONNRESET: it was pending and is now cancelled"
    );
    // the unlinked URB is never answered: the reply goes to the next URB
    c.send_command("QPI").await;
    assert_eq!(c.read_reply().await, b"(PI30\x9a\x0b\r");
    assert!(
        c.stash.iter().all(|r| r.seqnum != held),
        "an unlinked URB was completed"
    );
    // unlinking a URB that already completed: status 0
    let unlink = c.unlink(held).await;
    assert_eq!(c.wait_for(unlink, T).await.unwrap().status, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugging_hides_the_device_and_ends_the_session() {
    let h = harness("usbip-unplug").await;
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;
    assert_eq!(c.query("QPI").await, b"(PI30\x9a\x0b\r");
    h.device.set_plugged(Some(h.usb), false).unwrap();
    // the session is closed: the host sees a disconnect
    let mut rest = Vec::new();
    let closed = timeout(T, c.stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    assert_eq!(
        be32(&devlist(h.addr).await, 8),
        0,
        "no device while unplugged"
    );
    assert_eq!(import(h.addr, BUSID).await.err(), Some(1));
    // plugged back: it can be imported again (re-attach, like a re-enumeration)
    h.device.set_plugged(Some(h.usb), true).unwrap();
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;
    assert_eq!(c.query("QPI").await, b"(PI30\x9a\x0b\r");
    // a second import takes the device over from the first
    let (mut c2, _) = import(h.addr, BUSID).await.unwrap();
    let closed = timeout(T, c.stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    assert_eq!(c2.query("QPI").await, b"(PI30\x9a\x0b\r");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usbip_and_a_pty_used_at_once_lock_the_unit() {
    let h = harness("usbip-lockup").await;
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    enumerate(&mut c).await;
    let mut serial = open(&h.sim, "inverter");
    // strictly alternating use never locks up
    for _ in 0..3 {
        pi30_raw(&mut serial, "QPIGS", T).await.unwrap();
        c.query("QPIGS").await;
    }
    assert!(!h.device.lock().locked);

    // both at once: the serial client hammers the unit while USB/IP queries it too
    let hammer = tokio::spawn(async move {
        for _ in 0..40 {
            if pi30_raw(&mut serial, "QPIGS", Duration::from_millis(300))
                .await
                .is_err()
            {
                return true;
            }
        }
        false
    });
    let mut usb_silent = false;
    for _ in 0..40 {
        c.send_command("QPIGS").await;
        // a locked unit sends nothing: the interrupt URB stays pending
        let s = c.submit(true, 1, 8, [0; 8], &[]).await;
        let mut reply = Vec::new();
        match c.wait_for(s, Duration::from_millis(300)).await {
            None => {
                usb_silent = true;
                break;
            }
            Some(r) => reply.extend(r.data),
        }
        while !reply.contains(&b'\r') {
            let s = c.submit(true, 1, 8, [0; 8], &[]).await;
            reply.extend(c.wait_for(s, T).await.unwrap().data);
        }
    }
    let serial_silent = hammer.await.unwrap();
    assert!(
        usb_silent || serial_silent,
        "concurrent use never went unanswered"
    );
    assert!(h.device.lock().locked, "the unit locked up");
    // a reset (power cycle) clears it; a fresh session then works again
    h.device.reset();
    drop(c);
    let (mut c, _) = import(h.addr, BUSID).await.unwrap();
    assert_eq!(c.query("QPI").await, b"(PI30\x9a\x0b\r");
    h.stop().await;
}
