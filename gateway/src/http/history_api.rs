//! History reads over HTTP: buckets of one or more fields (`/history`, `/history.csv`), energy
//! per day (`/energy`) and the event log (`/api/events`). The store is SQLite: every query runs
//! on the blocking pool, never on the threads that serve the live stream.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};

use super::context::{ApiError, Context, not_found};
use crate::history::time::{now_ms, rfc3339};
use crate::history::{HistoryReader, Series};
use crate::types::DriverKind;

/// About this many buckets when no step is asked for: enough for a chart's width.
const DEFAULT_POINTS: i64 = 360;
const MAX_POINTS: i64 = 100_000;
const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    fields: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    step_s: Option<f64>,
    range: Option<String>,
}

/// `6h`, `24h`, `7d`, `30d`, `90m` (the config's duration syntax) -> milliseconds.
fn range_ms(range: &str) -> Option<i64> {
    crate::config::history::parse_duration(range)
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| *ms >= 1000)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

/// The checked window and step of a history query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
    pub step_ms: i64,
}

pub fn window(q: &HistoryQuery, now_ms: i64) -> Result<Window, ApiError> {
    let to_ms = q.to_ms.unwrap_or(now_ms);
    let span = match &q.range {
        Some(r) => {
            range_ms(r).ok_or_else(|| bad(format!("range {r:?}: use e.g. 6h, 24h, 7d, 30d")))?
        }
        None => 6 * HOUR_MS,
    };
    let from_ms = q.from_ms.unwrap_or(to_ms.saturating_sub(span));
    if from_ms >= to_ms {
        return Err(bad("from_ms must be before to_ms"));
    }
    let step_ms = match q.step_s {
        Some(s) if s.is_finite() && s >= 1.0 => (s * 1000.0).round() as i64,
        Some(s) => return Err(bad(format!("step_s {s}: at least 1 second"))),
        None => ((to_ms - from_ms) / DEFAULT_POINTS).max(1000),
    };
    if (to_ms - from_ms) / step_ms > MAX_POINTS {
        return Err(bad(format!(
            "too many points ({}); at most {MAX_POINTS}: use a larger step_s",
            (to_ms - from_ms) / step_ms
        )));
    }
    Ok(Window {
        from_ms,
        to_ms,
        step_ms,
    })
}

fn reader(ctx: &Context) -> Result<HistoryReader, ApiError> {
    ctx.history.clone().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "no history: the config has no [history] section".into(),
        )
    })
}

/// Run a store read on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::history::HistoryError> + Send + 'static,
) -> Result<T, ApiError> {
    use crate::history::HistoryError;
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e @ HistoryError::NoDevice(_))) => {
            Err(ApiError(StatusCode::NOT_FOUND, e.to_string()))
        }
        Ok(Err(e @ HistoryError::Invalid(_))) => {
            Err(ApiError(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Ok(Err(e)) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn series(
    ctx: &Context,
    name: &str,
    q: &HistoryQuery,
) -> Result<(Window, Vec<Series>), ApiError> {
    ctx.device(name).ok_or_else(|| not_found("such device"))?;
    let w = window(q, now_ms())?;
    let fields: Vec<String> = q
        .fields
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if fields.is_empty() || fields.len() > 16 {
        return Err(bad("fields: give 1 to 16 field names, comma-separated"));
    }
    let reader = reader(ctx)?;
    let device = name.to_owned();
    let series = blocking(move || {
        let names: Vec<&str> = fields.iter().map(String::as_str).collect();
        no_data_yet(reader.query(&device, &names, w.from_ms, w.to_ms, w.step_ms))
    })
    .await?;
    Ok((w, series))
}

/// A configured device with nothing stored yet has an empty history, not a missing one.
fn no_data_yet<T>(
    result: Result<Vec<T>, crate::history::HistoryError>,
) -> Result<Vec<T>, crate::history::HistoryError> {
    match result {
        Err(crate::history::HistoryError::NoDevice(_)) => Ok(Vec::new()),
        other => other,
    }
}

fn finite(v: f64) -> JsonValue {
    if v.is_finite() {
        json!(v)
    } else {
        JsonValue::Null
    }
}

pub async fn history(
    State(ctx): State<Arc<Context>>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<JsonValue>, ApiError> {
    let (w, series) = series(&ctx, &name, &q).await?;
    let series: Vec<JsonValue> = series
        .iter()
        .map(|s| {
            json!({
                "field": s.field,
                "unit": s.unit,
                "points": s.points.iter().map(|p| json!([p.t_ms, finite(p.min), finite(p.avg), finite(p.max)])).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "device": name,
        "from_ms": w.from_ms,
        "to_ms": w.to_ms,
        "step_s": w.step_ms as f64 / 1000.0,
        "series": series,
    })))
}

pub async fn history_csv(
    State(ctx): State<Arc<Context>>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    let (_, series) = series(&ctx, &name, &q).await?;
    let mut out = String::from("time,field,unit,min,avg,max\n");
    for s in &series {
        for p in &s.points {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                rfc3339(p.t_ms),
                s.field,
                s.unit.as_deref().unwrap_or(""),
                p.min,
                p.avg,
                p.max
            );
        }
    }
    let disposition = format!("attachment; filename=\"{name}-history.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct EnergyQuery {
    field: Option<String>,
    days: Option<u32>,
}

/// The PV power field of each driver, for energy per day by default.
fn default_power_field(driver: Option<DriverKind>) -> &'static str {
    driver.map_or("pv_input_power", DriverKind::pv_power_field)
}

pub async fn energy(
    State(ctx): State<Arc<Context>>,
    Path(name): Path<String>,
    Query(q): Query<EnergyQuery>,
) -> Result<Json<JsonValue>, ApiError> {
    let entry = ctx.device(&name).ok_or_else(|| not_found("such device"))?;
    let days = q.days.unwrap_or(30).clamp(1, 731);
    let reader = reader(&ctx)?;
    let power_field = default_power_field(entry.driver).to_owned();
    let asked = q.field.clone();
    let device = name.clone();
    let now = now_ms();
    // By default the PV energy counter, or, for a history from before the counters, the
    // integral of the PV power.
    let (field, rows) = blocking(move || {
        let field = match asked {
            Some(f) => f,
            None => {
                let stored = no_data_yet(reader.fields(&device))?;
                if stored.iter().any(|f| f == "pv_energy") {
                    "pv_energy".to_owned()
                } else {
                    power_field
                }
            }
        };
        let rows = no_data_yet(reader.daily_energy(&device, &field, days, now))?;
        Ok((field, rows))
    })
    .await?;
    let days: Vec<JsonValue> = rows
        .iter()
        .map(|(date, kwh)| json!({"date": date, "kwh": finite((kwh * 1e6).round() / 1e6)}))
        .collect();
    Ok(Json(
        json!({"device": name, "field": field, "unit": "kWh", "days": days}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    limit: Option<usize>,
    device: Option<String>,
    before_ms: Option<i64>,
}

pub async fn events(
    State(ctx): State<Arc<Context>>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<JsonValue>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let reader = reader(&ctx)?;
    let device = q.device.clone();
    let before = q.before_ms;
    let events = blocking(move || reader.events(device.as_deref(), limit, before)).await?;
    let events: Vec<JsonValue> = events
        .iter()
        .map(|e| {
            json!({"at_ms": e.at_ms, "device": e.device, "kind": e.kind, "message": e.message, "detail": e.detail})
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(range: Option<&str>, step: Option<f64>) -> HistoryQuery {
        HistoryQuery {
            fields: None,
            from_ms: None,
            to_ms: Some(100 * HOUR_MS),
            step_s: step,
            range: range.map(str::to_owned),
        }
    }

    #[test]
    fn windows_default_to_six_hours_and_about_360_points() {
        let w = window(&q(None, None), 0).unwrap();
        assert_eq!(w.to_ms - w.from_ms, 6 * HOUR_MS);
        assert_eq!(w.step_ms, 60_000);
        let w = window(&q(Some("7d"), None), 0).unwrap();
        assert_eq!(w.to_ms - w.from_ms, 7 * 24 * HOUR_MS);
        assert!(window(&q(Some("7x"), None), 0).is_err());
        assert!(
            window(&q(Some("30d"), Some(1.0)), 0).is_err(),
            "2.6 M points"
        );
        assert!(window(&q(None, Some(0.5)), 0).is_err());
    }
}
