//! `GET /api/devices/{name}/settings`: the writable settings of a device, with their current
//! values, allowed ranges and choices. `POST /api/devices/{name}/settings/{setting}` with
//! `{"value": ...}`: checked in order (known device and setting, writes enabled, token,
//! payload, rate limit, the validation of `sungate set`), then executed by the device's port
//! task between polls and verified by read-back. Every attempt, refused or done, goes on the
//! bus as a command record (the audit log), with the peer's address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value as JsonValue, json};
use sungate_drivers::driver::{Command, DriverError};
use sungate_drivers::pi30::SpecKind;
use sungate_drivers::vedirect::registers::{self, Access, Register};
use sungate_drivers::{Reading, Value};
use tokio::time::Instant;

use super::api::json_value;
use super::context::{ApiError, Context, not_found};
use crate::core::bus::{CommandRecord, Event};
use crate::setting::{NotSettable, RateLimit, check_settable, validate};
use crate::types::{DriverKind, NamedSetters, Settings};

/// Longest value accepted (every real value is a short word or number).
const MAX_VALUE_LEN: usize = 64;

/// The named setters of a Voltronic device (PI30, PI18) as a form offers them.
fn named_settings(setters: &NamedSetters, reading: Option<&Reading>) -> Vec<JsonValue> {
    // QPIRI's rated battery voltage is flattened as `qpiri_battery_voltage` when QPIGS's live
    // one came first (only PI30's specs use it).
    let nominal = reading.and_then(|r| {
        r.value("qpiri_battery_voltage")
            .or_else(|| r.value("battery_rated_voltage"))
            .and_then(Value::as_f64)
    });
    (setters.specs)(nominal)
        .into_iter()
        .map(|spec| {
            let current = reading.and_then(|r| r.value(spec.name));
            match spec.kind {
                SpecKind::Choice(words) => json!({
                    "name": spec.name, "kind": "choice", "choices": words,
                    "min": null, "max": null, "step": null, "unit": null,
                    "current": current.and_then(|v| (setters.current_choice)(spec.name, v)), "field": spec.name,
                }),
                SpecKind::Number {
                    min,
                    max,
                    step,
                    unit,
                } => json!({
                    "name": spec.name, "kind": "number", "choices": null,
                    "min": min, "max": max, "step": step, "unit": unit,
                    "current": current.map(json_value), "field": spec.name,
                }),
            }
        })
        .collect()
}

/// Whether a VE.Direct setting belongs to this kind of product: BMV/SmartShunt settings live
/// below 0x2000, charger settings at 0xED00 and up. The 0x20xx network registers belong to the
/// bridge and are not offered.
fn offered(reg: &Register, model: Option<&str>) -> bool {
    let monitor = model.is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("bmv") || m.contains("shunt")
    });
    let charger = model.is_some() && !monitor;
    let class_ok = match reg.id {
        0x2000..=0x20FF => false,
        id if id < 0x2000 => !charger,
        id if id >= 0xED00 => !monitor,
        _ => true,
    };
    class_ok
        && reg.access == Access::ReadWrite
        && reg.range.is_some()
        && reg.check_settable().is_ok()
}

fn vedirect_settings(reading: Option<&Reading>, model: Option<&str>) -> Vec<JsonValue> {
    registers::all()
        .iter()
        .filter(|r| offered(r, model))
        .map(|r| {
            let (min, max) = r.range.unwrap_or_default();
            json!({
                "name": r.name, "id": format!("0x{:04X}", r.id), "kind": "number", "choices": null,
                "min": min, "max": max, "step": r.scale, "unit": r.unit,
                "current": reading.and_then(|x| x.value(r.name)).map(json_value),
                "field": reading.and_then(|x| x.get(r.name)).map(|_| r.name),
            })
        })
        .collect()
}

pub async fn list(
    State(ctx): State<Arc<Context>>,
    Path(name): Path<String>,
) -> Result<Json<JsonValue>, ApiError> {
    let entry = ctx.device(&name).ok_or_else(|| not_found("such device"))?;
    let state = ctx.live.get(&name).unwrap_or_default();
    let reading = state.reading.as_deref();
    let settings = match entry.driver.map(DriverKind::settings) {
        Some(Settings::Named(setters)) => named_settings(setters, reading),
        Some(Settings::VeDirectRegisters) => vedirect_settings(
            reading,
            state.info.as_ref().and_then(|i| i.model.as_deref()),
        ),
        None => Vec::new(),
    };
    Ok(Json(json!({
        "device": name,
        "writes": ctx.cfg.writes,
        "settings": settings,
    })))
}

/// The token of an `Authorization: Bearer` header matches (compared in constant time).
fn authorized(ctx: &Context, headers: &HeaderMap) -> bool {
    let Some(expected) = &ctx.token else {
        return false;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), expected.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of a `{"value": "sbu_first"}` or `{"value": 56.4}` body.
fn body_value(body: &[u8]) -> Result<String, String> {
    let json: JsonValue = serde_json::from_slice(body)
        .map_err(|e| format!("malformed body: not JSON ({e}); send {{\"value\": ...}}"))?;
    let value = match json.get("value") {
        Some(JsonValue::String(s)) => s.trim().to_owned(),
        Some(JsonValue::Number(n)) => n.to_string(),
        Some(JsonValue::Bool(b)) => if *b { "enabled" } else { "disabled" }.to_owned(),
        _ => return Err("malformed body: send {\"value\": ...} with a string or a number".into()),
    };
    if value.is_empty() {
        return Err("malformed body: empty value".into());
    }
    if value.len() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
        return Err("malformed body: not a plain value".into());
    }
    Ok(value)
}

/// The checks before anything reaches the device; the value to send.
fn screen(
    ctx: &Context,
    driver: Option<DriverKind>,
    device: &str,
    setting: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ApiError> {
    let Some(driver) = driver else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{device} is a bridge: it has no settings"),
        ));
    };
    match check_settable(driver, setting) {
        Ok(()) => {}
        Err(NotSettable::Unknown(_)) => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no setting {setting:?} on {device}"),
            ));
        }
        Err(NotSettable::Refused(reason)) => {
            return Err(ApiError(StatusCode::BAD_REQUEST, reason));
        }
    }
    if !ctx.cfg.writes {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "writes are disabled ([http] writes = false)".into(),
        ));
    }
    if !authorized(ctx, headers) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send the header Authorization: Bearer <token>".into(),
        ));
    }
    let value = body_value(body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    {
        let mut limits = ctx
            .limits
            .lock()
            .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "rate limit lock".into()))?;
        let now = Instant::now();
        let bucket = limits.entry(device.to_owned()).or_insert_with(|| {
            RateLimit::new(ctx.cfg.command_burst, ctx.cfg.command_interval, now)
        });
        if !bucket.take(now) {
            return Err(ApiError(StatusCode::TOO_MANY_REQUESTS, bucket.describe()));
        }
    }
    validate(driver, setting, &value).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    Ok(value)
}

fn status_of(err: &DriverError) -> StatusCode {
    match err {
        DriverError::Invalid(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    }
}

pub async fn change(
    State(ctx): State<Arc<Context>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((name, setting)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<JsonValue>) {
    let Some(entry) = ctx.device(&name) else {
        let e = not_found("such device");
        return (
            e.0,
            Json(json!({"ok": false, "setting": setting, "reason": e.1})),
        );
    };
    let shown: String = body_value(&body)
        .unwrap_or_default()
        .chars()
        .take(MAX_VALUE_LEN)
        .collect();
    let result = match screen(&ctx, entry.driver, &name, &setting, &headers, &body) {
        Err(e) => Err(e),
        Ok(value) => {
            tracing::info!(device = %name, %setting, %value, %peer, "HTTP command");
            ctx.router
                .execute(
                    &name,
                    Command::Set {
                        name: setting.clone(),
                        value,
                    },
                )
                .await
                .map(|o| o.detail)
                .map_err(|e| ApiError(status_of(&e), e.to_string()))
        }
    };
    let (ok, detail) = match &result {
        Ok(detail) => (true, detail.clone()),
        Err(e) => (false, e.1.clone()),
    };
    if ok {
        tracing::info!(device = %name, %setting, value = %shown, %detail, "HTTP command done");
    } else {
        tracing::warn!(device = %name, %setting, value = %shown, reason = %detail, "HTTP command refused");
    }
    ctx.bus.publish(Event::Command(Arc::new(CommandRecord {
        device: name.clone(),
        setting: setting.chars().take(MAX_VALUE_LEN).collect(),
        value: shown.clone(),
        origin: "http",
        who: peer.to_string(),
        ok,
        detail: detail.clone(),
        at: SystemTime::now(),
    })));
    match result {
        Ok(detail) => (
            StatusCode::OK,
            Json(json!({"ok": true, "setting": setting, "value": shown, "detail": detail})),
        ),
        Err(e) => (
            e.0,
            Json(json!({"ok": false, "setting": setting, "value": shown, "reason": e.1})),
        ),
    }
}
