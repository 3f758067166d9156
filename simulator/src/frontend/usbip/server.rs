//! The USB/IP server: the accept loop, OP_REQ_DEVLIST (answered, then the connection closes) and
//! OP_REQ_IMPORT (bus id check, one importer at a time), and the plug state of the exported
//! interface. An imported connection goes on in [`super::session`]. Operation header:
//! `version u16 = 0x0111 | code u16 | status u32`, big-endian; OP_REQ_IMPORT adds `busid [32]`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::session::serve_urbs;
use super::urb::{Export, OP_REP_IMPORT, OP_REQ_DEVLIST, OP_REQ_IMPORT, op_header};
use crate::device::{Device, Model};

/// Serve USB/IP on `listener`, exporting interface `interface` of `device` (an inverter) as bus
/// id `busid` (e.g. "1-1"). Runs until dropped. One importer at a time: a new OP_REQ_IMPORT takes
/// the device over and closes the previous session, the way the TCP front end lets a reconnecting
/// client replace a stale one. While the interface is unplugged (control API), the device is
/// absent from OP_REP_DEVLIST, imports fail and the attached session is closed, which a
/// vhci-hcd host sees as a disconnect.
pub async fn serve_usbip(device: Device, interface: usize, listener: TcpListener, busid: String) {
    let Some(mut plugged) = device.plugged(interface) else {
        tracing::error!(device = %device.name, interface, "usbip: no such interface");
        return;
    };
    if !matches!(device.lock().model, Model::Inverter(_)) {
        tracing::warn!(device = %device.name, "usbip exports a PI30 inverter; this device will answer nothing");
    }
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    device.set_interface_status(interface, |s| {
        s.address = Some(local.clone());
        s.connected = *plugged.borrow();
    });
    let export = Arc::new(Export::new(&busid));
    // Bumped by every import; a session ends when it is no longer the latest.
    let session = Arc::new(watch::Sender::new(0u64));
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    clients.spawn(serve_client(
                        device.clone(),
                        interface,
                        stream,
                        peer,
                        export.clone(),
                        session.clone(),
                    ));
                }
                Err(err) => {
                    tracing::warn!(device = %device.name, %err, "usbip accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            changed = plugged.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *plugged.borrow_and_update();
                device.set_interface_status(interface, |s| s.connected = now);
            }
            // Reap finished client tasks so the set does not grow.
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
}

/// One TCP connection: a device list request, or an import followed by URB traffic.
async fn serve_client(
    device: Device,
    interface: usize,
    mut stream: TcpStream,
    peer: SocketAddr,
    export: Arc<Export>,
    session: Arc<watch::Sender<u64>>,
) {
    let Some(mut plugged) = device.plugged(interface) else {
        return;
    };
    let mut header = [0u8; 8];
    if stream.read_exact(&mut header).await.is_err() {
        return;
    }
    let code = u16::from_be_bytes([header[2], header[3]]);
    match code {
        OP_REQ_DEVLIST => {
            let list = export.devlist(*plugged.borrow());
            let _ = stream.write_all(&list).await;
        }
        OP_REQ_IMPORT => {
            let mut busid = [0u8; 32];
            if stream.read_exact(&mut busid).await.is_err() {
                return;
            }
            let end = busid.iter().position(|&b| b == 0).unwrap_or(busid.len());
            let wanted = busid.get(..end).unwrap_or_default();
            let is_plugged = *plugged.borrow_and_update();
            if wanted != export.busid.as_bytes() || !is_plugged {
                tracing::info!(device = %device.name, busid = %String::from_utf8_lossy(wanted), "usbip import refused");
                let _ = stream.write_all(&op_header(OP_REP_IMPORT, 1)).await;
                return;
            }
            let mut reply = op_header(OP_REP_IMPORT, 0);
            reply.extend_from_slice(&export.device_record());
            if stream.write_all(&reply).await.is_err() {
                return;
            }
            let mut current = session.subscribe();
            let mine = {
                session.send_modify(|g| *g += 1);
                *current.borrow_and_update()
            };
            tracing::info!(device = %device.name, %peer, busid = %export.busid, "usbip device imported");
            device.set_interface_status(interface, |s| s.attached = Some(peer.to_string()));
            serve_urbs(&device, interface, &mut stream, &mut plugged, &mut current).await;
            // Leave the status to a session that replaced this one.
            if *session.borrow() == mine {
                device.set_interface_status(interface, |s| s.attached = None);
            }
            tracing::info!(device = %device.name, %peer, "usbip session ended");
        }
        other => {
            tracing::info!(device = %device.name, %peer, code = other, "unknown USB/IP operation");
        }
    }
}
