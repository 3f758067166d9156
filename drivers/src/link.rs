//! `Link`: a byte transport as a driver sees it, for the length of one transaction.
//!
//! A driver writes whole frames and reads until a delimiter or a deadline. Deadlines are
//! `tokio::time::Instant`s so that tests can run with paused time. Timeouts, retries, backoff and
//! reopening are not the driver's business: the port task that owns the transport handles them
//! (see docs/architecture.md §3). [`StreamLink`] implements `Link` over any async byte stream (serial port,
//! TCP bridge, in-memory pipe); the HID transport implements it over 8-byte reports.

use std::io;

use async_trait::async_trait;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Debug, Error)]
pub enum LinkError {
    /// Nothing (or not enough) arrived before the deadline. Transient.
    #[error("timed out waiting for the device ({received} bytes received)")]
    Timeout { received: usize },
    /// More bytes than any valid reply without the delimiter: line noise or a wrong baud rate.
    #[error("{0} bytes without a frame delimiter: not a reply")]
    Overflow(usize),
    /// The transport is gone (unplugged, connection closed). The port must be reopened.
    #[error("the connection is gone: {0}")]
    Closed(String),
    /// The transport cannot be opened (no such device, not found, ambiguous). Retried with backoff.
    #[error("{0}")]
    Unavailable(String),
    /// The cause is in the message and not also a `source()`: an error chain printed whole
    /// (`{:#}`) would show it twice.
    #[error("I/O error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for LinkError {
    fn from(e: io::Error) -> Self {
        LinkError::Io(e)
    }
}

impl LinkError {
    /// Whether the transport must be closed and reopened (as opposed to retrying on it).
    pub fn is_fatal(&self) -> bool {
        match self {
            LinkError::Closed(_) | LinkError::Unavailable(_) => true,
            LinkError::Io(e) => !matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            LinkError::Timeout { .. } | LinkError::Overflow(_) => false,
        }
    }
}

#[async_trait]
pub trait Link: Send {
    /// Write one whole frame.
    async fn write_frame(&mut self, frame: &[u8]) -> Result<(), LinkError>;
    /// Read up to and including `delimiter`, at most `max` bytes, before `deadline`. Bytes after
    /// the delimiter stay buffered for the next read.
    async fn read_until(
        &mut self,
        delimiter: u8,
        max: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, LinkError>;
    /// Whatever arrives next (at least one byte) before `deadline`: for streaming protocols.
    async fn read_chunk(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError>;
    /// Throw away bytes already received or waiting, so that a stale or partial reply from an
    /// earlier transaction can never be taken for the answer to the next command.
    async fn discard_input(&mut self) -> Result<usize, LinkError>;
}

/// A [`Link`] over any async byte stream.
#[derive(Debug)]
pub struct StreamLink<S> {
    stream: S,
    buffer: Vec<u8>,
}

impl<S> StreamLink<S> {
    pub fn new(stream: S) -> Self {
        StreamLink {
            stream,
            buffer: Vec::with_capacity(512),
        }
    }

    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + Unpin> StreamLink<S> {
    /// Read more bytes into the buffer; Ok(false) at the deadline.
    async fn fill(&mut self, deadline: Instant) -> Result<bool, LinkError> {
        let mut chunk = [0u8; 512];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => Err(LinkError::Closed("end of stream".into())),
            Ok(Ok(n)) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Ok(Err(e)) => Err(LinkError::Io(e)),
        }
    }
}

#[async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Link for StreamLink<S> {
    async fn write_frame(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.stream.write_all(frame).await?;
        self.stream.flush().await?;
        Ok(())
    }

    async fn read_until(
        &mut self,
        delimiter: u8,
        max: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, LinkError> {
        loop {
            if let Some(pos) = self.buffer.iter().position(|&b| b == delimiter) {
                let rest = self.buffer.split_off(pos + 1);
                return Ok(std::mem::replace(&mut self.buffer, rest));
            }
            if self.buffer.len() > max {
                let n = self.buffer.len();
                self.buffer.clear();
                return Err(LinkError::Overflow(n));
            }
            if !self.fill(deadline).await? {
                return Err(LinkError::Timeout {
                    received: self.buffer.len(),
                });
            }
        }
    }

    async fn read_chunk(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        if self.buffer.is_empty() && !self.fill(deadline).await? {
            return Err(LinkError::Timeout { received: 0 });
        }
        Ok(std::mem::take(&mut self.buffer))
    }

    async fn discard_input(&mut self) -> Result<usize, LinkError> {
        let mut discarded = self.buffer.len();
        self.buffer.clear();
        // Whatever is already waiting in the OS buffer: read with a deadline of "now".
        while self.fill(Instant::now()).await? {
            discarded += self.buffer.len();
            self.buffer.clear();
        }
        Ok(discarded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn read_until_keeps_the_rest_and_times_out() {
        let (client, mut device) = tokio::io::duplex(64);
        let mut link = StreamLink::new(client);
        device.write_all(b"(ACK9 \r(NA").await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(500);
        assert_eq!(
            link.read_until(b'\r', 256, deadline).await.unwrap(),
            b"(ACK9 \r"
        );
        // the rest of an unterminated reply: timeout, nothing returned as a frame
        let err = link.read_until(b'\r', 256, deadline).await.unwrap_err();
        assert!(matches!(err, LinkError::Timeout { received: 3 }), "{err}");
        assert!(!err.is_fatal());
    }

    #[tokio::test(start_paused = true)]
    async fn stale_bytes_are_discarded_before_a_new_command() {
        let (client, mut device) = tokio::io::duplex(64);
        let mut link = StreamLink::new(client);
        device
            .write_all(b"(230.0 50.0 stale half reply")
            .await
            .unwrap();
        tokio::task::yield_now().await;
        assert_eq!(link.discard_input().await.unwrap(), 28);
        device.write_all(b"(PI30\x9a\x0b\r").await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(100);
        assert_eq!(
            link.read_until(b'\r', 256, deadline).await.unwrap(),
            b"(PI30\x9a\x0b\r"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn overflow_and_closed_are_reported() {
        let (client, mut device) = tokio::io::duplex(1024);
        let mut link = StreamLink::new(client);
        device.write_all(&[b'x'; 300]).await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(100);
        assert!(matches!(
            link.read_until(b'\r', 256, deadline).await,
            Err(LinkError::Overflow(_))
        ));
        drop(device);
        let err = link.read_chunk(deadline).await.unwrap_err();
        assert!(err.is_fatal(), "{err}");
    }
}
