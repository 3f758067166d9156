//! TCP front end, like a ser2net or Elfin serial-to-Ethernet bridge: a listener per interface;
//! one client at a time (a new connection replaces the old one, as bridges do when a client
//! reconnects after a network hiccup). Unplugging closes the listener and the connection.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use crate::device::Device;
use crate::frontend::pty::wait_unplugged;

/// Bind the listener now, so that the caller knows the real address (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

pub async fn run(
    device: Device,
    interface: usize,
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
) {
    let Some(mut plugged) = device.plugged(interface) else {
        return;
    };
    loop {
        if !*plugged.borrow_and_update() {
            listener = None;
            device.set_interface_status(interface, |s| {
                s.connected = false;
                s.attached = None;
            });
            if plugged.changed().await.is_err() {
                return;
            }
            continue;
        }
        let active = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(err) => {
                    tracing::error!(device = %device.name, %addr, %err, "cannot listen");
                    return;
                }
            },
        };
        let local = active
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        device.set_interface_status(interface, |s| {
            s.connected = true;
            s.address = Some(local.clone());
        });
        tokio::select! {
            _ = serve_clients(&device, interface, &active) => {}
            _ = wait_unplugged(&mut plugged) => {
                tracing::info!(device = %device.name, %local, "tcp interface unplugged");
            }
        }
    }
}

async fn serve_clients(device: &Device, interface: usize, listener: &TcpListener) {
    let mut next: Option<(TcpStream, SocketAddr)> = None;
    loop {
        let (stream, peer) = match next.take() {
            Some(c) => c,
            None => match listener.accept().await {
                Ok(c) => c,
                Err(err) => {
                    tracing::warn!(device = %device.name, %err, "accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        device.set_interface_status(interface, |s| s.attached = Some(peer.to_string()));
        tokio::select! {
            _ = crate::frontend::serve_stream(device, interface, stream) => {
                device.set_interface_status(interface, |s| s.attached = None);
            }
            accepted = listener.accept() => {
                if let Ok(c) = accepted {
                    tracing::info!(device = %device.name, old = %peer, new = %c.1, "new client replaces the old one");
                    next = Some(c);
                }
            }
        }
    }
}
