//! `GET /metrics`: Prometheus text format (version 0.0.4). Every numeric field of every device
//! as one gauge family with device/field/unit labels (booleans as 0/1), each device's
//! availability and value age, and the gateway's own health: polls, failures and latency per
//! port, port reopens, bridge writes, MQTT state and history write lag.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sungate_drivers::Value;

use super::context::Context;
use crate::core::health::{flag, get};

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `# HELP` and `# TYPE` of a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Prometheus' float syntax (`+Inf`, `NaN` never appear: non-finite values are left out).
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

pub fn render(ctx: &Context) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let now = SystemTime::now();
    let states: Vec<_> = ctx
        .devices
        .iter()
        .map(|e| (e, ctx.live.get(&e.name).unwrap_or_default()))
        .collect();

    family(
        &mut out,
        "sungate_field",
        "gauge",
        "Latest value of a numeric device field (booleans as 0/1).",
    );
    for (entry, state) in &states {
        let Some(reading) = &state.reading else {
            continue;
        };
        for f in reading.iter() {
            let v = match &f.value {
                Value::Int(i) => *i as f64,
                Value::Float(x) if x.is_finite() => *x,
                Value::Bool(b) => f64::from(u8::from(*b)),
                _ => continue,
            };
            let _ = writeln!(
                out,
                "sungate_field{{device=\"{}\",field=\"{}\",unit=\"{}\"}} {}",
                label(&entry.name),
                label(&f.name),
                label(f.unit.unwrap_or("")),
                number(v)
            );
        }
    }
    family(
        &mut out,
        "sungate_device_online",
        "gauge",
        "1 when the device answers, 0 when it is offline (absent before the first try).",
    );
    for (entry, state) in &states {
        if let Some(online) = state.online {
            let _ = writeln!(
                out,
                "sungate_device_online{{device=\"{}\"}} {}",
                label(&entry.name),
                u8::from(online)
            );
        }
    }
    family(
        &mut out,
        "sungate_device_age_seconds",
        "gauge",
        "Age of the device's latest values.",
    );
    for (entry, state) in &states {
        if let Some(age) = state.updated.and_then(|at| now.duration_since(at).ok()) {
            let _ = writeln!(
                out,
                "sungate_device_age_seconds{{device=\"{}\"}} {:.3}",
                label(&entry.name),
                age.as_secs_f64()
            );
        }
    }

    let h = &ctx.health;
    let ports: Vec<(String, &crate::core::health::PortHealth)> =
        h.ports().map(|(n, p)| (label(n), p)).collect();
    family(
        &mut out,
        "sungate_port_polls_total",
        "counter",
        "Polls per port and result.",
    );
    for (port, p) in &ports {
        for (result, n) in [("ok", get(&p.polls_ok)), ("failed", get(&p.polls_failed))] {
            sample(
                &mut out,
                "sungate_port_polls_total",
                &format!("port=\"{port}\",result=\"{result}\""),
                n as f64,
            );
        }
    }
    family(
        &mut out,
        "sungate_port_poll_latency_seconds",
        "summary",
        "Latency of successful polls per port.",
    );
    for (port, p) in &ports {
        let labels = format!("port=\"{port}\"");
        sample(
            &mut out,
            "sungate_port_poll_latency_seconds_sum",
            &labels,
            get(&p.latency_sum_us) as f64 / 1e6,
        );
        sample(
            &mut out,
            "sungate_port_poll_latency_seconds_count",
            &labels,
            get(&p.latency_count) as f64,
        );
    }
    family(
        &mut out,
        "sungate_port_reopens_total",
        "counter",
        "Times a port's transport was opened again.",
    );
    for (port, p) in &ports {
        sample(
            &mut out,
            "sungate_port_reopens_total",
            &format!("port=\"{port}\""),
            get(&p.reopens) as f64,
        );
    }
    family(
        &mut out,
        "sungate_bridge_writes_total",
        "counter",
        "BMV -> MPPT remote-sense writes per result.",
    );
    for (result, n) in [
        ("ok", get(&h.bridge.writes_ok)),
        ("failed", get(&h.bridge.writes_failed)),
    ] {
        sample(
            &mut out,
            "sungate_bridge_writes_total",
            &format!("result=\"{result}\""),
            n as f64,
        );
    }
    // (name, type, help, value) of the families with one unlabelled sample.
    let mut single: Vec<(&str, &str, &str, f64)> = Vec::new();
    if flag(&h.mqtt.configured) {
        single.extend([
            (
                "sungate_mqtt_connected",
                "gauge",
                "1 while connected to the MQTT broker.",
                f64::from(u8::from(flag(&h.mqtt.connected))),
            ),
            (
                "sungate_mqtt_connects_total",
                "counter",
                "Accepted MQTT connections.",
                get(&h.mqtt.connects) as f64,
            ),
            (
                "sungate_mqtt_published_total",
                "counter",
                "MQTT messages handed to the client.",
                get(&h.mqtt.published) as f64,
            ),
            (
                "sungate_mqtt_dropped_total",
                "counter",
                "MQTT messages dropped (client queue full).",
                get(&h.mqtt.dropped) as f64,
            ),
        ]);
    }
    if flag(&h.history.configured) {
        single.extend([
            (
                "sungate_history_writable",
                "gauge",
                "1 while the history database accepts writes.",
                f64::from(u8::from(flag(&h.history.writable))),
            ),
            (
                "sungate_history_lag_seconds",
                "gauge",
                "Age of the oldest snapshot not yet committed.",
                get(&h.history.lag_ms) as f64 / 1e3,
            ),
            (
                "sungate_history_snapshots_written_total",
                "counter",
                "Snapshots committed to the history database.",
                get(&h.history.snapshots_written) as f64,
            ),
            (
                "sungate_history_write_errors_total",
                "counter",
                "Failed history commits.",
                get(&h.history.write_errors) as f64,
            ),
            (
                "sungate_history_last_commit_seconds",
                "gauge",
                "Duration of the last history commit.",
                get(&h.history.last_commit_us) as f64 / 1e6,
            ),
        ]);
    }
    let started = h
        .started
        .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    single.push((
        "sungate_start_time_seconds",
        "gauge",
        "When the gateway started (unix seconds).",
        started,
    ));
    for (name, kind, help, value) in single {
        family(&mut out, name, kind, help);
        sample(&mut out, name, "", value);
    }
    out
}

/// One sample line: `name{labels} value`.
fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {}", number(value));
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {}", number(value));
    }
}

pub async fn metrics(State(ctx): State<Arc<Context>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&ctx),
    )
}
