//! TCP transport: a serial-to-Ethernet bridge (ser2net, Elfin, USR) that passes bytes through
//! unchanged. Nagle is off so that short commands leave at once.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::link::{LinkError, StreamLink};

/// Connect to `addr` ("host:port") within `timeout`.
pub async fn connect(addr: &str, timeout: Duration) -> Result<StreamLink<TcpStream>, LinkError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| LinkError::Unavailable(format!("connecting to {addr} timed out")))?
        .map_err(|e| LinkError::Unavailable(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    Ok(StreamLink::new(stream))
}
