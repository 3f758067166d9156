//! Front ends: how a simulated device's interfaces reach a client. Every front end ends up in
//! [`serve_stream`], which moves bytes between one byte stream (a PTY master, a TCP connection,
//! an in-memory pipe) and the device.

pub mod pty;
pub mod tcp;
pub mod usbip;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;

use crate::device::{Device, Model};

/// How long a write may wait for a client that does not read before the bytes are dropped, as
/// they would be on a serial line nobody listens to.
const WRITE_TIMEOUT: Duration = Duration::from_millis(250);
/// A PI30 request longer than this without `\r` is line noise, not a command.
const MAX_REQUEST: usize = 512;

/// Serve one client on interface `interface` of `device` until the stream ends or fails.
pub async fn serve_stream<S>(device: &Device, interface: usize, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let is_inverter = matches!(device.lock().model, Model::Inverter(_));
    if is_inverter {
        serve_request_response(device, interface, stream).await
    } else {
        serve_ve_stream(device, stream).await
    }
}

/// Write with a deadline; false when the stream is gone.
async fn write_or_drop<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> bool {
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await {
        Ok(Ok(())) => {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.flush()).await;
            true
        }
        Ok(Err(_)) => false,
        // The client does not read: drop these bytes, keep serving.
        Err(_) => true,
    }
}

/// PI30: frame requests on `\r`, answer each after the unit's processing delay.
async fn serve_request_response<S>(device: &Device, interface: usize, mut stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut pending: Vec<u8> = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            pending.push(b);
            if b != b'\r' {
                if pending.len() > MAX_REQUEST {
                    pending.clear();
                }
                continue;
            }
            let request = std::mem::take(&mut pending);
            let reply = device.inverter_request(interface, &request);
            tokio::time::sleep(device.reply_delay + device.slow()).await;
            // The transaction ends as the reply goes on the wire: a client that has read the
            // reply can no longer overlap with it (a real unit is idle once its last byte is
            // out). Ending it only after `write` returned would let a quick client's next
            // request on another interface race this task and look like concurrent use.
            device.end_transaction(interface);
            let alive = match reply {
                Some(reply) if !reply.is_empty() => write_or_drop(&mut stream, &reply).await,
                _ => true,
            };
            if !alive {
                return;
            }
        }
    }
}

/// VE.Direct: the device talks on its own (text blocks every second); client bytes are HEX
/// requests handed to the model, whose replies come back through the output channel.
async fn serve_ve_stream<S>(device: &Device, mut stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut output = device.subscribe_output();
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => device.receive(&buf[..n]),
            },
            out = output.recv() => match out {
                Ok(bytes) => {
                    if !write_or_drop(&mut stream, &bytes).await {
                        return;
                    }
                }
                // A slow client misses some output, as on a real line.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}
