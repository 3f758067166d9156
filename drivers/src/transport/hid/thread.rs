//! [`ThreadedDevice`]: a [`BlockingReportDevice`] (hidapi) on its own I/O thread, seen as an
//! async [`ReportDevice`].
//!
//! Why a dedicated thread rather than `spawn_blocking` per call: hidapi's device handle is not
//! `Sync`, and a `spawn_blocking` closure that owns it cannot be cancelled. When the port task
//! abandons a read (its transaction limit), the handle would be stuck inside a detached blocking
//! task and the report it eventually reads would be lost. The thread keeps the handle, serves
//! one request at a time, reads in short slices so an abandoned read ends soon, and stashes a
//! report that nobody is waiting for any more: it is handed out first on the next read (and so
//! dropped by the next `discard_input`), never lost out of order. The thread ends, closing the
//! device, when the `ThreadedDevice` is dropped.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{BlockingReportDevice, OUTPUT_LEN, REPORT_LEN, ReportDevice};

/// The longest single blocking read: bounds how long an abandoned read keeps the thread (and
/// so the next request, or closing the device) waiting.
const READ_SLICE: Duration = Duration::from_millis(50);
/// A write that has not finished after this long means a wedged bridge (the kernel's own
/// SET_REPORT timeout is 5 s).
const WRITE_LIMIT: Duration = Duration::from_secs(6);
/// Extra time allowed past a read's deadline before the I/O thread counts as stuck.
const READ_GRACE: Duration = Duration::from_secs(2);

type ReadReply = io::Result<Option<[u8; REPORT_LEN]>>;

#[derive(Debug)]
enum Request {
    Write([u8; OUTPUT_LEN], oneshot::Sender<io::Result<()>>),
    Read(Duration, oneshot::Sender<ReadReply>),
}

/// An async [`ReportDevice`] driving a [`BlockingReportDevice`] on a dedicated thread.
#[derive(Debug)]
pub struct ThreadedDevice {
    requests: mpsc::Sender<Request>,
    name: String,
}

fn gone(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!("the I/O thread of {name} has ended"),
    )
}

fn stuck(name: &str, what: &str) -> io::Error {
    // Reported as a disconnect: the port task must reopen, retrying on a wedged handle is futile.
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!("{what} on {name} did not return: the device is wedged"),
    )
}

impl ThreadedDevice {
    /// Move `device` onto a new I/O thread named after `name` (e.g. the hidraw path).
    pub fn spawn<D: BlockingReportDevice>(device: D, name: &str) -> io::Result<Self> {
        let (requests, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("hid {name}"))
            .spawn(move || serve(device, &inbox))?;
        Ok(ThreadedDevice {
            requests,
            name: name.to_owned(),
        })
    }
}

fn serve<D: BlockingReportDevice>(mut device: D, inbox: &mpsc::Receiver<Request>) {
    // Reports read for a requester that had already given up, oldest first.
    let mut stash: VecDeque<[u8; REPORT_LEN]> = VecDeque::new();
    while let Ok(request) = inbox.recv() {
        match request {
            Request::Write(report, reply) => {
                let _ = reply.send(device.write_report(&report));
            }
            Request::Read(timeout, reply) => {
                let result = match stash.pop_front() {
                    Some(report) => Ok(Some(report)),
                    None => read_sliced(&mut device, timeout, &reply),
                };
                // The requester is gone (cancelled): keep the report for the next read.
                if let Err(Ok(Some(report))) = reply.send(result) {
                    stash.push_back(report);
                }
            }
        }
    }
}

fn read_sliced<D: BlockingReportDevice>(
    device: &mut D,
    timeout: Duration,
    reply: &oneshot::Sender<ReadReply>,
) -> ReadReply {
    let end = std::time::Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match device.read_report(left.min(READ_SLICE))? {
            Some(report) => return Ok(Some(report)),
            None if left <= READ_SLICE || reply.is_closed() => return Ok(None),
            None => {}
        }
    }
}

#[async_trait]
impl ReportDevice for ThreadedDevice {
    async fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Write(*report, tx))
            .map_err(|_| gone(&self.name))?;
        match tokio::time::timeout(WRITE_LIMIT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(gone(&self.name)),
            Err(_) => Err(stuck(&self.name, "a write")),
        }
    }

    async fn read_report(&mut self, deadline: Instant) -> io::Result<Option<[u8; REPORT_LEN]>> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Read(timeout, tx))
            .map_err(|_| gone(&self.name))?;
        match tokio::time::timeout_at(deadline + READ_GRACE, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(gone(&self.name)),
            Err(_) => Err(stuck(&self.name, "a read")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A blocking fake: input reports from a std channel, written reports into a shared list.
    struct Fake {
        input: mpsc::Receiver<io::Result<[u8; REPORT_LEN]>>,
        written: Arc<Mutex<Vec<[u8; OUTPUT_LEN]>>>,
    }

    impl BlockingReportDevice for Fake {
        fn write_report(&mut self, report: &[u8; OUTPUT_LEN]) -> io::Result<()> {
            self.written.lock().unwrap().push(*report);
            Ok(())
        }
        fn read_report(&mut self, timeout: Duration) -> io::Result<Option<[u8; REPORT_LEN]>> {
            match self.input.recv_timeout(timeout) {
                Ok(r) => r.map(Some),
                Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::from_raw_os_error(19)),
            }
        }
    }

    type Input = mpsc::Sender<io::Result<[u8; REPORT_LEN]>>;

    fn fake() -> (ThreadedDevice, Input, Arc<Mutex<Vec<[u8; OUTPUT_LEN]>>>) {
        let (tx, input) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let dev = Fake {
            input,
            written: written.clone(),
        };
        (ThreadedDevice::spawn(dev, "fake").unwrap(), tx, written)
    }

    // Real time (the thread's blocking waits do not follow tokio's paused clock), short waits.
    #[tokio::test]
    async fn requests_are_served_on_the_thread() {
        let (mut dev, input, written) = fake();
        dev.write_report(&[0, b'Q', b'M', b'O', b'D', 0x49, 0xc1, b'\r', 0])
            .await
            .unwrap();
        assert_eq!(written.lock().unwrap()[0][1..5], *b"QMOD");

        let t0 = std::time::Instant::now();
        let none = dev
            .read_report(Instant::now() + Duration::from_millis(120))
            .await
            .unwrap();
        assert_eq!(none, None);
        assert!(
            t0.elapsed() >= Duration::from_millis(110),
            "waited the timeout"
        );

        input.send(Ok(*b"(B\xe7\xc9\r\0\0\0")).unwrap();
        let got = dev
            .read_report(Instant::now() + Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(got, Some(*b"(B\xe7\xc9\r\0\0\0"));

        input.send(Err(io::Error::from_raw_os_error(19))).unwrap();
        let err = dev.read_report(Instant::now()).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(19));
    }

    #[tokio::test]
    async fn a_report_read_for_an_abandoned_request_is_kept_in_order() {
        let (mut dev, input, _written) = fake();
        // Abandon a long read; the report that then arrives must not be lost.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            dev.read_report(Instant::now() + Duration::from_secs(5)),
        )
        .await;
        assert!(abandoned.is_err());
        input.send(Ok([1; REPORT_LEN])).unwrap();
        input.send(Ok([2; REPORT_LEN])).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let deadline = Instant::now() + Duration::from_secs(1);
        assert_eq!(dev.read_report(deadline).await.unwrap(), Some([1; 8]));
        assert_eq!(dev.read_report(deadline).await.unwrap(), Some([2; 8]));
    }

    #[tokio::test]
    async fn dropping_the_handle_ends_the_thread_and_closes_the_device() {
        let (dev, input, _written) = fake();
        drop(dev);
        // The thread drops the fake (and its receiver) once its request channel is closed.
        let t0 = std::time::Instant::now();
        while input.send(Ok([0; REPORT_LEN])).is_ok() {
            assert!(
                t0.elapsed() < Duration::from_secs(2),
                "thread still running"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
