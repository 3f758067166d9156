//! Control API: HTTP + JSON on a loopback port, for tests and for people exploring the
//! simulator. Documented in the README ("Simulator control API").
//!
//! | method & path                         | body                    | does                                  |
//! |---------------------------------------|-------------------------|---------------------------------------|
//! | GET  /health                          |                         | `{"ok":true,"speed":X}`               |
//! | GET  /devices                         |                         | every device, state included          |
//! | GET  /devices/{name}                  |                         | one device: protocol, state, faults…  |
//! | POST /devices/{name}/env              | `{"key": value, ...}`   | set environment values (all or none)  |
//! | POST /devices/{name}/faults           | `{"fault": value, ...}` | merge into the current faults         |
//! | DELETE /devices/{name}/faults         |                         | clear all faults                      |
//! | POST /devices/{name}/disconnect       | `?interface=NAME` opt.  | unplug (all) interface(s)             |
//! | POST /devices/{name}/reconnect        | `?interface=NAME` opt.  | plug back in (a new PTY)              |
//! | POST /devices/{name}/reset            |                         | power cycle: clears a lockup          |
//! | GET  /devices/{name}/ranges           |                         | plausible values per decoded field    |
//! | GET  /devices/{name}/energy           |                         | energy counters and exact integrals   |

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::device::Device;
use crate::faults::Faults;

#[derive(Debug, Clone)]
struct Ctx {
    devices: Vec<Device>,
    speed: f64,
}

impl Ctx {
    fn device(&self, name: &str) -> Result<&Device, ApiError> {
        self.devices
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no device named '{name}'")))
    }
}

#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message)
}

pub fn router(devices: Vec<Device>, speed: f64) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/devices", get(list))
        .route("/devices/{name}", get(show))
        .route("/devices/{name}/env", post(set_env))
        .route(
            "/devices/{name}/faults",
            post(merge_faults).delete(clear_faults),
        )
        .route("/devices/{name}/disconnect", post(disconnect))
        .route("/devices/{name}/reconnect", post(reconnect))
        .route("/devices/{name}/reset", post(reset))
        .route("/devices/{name}/ranges", get(ranges))
        .route("/devices/{name}/energy", get(energy))
        .with_state(Ctx { devices, speed })
}

pub async fn serve(listener: tokio::net::TcpListener, devices: Vec<Device>, speed: f64) {
    if let Err(err) = axum::serve(listener, router(devices, speed)).await {
        tracing::error!(%err, "control API stopped");
    }
}

async fn health(State(ctx): State<Ctx>) -> Json<Value> {
    Json(json!({ "ok": true, "speed": ctx.speed }))
}

async fn list(State(ctx): State<Ctx>) -> Json<Value> {
    Json(Value::Array(
        ctx.devices.iter().map(Device::describe).collect(),
    ))
}

async fn show(State(ctx): State<Ctx>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ctx.device(&name)?.describe()))
}

fn object(body: Value) -> Result<serde_json::Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        other => Err(bad_request(format!("expected a JSON object, got {other}"))),
    }
}

async fn set_env(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    let map = object(body)?;
    // Apply to a scratch check first? Models validate per key; report the first refusal and
    // what was applied before it, so nothing is silently half done.
    let mut applied = Vec::new();
    for (key, value) in &map {
        device
            .set_env(key, value)
            .map_err(|e| bad_request(format!("{key}: {e} (applied before it: {applied:?})")))?;
        applied.push(key.clone());
    }
    Ok(Json(device.describe()))
}

async fn merge_faults(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    let patch = object(body)?;
    let current = serde_json::to_value(&device.lock().faults)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut merged = object(current)?;
    merged.extend(patch);
    let faults: Faults = serde_json::from_value(Value::Object(merged))
        .map_err(|e| bad_request(format!("bad faults: {e}")))?;
    device.set_faults(faults).map_err(bad_request)?;
    Ok(Json(device.describe()))
}

async fn clear_faults(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    device.set_faults(Faults::default()).map_err(bad_request)?;
    Ok(Json(device.describe()))
}

fn interface_of(
    device: &Device,
    query: &HashMap<String, String>,
) -> Result<Option<usize>, ApiError> {
    match query.get("interface") {
        None => Ok(None),
        Some(name) => device.interface_index(name).map(Some).ok_or_else(|| {
            bad_request(format!(
                "device '{}' has no interface '{name}'",
                device.name
            ))
        }),
    }
}

async fn disconnect(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    device
        .set_plugged(interface_of(device, &query)?, false)
        .map_err(bad_request)?;
    Ok(Json(json!({ "ok": true })))
}

async fn reconnect(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    device
        .set_plugged(interface_of(device, &query)?, true)
        .map_err(bad_request)?;
    Ok(Json(json!({ "ok": true })))
}

/// The plausible values of every numeric field a client decodes from the device (see
/// [`crate::ranges`]): `{"name", "kind", "fields": {"field": {"unit", "allowed": [[lo, hi]]}}}`.
async fn ranges(State(ctx): State<Ctx>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    let fields = crate::ranges::for_device(device, &ctx.devices);
    Ok(Json(json!({
        "name": device.name,
        "kind": device.kind,
        "fields": crate::ranges::to_json(&fields),
    })))
}

/// The device's energy counters next to the exact integrals of the powers it reports (see
/// [`crate::energy`]): `{"name", "speed", "sim_time_s", "counters": {"pv_energy":
/// {"device_kwh", "integral_kwh", "wall_integral_kwh"}, ...}}`.
async fn energy(State(ctx): State<Ctx>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ctx.device(&name)?.energy(ctx.speed)))
}

async fn reset(State(ctx): State<Ctx>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let device = ctx.device(&name)?;
    device.reset();
    Ok(Json(device.describe()))
}
