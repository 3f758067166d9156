//! PTY front end: each interface is a pseudo-terminal pair; the client opens the slave side
//! through a stable symlink `DIR/<device>` (or `DIR/<device>-<interface>`), as it would open
//! `/dev/ttyUSB0`. Unplugging removes the PTY (the client sees a hangup) and plugging in creates a
//! new one behind the same symlink, like a USB serial adapter that re-enumerates.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::device::Device;

/// A non-blocking file descriptor (a PTY master, or a tty a test client opened) as an async byte
/// stream.
#[derive(Debug)]
pub struct FdStream {
    fd: AsyncFd<OwnedFd>,
}

impl FdStream {
    /// Wrap `fd`, switching it to non-blocking mode.
    pub fn new(fd: OwnedFd) -> io::Result<FdStream> {
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
        // `AsyncFd::new` is deprecated in favour of the `unsafe` `register`, because it cannot
        // know whether the fd stays owned by `inner`. Here `inner` is an `OwnedFd` we exclusively
        // own and never close elsewhere, which is exactly what `register` asks the caller to
        // guarantee; the safe constructor keeps this crate `unsafe`-free.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(FdStream { fd })
    }

    /// Open a tty (e.g. a PTY slave through its symlink) as a client would, in raw mode.
    pub fn open_tty(path: &Path) -> io::Result<FdStream> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(path)?;
        let fd = OwnedFd::from(file);
        let mut termios = tcgetattr(&fd).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(&fd, SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        FdStream::new(fd)
    }
}

/// The master side of a PTY pair. The slave fd is kept open by us too, so that reads do not fail
/// with EIO while no client has the slave open.
#[derive(Debug)]
pub struct PtyMaster {
    master: FdStream,
    _slave: OwnedFd,
    pub slave_path: PathBuf,
}

impl PtyMaster {
    /// Open a new PTY pair with the slave in raw mode (no echo, no CR/LF translation: the
    /// protocols are binary-ish and a real UART does not translate either).
    pub fn open() -> io::Result<PtyMaster> {
        let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        let mut termios = tcgetattr(&pty.slave).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        let slave_path = nix::unistd::ttyname(&pty.slave).map_err(io::Error::from)?;
        Ok(PtyMaster {
            master: FdStream::new(pty.master)?,
            _slave: pty.slave,
            slave_path,
        })
    }
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref(), unfilled).map_err(io::Error::from))
            {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Point `link` at `target`, replacing an existing link atomically so a client never sees the
/// path missing while a device re-enumerates.
pub fn replace_symlink(target: &Path, link: &Path) -> io::Result<()> {
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

/// Serve one PTY interface for the life of the simulator: a PTY while plugged in, none while
/// unplugged.
pub async fn run(device: Device, interface: usize, link: PathBuf) {
    let Some(mut plugged) = device.plugged(interface) else {
        return;
    };
    device.set_interface_status(interface, |s| s.address = Some(link.display().to_string()));
    loop {
        if !*plugged.borrow_and_update() {
            let _ = std::fs::remove_file(&link);
            device.set_interface_status(interface, |s| {
                s.connected = false;
                s.attached = None;
            });
            if plugged.changed().await.is_err() {
                return;
            }
            continue;
        }
        let pty = match PtyMaster::open() {
            Ok(pty) => pty,
            Err(err) => {
                tracing::error!(device = %device.name, %err, "cannot open a PTY");
                return;
            }
        };
        if let Err(err) = replace_symlink(&pty.slave_path, &link) {
            tracing::error!(device = %device.name, link = %link.display(), %err, "cannot create the PTY symlink");
            return;
        }
        let slave = pty.slave_path.display().to_string();
        tracing::info!(device = %device.name, link = %link.display(), pty = %slave, "interface plugged in");
        device.set_interface_status(interface, |s| {
            s.connected = true;
            s.attached = Some(slave);
        });
        tokio::select! {
            _ = crate::frontend::serve_stream(&device, interface, pty.master) => {
                // Reads on a PTY master only end on an error; make a fresh PTY.
                tracing::warn!(device = %device.name, "PTY stream ended; recreating it");
            }
            _ = wait_unplugged(&mut plugged) => {
                tracing::info!(device = %device.name, link = %link.display(), "interface unplugged");
            }
        }
    }
}

pub(crate) async fn wait_unplugged(plugged: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if !*plugged.borrow_and_update() {
            return;
        }
        if plugged.changed().await.is_err() {
            // The simulator is shutting down; stay here until the task is dropped.
            std::future::pending::<()>().await;
        }
    }
}
