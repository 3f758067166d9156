//! What the request handlers share: the configured devices, the live state, the core's
//! router and health, the history reader, the write token and the rate limits; and the error
//! every handler answers with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sungate_drivers::driver::FieldSpec;

use super::live::Live;
use crate::config::{Config, HttpConfig, Secret};
use crate::core::bus::Bus;
use crate::core::health::Health;
use crate::core::router::Router;
use crate::history::HistoryReader;
use crate::setting::RateLimit;
use crate::types::DriverKind;

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
            fields: crate::core::opener::field_specs(config, d),
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
