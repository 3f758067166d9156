//! Wire tracing: every frame written to and every byte read from a port, for bug reports.
//!
//! [`WireLog`] wraps any [`Link`] and logs under the target `sungate::wire`, per port:
//! - `debug`: each request and reply as text, non-printable bytes escaped (`QPIGS\xb7\xa9\r`);
//! - `trace`: the same bytes as hex as well (`51 50 49 47 53 b7 a9 0d`).
//!
//! `RUST_LOG=sungate::wire=debug sungate run -c …` then shows the conversation with each device;
//! with the target off (the default) the wrapper costs one level check per call.

use async_trait::async_trait;
use tokio::time::Instant;

use crate::link::{Link, LinkError};

/// The tracing target of wire logs.
pub const TARGET: &str = "sungate::wire";

/// `bytes` as text: printable ASCII as is, everything else escaped (`\r`, `\n`, `\t`, `\xb7`).
pub fn escaped(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// `bytes` as space-separated lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Log one direction of traffic on `port`.
fn log(port: &str, direction: &'static str, bytes: &[u8]) {
    if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
        tracing::trace!(target: TARGET, port, direction, len = bytes.len(), text = %escaped(bytes), hex = %hex(bytes), "wire");
    } else {
        tracing::debug!(target: TARGET, port, direction, len = bytes.len(), text = %escaped(bytes), "wire");
    }
}

/// A [`Link`] that logs its traffic (see the module docs).
pub struct WireLog {
    port: String,
    inner: Box<dyn Link>,
}

impl std::fmt::Debug for WireLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireLog").field("port", &self.port).finish()
    }
}

impl WireLog {
    pub fn new(port: impl Into<String>, inner: Box<dyn Link>) -> Self {
        WireLog {
            port: port.into(),
            inner,
        }
    }

    fn on(&self) -> bool {
        tracing::enabled!(target: TARGET, tracing::Level::DEBUG)
    }
}

#[async_trait]
impl Link for WireLog {
    async fn write_frame(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if self.on() {
            log(&self.port, "request", frame);
        }
        self.inner.write_frame(frame).await
    }

    async fn read_until(
        &mut self,
        delimiter: u8,
        max: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, LinkError> {
        let result = self.inner.read_until(delimiter, max, deadline).await;
        if self.on() {
            match &result {
                Ok(bytes) => log(&self.port, "reply", bytes),
                Err(err) => {
                    tracing::debug!(target: TARGET, port = %self.port, direction = "reply", %err, "wire")
                }
            }
        }
        result
    }

    async fn read_chunk(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        let result = self.inner.read_chunk(deadline).await;
        if self.on() {
            if let Ok(bytes) = &result {
                log(&self.port, "reply", bytes);
            }
        }
        result
    }

    async fn discard_input(&mut self) -> Result<usize, LinkError> {
        let n = self.inner.discard_input().await?;
        if n > 0 && self.on() {
            tracing::debug!(target: TARGET, port = %self.port, discarded = n, "wire: stale input discarded");
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_hex_forms() {
        assert_eq!(escaped(b"QPIGS\xb7\xa9\r"), "QPIGS\\xb7\\xa9\\r");
        assert_eq!(escaped(b":7ECED0075\n"), ":7ECED0075\\n");
        assert_eq!(hex(b"(\x0d"), "28 0d");
        assert_eq!(hex(b""), "");
    }
}
