//! JSON reads of the live state (`/api/devices`, `/api/devices/{name}`, `/api/bridges`) and the
//! live stream (`/api/stream`, Server-Sent Events of snapshots, availability and log entries).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::{Map, Value as JsonValue, json};
use sungate_drivers::{Reading, Value};
use tokio::sync::broadcast::error::RecvError;

use super::context::{ApiError, Context, DeviceEntry, not_found};
use super::live::{DeviceState, stale_after};
use crate::core::bus::Event;
use crate::history::time::unix_ms;

/// A reading's value as JSON (a float that is not finite never leaves the gateway as a number).
pub fn json_value(value: &Value) -> JsonValue {
    match value {
        Value::Int(i) => json!(i),
        Value::Float(f) if f.is_finite() => json!(f),
        Value::Float(_) => JsonValue::Null,
        Value::Bool(b) => json!(b),
        Value::Text(t) => json!(t),
    }
}

/// `{"field": value}` of a reading.
pub fn fields_object(reading: &Reading) -> JsonValue {
    let mut map = Map::new();
    for f in reading.iter() {
        map.insert(f.name.to_string(), json_value(&f.value));
    }
    JsonValue::Object(map)
}

/// The summary of one device: identity, availability, the age of its values.
pub fn summary(entry: &DeviceEntry, state: &DeviceState, now: SystemTime) -> JsonValue {
    let age = state
        .updated
        .and_then(|at| now.duration_since(at).ok())
        .map(|d| d.as_secs_f64());
    let stale = match age {
        Some(age) => age > stale_after(entry.poll_interval).as_secs_f64(),
        None => true,
    };
    json!({
        "name": entry.name,
        "kind": if entry.bridge.is_some() { "bridge" } else { "device" },
        "driver": entry.driver.map(|d| d.name()),
        "port": entry.port,
        "online": state.online,
        "reason": state.reason,
        "identity": state.info,
        "updated_ms": state.updated.map(unix_ms),
        "age_s": age.map(|a| (a * 10.0).round() / 10.0),
        "stale": stale,
        "poll_interval_s": entry.poll_interval.as_secs_f64(),
    })
}

pub async fn devices(State(ctx): State<Arc<Context>>) -> Json<JsonValue> {
    let now = SystemTime::now();
    let devices: Vec<JsonValue> = ctx
        .devices
        .iter()
        .map(|e| summary(e, &ctx.live.get(&e.name).unwrap_or_default(), now))
        .collect();
    Json(json!({
        "gateway": {
            "name": ctx.gateway_name,
            "version": env!("CARGO_PKG_VERSION"),
            "now_ms": unix_ms(now),
            "started_ms": ctx.health.started.map(unix_ms),
            "writes": ctx.cfg.writes,
            "history": ctx.history.is_some(),
        },
        "devices": devices,
    }))
}

pub async fn device(
    State(ctx): State<Arc<Context>>,
    Path(name): Path<String>,
) -> Result<Json<JsonValue>, ApiError> {
    let entry = ctx.device(&name).ok_or_else(|| not_found("such device"))?;
    let state = ctx.live.get(&name).unwrap_or_default();
    let mut out = summary(entry, &state, SystemTime::now());
    let fields: Vec<JsonValue> = state
        .reading
        .as_deref()
        .map(|r| {
            r.iter()
                .map(|f| {
                    let spec = entry.fields.iter().find(|s| s.name == f.name);
                    json!({
                        "name": f.name,
                        "value": json_value(&f.value),
                        "unit": f.unit.or(spec.and_then(|s| s.unit)),
                        "device_class": spec.and_then(|s| s.device_class),
                        "section": state.section_of(&f.name),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(obj) = out.as_object_mut() {
        obj.insert("fields".into(), JsonValue::Array(fields));
    }
    Ok(Json(out))
}

pub async fn bridges(State(ctx): State<Arc<Context>>) -> Json<JsonValue> {
    let bridges: Vec<JsonValue> = ctx
        .devices
        .iter()
        .filter_map(|e| {
            let (source, targets) = e.bridge.as_ref()?;
            let state = ctx.live.get(&e.name).unwrap_or_default();
            Some(json!({
                "name": e.name,
                "source": source,
                "targets": targets,
                "online": state.online,
                "updated_ms": state.updated.map(unix_ms),
                "fields": state.reading.as_deref().map(fields_object).unwrap_or(JsonValue::Null),
            }))
        })
        .collect();
    Json(json!({ "bridges": bridges }))
}

/// One bus event as a stream message (None: not shown on the stream).
pub fn sse_message(event: &Event) -> Option<(&'static str, JsonValue)> {
    match event {
        Event::Snapshot {
            device,
            at,
            reading,
            ..
        } => Some((
            "snapshot",
            json!({"device": device, "at_ms": unix_ms(*at), "fields": fields_object(reading)}),
        )),
        Event::Availability {
            device,
            online,
            reason,
        } => Some((
            "availability",
            json!({"device": device, "online": online, "reason": reason}),
        )),
        Event::Identified { device, info } => {
            Some(("identified", json!({"device": device, "identity": info})))
        }
        Event::Command(c) => Some((
            "log",
            json!({
                "at_ms": unix_ms(c.at),
                "device": c.device,
                "kind": "command",
                "message": format!("{} = {}: {}", c.setting, c.value, if c.ok { "done" } else { "refused" }),
                "detail": {"origin": c.origin, "who": c.who, "setting": c.setting, "value": c.value, "ok": c.ok, "result": c.detail},
            }),
        )),
    }
}

/// `GET /api/stream`: every bus event as it happens. A slow client misses events (and is told
/// so with a `lagged` message) rather than holding anything up.
pub async fn stream(
    State(ctx): State<Arc<Context>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = ctx.bus.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if let Some((name, data)) = sse_message(&event) {
                        let message = SseEvent::default().event(name).data(data.to_string());
                        return Some((Ok(message), rx));
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let message = SseEvent::default()
                        .event("lagged")
                        .data(json!({"missed": n}).to_string());
                    return Some((Ok(message), rx));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
