//! The local dashboard and HTTP API (axum), a sink next to MQTT.
//!
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
pub mod history_api;
pub mod live;
pub mod metrics;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router as Routes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::config::{Config, HttpConfig, Secret};
use crate::core::bus::Bus;
use crate::core::health::Health;
use crate::core::router::Router;
use crate::history::HistoryReader;
use crate::setting::RateLimit;
use crate::types::DriverKind;
use live::Live;
use sungate_drivers::driver::FieldSpec;

/// A configured device as the API describes it.
#[derive(Debug, Clone)]
pub struct DeviceEntry {
    pub name: String,
    /// None for a bridge.
    pub driver: Option<DriverKind>,
    pub port: Option<String>,
    pub poll_interval: Duration,
    pub fields: Vec<FieldSpec>,
    /// A bridge's source and targets.
    pub bridge: Option<(String, Vec<String>)>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Context {
    pub cfg: HttpConfig,
    pub token: Option<Secret>,
    pub gateway_name: String,
    pub devices: Vec<DeviceEntry>,
    pub live: Arc<Live>,
    pub router: Arc<Router>,
    pub health: Arc<Health>,
    pub bus: Bus,
    pub history: Option<HistoryReader>,
    /// One bucket per configured device (bounded: unknown names are refused first).
    pub limits: Mutex<HashMap<String, RateLimit>>,
}

impl Context {
    pub fn device(&self, name: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.name == name)
    }
}

/// The configured devices and bridges, with the fields their drivers produce.
pub fn entries(config: &Config) -> Vec<DeviceEntry> {
    let mut out: Vec<DeviceEntry> = config
        .devices
        .iter()
        .map(|d| DeviceEntry {
            name: d.name.clone(),
            driver: Some(d.driver),
            port: Some(d.port.clone()),
            poll_interval: d.poll_interval,
            fields: config
                .port(&d.port)
                .map(|p| crate::core::opener::build_driver(d, p).fields().to_vec())
                .unwrap_or_default(),
            bridge: None,
        })
        .collect();
    out.extend(config.bridges.iter().map(|b| DeviceEntry {
        name: b.name.clone(),
        driver: None,
        port: None,
        poll_interval: b.refresh_interval,
        fields: Vec::new(),
        bridge: Some((b.source.clone(), b.targets.clone())),
    }));
    out
}

/// An API error: a status and a JSON body `{"ok": false, "reason": ...}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"ok": false, "reason": self.1}))).into_response()
    }
}

pub fn not_found(what: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no {what}"))
}

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
