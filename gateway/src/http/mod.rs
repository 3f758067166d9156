//! The local dashboard and HTTP API (axum), a sink next to MQTT.
//!
//! - [`context`]: what the handlers share (devices, live state, router, token, limits);
//! - [`live`]: the latest state of every device, kept from the bus;
//! - [`api`]: JSON reads (devices, one device, bridges) and the live stream (Server-Sent Events);
//! - [`history_api`]: history, CSV, energy per day and the event log, read from the history store;
//! - [`settings`]: the writable settings of a device and `POST` to change one (token, rate limit,
//!   the same validation as `sungate set`, executed by the port task, answered with the read-back);
//! - [`metrics`]: Prometheus text for every numeric field and the gateway's own health;
//! - [`assets`]: the dashboard's files, embedded in the binary (no CDN, no build step).
//!
//! Reads need no token; every write needs `Authorization: Bearer <token>` (a header, never a
//! cookie, so a page from elsewhere cannot make the browser send it).

pub mod api;
pub mod assets;
pub mod context;
pub mod history_api;
pub mod live;
pub mod metrics;
pub mod settings;

use std::sync::Arc;

use axum::Router as Routes;
use axum::routing::{get, post};

use crate::config::HttpConfig;
pub use context::{Context, DeviceEntry, entries};

/// All routes.
pub fn routes(ctx: Arc<Context>) -> Routes {
    Routes::new()
        .route("/api/devices", get(api::devices))
        .route("/api/devices/{name}", get(api::device))
        .route("/api/devices/{name}/history", get(history_api::history))
        .route(
            "/api/devices/{name}/history.csv",
            get(history_api::history_csv),
        )
        .route("/api/devices/{name}/energy", get(history_api::energy))
        .route("/api/devices/{name}/settings", get(settings::list))
        .route(
            "/api/devices/{name}/settings/{setting}",
            post(settings::change),
        )
        .route("/api/bridges", get(api::bridges))
        .route("/api/events", get(history_api::events))
        .route("/api/stream", get(api::stream))
        .route("/api/openapi.json", get(assets::openapi))
        .route("/metrics", get(metrics::metrics))
        .merge(assets::routes())
        .with_state(ctx)
}

/// Serve until the task is aborted.
pub async fn serve(ctx: Arc<Context>, listener: std::net::TcpListener) {
    let addr = listener.local_addr().ok();
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "HTTP: cannot use the listening socket");
            return;
        }
    };
    tracing::info!(addr = ?addr, writes = ctx.cfg.writes, "dashboard and API listening");
    if let Err(e) = axum::serve(
        listener,
        routes(ctx).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
    {
        tracing::error!(error = %e, "HTTP server stopped");
    }
}

/// Bind the configured address, with an error that says what to change.
pub fn bind(cfg: &HttpConfig) -> Result<std::net::TcpListener, BindError> {
    let listener = std::net::TcpListener::bind(cfg.bind).map_err(|cause| BindError {
        addr: cfg.bind,
        cause,
    })?;
    listener.set_nonblocking(true).map_err(|cause| BindError {
        addr: cfg.bind,
        cause,
    })?;
    Ok(listener)
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} for the dashboard and API: {cause} (choose another address with [http] bind)"
)]
pub struct BindError {
    pub addr: std::net::SocketAddr,
    pub cause: std::io::Error,
}
