//! `sungate-usbip-attach`: attach a device exported by a USB/IP server (such as `sungate-sim`'s
//! `usbip` interface) to this machine's `vhci-hcd`, without the `usbip` userspace tools.
//!
//! ```text
//! sungate-usbip-attach 127.0.0.1:3240 1-1          # import bus id 1-1, attach on a free port
//! sungate-usbip-attach --list 127.0.0.1:3240       # OP_REQ_DEVLIST: what the server exports
//! sungate-usbip-attach --detach 0                  # detach vhci port 0
//! ```
//!
//! Attaching is the OP_REQ_IMPORT handshake (Linux `Documentation/usb/usbip_protocol.rst`):
//! send `0x0111 0x8003 status=0 busid[32]`, read the 8-byte reply header and, when its status is
//! 0, the 312-byte device record; then write `"<port> <sockfd> <devid> <speed>"` to
//! `/sys/devices/platform/vhci_hcd.0/attach` while the socket is still open. The kernel takes a
//! reference to the socket (it looks the fd up in this process), so this program may then exit.
//!
//! vhci port numbers: each controller has `VHCI_HC_PORTS` ports on its USB 2.0 root hub (`hs`)
//! and as many on its USB 3.0 root hub (`ss`); the numbers in the `status` file are global
//! (`hs` 0..N-1, `ss` N..2N-1 on vhci_hcd.0). A low/full/high-speed device must go on an `hs`
//! port, a SuperSpeed one on an `ss` port. Without `--port` the first free port of the right hub
//! in `status` is taken (state 004, VDEV_ST_NULL).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

const USBIP_VERSION: u16 = 0x0111;
const OP_REQ_DEVLIST: u16 = 0x8005;
const OP_REP_DEVLIST: u16 = 0x0005;
const OP_REQ_IMPORT: u16 = 0x8003;
const OP_REP_IMPORT: u16 = 0x0003;
const DEVICE_RECORD: usize = 312;
/// `enum usb_device_speed`
const SPEED_SUPER: u32 = 5;
/// `enum vdev_state` VDEV_ST_NULL: a free port.
const VDEV_ST_NULL: u32 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "sungate-usbip-attach",
    about = "Attach a USB/IP-exported device to vhci-hcd (or detach one)",
    version
)]
struct Cli {
    /// USB/IP server, HOST:PORT (e.g. 127.0.0.1:3240).
    #[arg(required_unless_present = "detach")]
    server: Option<String>,
    /// Bus id of the exported device (e.g. 1-1).
    #[arg(required_unless_present_any = ["detach", "list"])]
    busid: Option<String>,
    /// vhci port to attach on (default: the first free port of the right root hub).
    #[arg(long)]
    port: Option<u32>,
    /// Detach vhci port PORT instead of attaching.
    #[arg(long, value_name = "PORT", conflicts_with_all = ["server", "busid", "list", "port"])]
    detach: Option<u32>,
    /// List the server's exported devices (OP_REQ_DEVLIST) instead of attaching.
    #[arg(long)]
    list: bool,
    /// The vhci-hcd platform device directory.
    #[arg(long, default_value = "/sys/devices/platform/vhci_hcd.0")]
    vhci: PathBuf,
    /// Connect / handshake timeout in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

/// The device record of OP_REP_DEVLIST / OP_REP_IMPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeviceRecord {
    path: String,
    busid: String,
    busnum: u32,
    devnum: u32,
    speed: u32,
    vendor: u16,
    product: u16,
    num_interfaces: u8,
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned()
}

impl DeviceRecord {
    fn parse(b: &[u8]) -> Result<DeviceRecord> {
        if b.len() < DEVICE_RECORD {
            bail!(
                "device record of {} bytes, expected {DEVICE_RECORD}",
                b.len()
            );
        }
        Ok(DeviceRecord {
            path: c_string(b.get(..256).unwrap_or_default()),
            busid: c_string(b.get(256..288).unwrap_or_default()),
            busnum: be32(b, 288),
            devnum: be32(b, 292),
            speed: be32(b, 296),
            vendor: be16(b, 300),
            product: be16(b, 302),
            num_interfaces: b.get(311).copied().unwrap_or(0),
        })
    }

    fn devid(&self) -> u32 {
        (self.busnum << 16) | (self.devnum & 0xffff)
    }
}

fn op_request(code: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(&USBIP_VERSION.to_be_bytes());
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m
}

fn connect(server: &str, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<_> = server
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {server:?} (expected HOST:PORT)"))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))
                    .context("setting the socket's read timeout")?;
                s.set_write_timeout(Some(timeout))
                    .context("setting the socket's write timeout")?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(anyhow!(e).context(format!("cannot connect to {addr}"))),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("{server:?} resolves to no address")))
}

/// Read the 8-byte reply header and check version and code; returns the status.
fn read_op_header(stream: &mut TcpStream, expected: u16) -> Result<u32> {
    let mut h = [0u8; 8];
    stream
        .read_exact(&mut h)
        .context("reading the USB/IP reply header (server closed or timed out)")?;
    let version = be16(&h, 0);
    let code = be16(&h, 2);
    if code != expected {
        bail!("USB/IP reply code {code:#06x}, expected {expected:#06x} (version {version:#06x})");
    }
    if version != USBIP_VERSION {
        bail!("USB/IP version {version:#06x}, expected {USBIP_VERSION:#06x}");
    }
    Ok(be32(&h, 4))
}

fn list(server: &str, timeout: Duration) -> Result<()> {
    let mut stream = connect(server, timeout)?;
    stream
        .write_all(&op_request(OP_REQ_DEVLIST))
        .context("sending OP_REQ_DEVLIST")?;
    let status = read_op_header(&mut stream, OP_REP_DEVLIST)?;
    if status != 0 {
        bail!("OP_REP_DEVLIST status {status}");
    }
    let mut n = [0u8; 4];
    stream
        .read_exact(&mut n)
        .context("reading the device count")?;
    let count = u32::from_be_bytes(n);
    for _ in 0..count {
        let mut rec = [0u8; DEVICE_RECORD];
        stream
            .read_exact(&mut rec)
            .context("reading a device record")?;
        let dev = DeviceRecord::parse(&rec)?;
        let mut ifaces = vec![0u8; 4 * usize::from(dev.num_interfaces)];
        stream
            .read_exact(&mut ifaces)
            .context("reading interface records")?;
        println!(
            "{} {:04x}:{:04x} speed {} devid {:#x} {}",
            dev.busid,
            dev.vendor,
            dev.product,
            dev.speed,
            dev.devid(),
            dev.path
        );
    }
    Ok(())
}

fn import(stream: &mut TcpStream, busid: &str) -> Result<DeviceRecord> {
    if busid.is_empty() || busid.len() >= 32 {
        bail!("bus id {busid:?} must be 1 to 31 bytes");
    }
    let mut m = op_request(OP_REQ_IMPORT);
    let mut id = busid.as_bytes().to_vec();
    id.resize(32, 0);
    m.extend_from_slice(&id);
    stream.write_all(&m).context("sending OP_REQ_IMPORT")?;
    let status = read_op_header(stream, OP_REP_IMPORT)?;
    if status != 0 {
        bail!("the server refused to export bus id {busid:?} (OP_REP_IMPORT status {status})");
    }
    let mut rec = [0u8; DEVICE_RECORD];
    stream
        .read_exact(&mut rec)
        .context("reading the OP_REP_IMPORT device record")?;
    let dev = DeviceRecord::parse(&rec)?;
    if dev.busid != busid {
        bail!("imported bus id {:?}, asked for {busid:?}", dev.busid);
    }
    Ok(dev)
}

/// The first free port of the right root hub, from vhci's `status` file.
///
/// ```text
/// hub port sta spd dev      sockfd local_busid
/// hs  0000 004 000 00000000 000000 0-0
/// ss  0008 004 000 00000000 000000 0-0
/// ```
fn free_port(vhci: &Path, speed: u32) -> Result<u32> {
    let status_path = vhci.join("status");
    let text = std::fs::read_to_string(&status_path).with_context(|| {
        format!(
            "cannot read {} (is vhci-hcd loaded?)",
            status_path.display()
        )
    })?;
    let hub = if speed == SPEED_SUPER { "ss" } else { "hs" };
    for line in text.lines().skip(1) {
        let mut f = line.split_whitespace();
        let (Some(h), Some(port), Some(sta)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        // Old kernels (before 4.13) have no hub column: "prt sta spd ..."; treat them as hs.
        if h != hub {
            continue;
        }
        let (Ok(port), Ok(sta)) = (port.parse::<u32>(), sta.parse::<u32>()) else {
            continue;
        };
        if sta == VDEV_ST_NULL {
            return Ok(port);
        }
    }
    bail!("no free {hub} port in {}:\n{text}", status_path.display())
}

fn write_sysfs(path: &Path, text: &str) -> Result<()> {
    // One write(2) of the whole line: sysfs store handlers see exactly one call.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} (is vhci-hcd loaded? root?)", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {text:?} to {}", path.display()))
}

fn attach(cli: &Cli, server: &str, busid: &str, timeout: Duration) -> Result<()> {
    let mut stream = connect(server, timeout)?;
    let dev = import(&mut stream, busid)?;
    // The URB phase must not time out in the kernel: clear the timeouts we set for the handshake.
    stream
        .set_read_timeout(None)
        .context("clearing the read timeout")?;
    stream
        .set_write_timeout(None)
        .context("clearing the write timeout")?;
    let port = match cli.port {
        Some(p) => p,
        None => free_port(&cli.vhci, dev.speed)?,
    };
    let line = format!(
        "{port} {} {} {}",
        stream.as_raw_fd(),
        dev.devid(),
        dev.speed
    );
    write_sysfs(&cli.vhci.join("attach"), &line)?;
    println!(
        "attached {server} {busid} ({:04x}:{:04x}, speed {}, devid {:#x}) on vhci port {port}",
        dev.vendor,
        dev.product,
        dev.speed,
        dev.devid()
    );
    // The kernel holds its own reference to the socket; closing ours is fine.
    drop(stream);
    Ok(())
}

fn run(cli: &Cli) -> Result<()> {
    if !(cli.timeout > 0.0 && cli.timeout.is_finite()) {
        bail!("--timeout must be a positive number of seconds");
    }
    let timeout = Duration::from_secs_f64(cli.timeout);
    if let Some(port) = cli.detach {
        write_sysfs(&cli.vhci.join("detach"), &port.to_string())?;
        println!("detached vhci port {port}");
        return Ok(());
    }
    let server = cli
        .server
        .as_deref()
        .ok_or_else(|| anyhow!("SERVER is required"))?;
    if cli.list {
        return list(server, timeout);
    }
    let busid = cli
        .busid
        .as_deref()
        .ok_or_else(|| anyhow!("BUSID is required"))?;
    attach(cli, server, busid, timeout)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sungate-usbip-attach: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_device_record() {
        let mut rec = vec![0u8; DEVICE_RECORD];
        rec[..4].copy_from_slice(b"/sys");
        rec[256..259].copy_from_slice(b"1-1");
        rec[288..292].copy_from_slice(&3u32.to_be_bytes());
        rec[292..296].copy_from_slice(&2u32.to_be_bytes());
        rec[296..300].copy_from_slice(&2u32.to_be_bytes());
        rec[300..302].copy_from_slice(&0x0665u16.to_be_bytes());
        rec[302..304].copy_from_slice(&0x5161u16.to_be_bytes());
        rec[311] = 1;
        let d = DeviceRecord::parse(&rec).unwrap();
        assert_eq!(d.busid, "1-1");
        assert_eq!(d.path, "/sys");
        assert_eq!(d.devid(), 0x0003_0002);
        assert_eq!((d.vendor, d.product, d.speed), (0x0665, 0x5161, 2));
        assert!(DeviceRecord::parse(&rec[..311]).is_err());
    }

    #[test]
    fn picks_the_first_free_port_of_the_right_hub() {
        let dir = std::env::temp_dir().join(format!("usbip-attach-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("status"),
            "hub port sta spd dev      sockfd local_busid\n\
             hs  0000 006 002 00010002 000003 1-1\n\
             hs  0001 004 000 00000000 000000 0-0\n\
             ss  0008 004 000 00000000 000000 0-0\n",
        )
        .unwrap();
        assert_eq!(free_port(&dir, 2).unwrap(), 1);
        assert_eq!(free_port(&dir, SPEED_SUPER).unwrap(), 8);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
