//! The event log's entries: availability, identification and commands straight from the bus,
//! and warnings derived from snapshots (a warning or fault field turning on, `warning`, and
//! off again, `cleared`):
//! - PI30: the boolean fields of the `QPIWS` section (one per warning bit);
//! - VE.Direct: `error` away from `"no error"`, `alarm` on, `alarm_reason` and
//!   `warning_reason` away from `"none"`.
//!
//! The first snapshot after a start reports what is already on (a restart forgets nothing a
//! person should see), never what is off.

use std::collections::HashMap;

use serde_json::json;
use sungate_drivers::Reading;
use sungate_drivers::driver::Snapshot;
use sungate_drivers::reading::Value;

use super::time::unix_ms;
use crate::core::bus::Event;

/// One entry of the event log, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub at_ms: i64,
    pub device: String,
    /// `online`, `offline`, `identified`, `command`, `warning`, `cleared`.
    pub kind: &'static str,
    pub message: String,
    pub detail: serde_json::Value,
}

/// The entry for a bus event other than a snapshot (see [`WarningTracker`] for those).
pub fn record_of(event: &Event, now_ms: i64) -> Option<EventRecord> {
    match event {
        Event::Snapshot { .. } => None,
        Event::Availability {
            device,
            online,
            reason,
        } => Some(EventRecord {
            at_ms: now_ms,
            device: device.clone(),
            kind: if *online { "online" } else { "offline" },
            message: match (online, reason) {
                (true, _) => "online".to_owned(),
                (false, Some(r)) => format!("offline: {r}"),
                (false, None) => "offline".to_owned(),
            },
            detail: json!({ "reason": reason }),
        }),
        Event::Identified { device, info } => {
            let parts: Vec<String> = [
                ("model", &info.model),
                ("serial", &info.serial),
                ("firmware", &info.firmware),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
            Some(EventRecord {
                at_ms: now_ms,
                device: device.clone(),
                kind: "identified",
                message: if parts.is_empty() {
                    format!("identified: {}", info.protocol)
                } else {
                    format!("identified: {} {}", info.protocol, parts.join(", "))
                },
                detail: serde_json::to_value(info).unwrap_or_default(),
            })
        }
        Event::Command(c) => Some(EventRecord {
            at_ms: unix_ms(c.at),
            device: c.device.clone(),
            kind: "command",
            message: format!(
                "{} = {} ({} {}): {}{}",
                c.setting,
                c.value,
                c.origin,
                c.who,
                if c.ok { "done" } else { "refused" },
                if c.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.detail)
                }
            ),
            detail: json!({
                "origin": c.origin,
                "who": c.who,
                "setting": c.setting,
                "value": c.value,
                "ok": c.ok,
                "detail": c.detail,
            }),
        }),
    }
}

/// VE.Direct fields that report a problem, with their no-problem value.
const VEDIRECT_WATCH: &[(&str, Clear)] = &[
    ("error", Clear::Text("no error")),
    ("alarm", Clear::Bool(false)),
    ("alarm_reason", Clear::Text("none")),
    ("warning_reason", Clear::Text("none")),
];

#[derive(Debug, Clone, Copy)]
enum Clear {
    Text(&'static str),
    Bool(bool),
}

/// The last seen value of each watched field, per device.
#[derive(Debug, Default)]
pub struct WarningTracker {
    last: HashMap<String, HashMap<String, Watched>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Watched {
    value: Value,
    active: bool,
}

impl WarningTracker {
    /// The warnings that turned on or off with this snapshot.
    pub fn snapshot(
        &mut self,
        device: &str,
        at_ms: i64,
        reading: &Reading,
        sections: Option<&Snapshot>,
    ) -> Vec<EventRecord> {
        let mut now: Vec<(&str, Watched)> = Vec::new();
        for (name, section) in sections.map(|s| s.sections.as_slice()).unwrap_or_default() {
            if name == "QPIWS" {
                for f in section.iter() {
                    if let Value::Bool(on) = f.value {
                        now.push((
                            &f.name,
                            Watched {
                                value: f.value.clone(),
                                active: on,
                            },
                        ));
                    }
                }
            }
        }
        for (name, ok) in VEDIRECT_WATCH {
            let Some(value) = reading.value(name) else {
                continue;
            };
            let active = match (ok, value) {
                (Clear::Text(t), Value::Text(v)) => v != t,
                (Clear::Bool(b), Value::Bool(v)) => v != b,
                _ => continue,
            };
            now.push((
                name,
                Watched {
                    value: value.clone(),
                    active,
                },
            ));
        }
        if now.is_empty() {
            return Vec::new();
        }
        let last = self.last.entry(device.to_owned()).or_default();
        let mut out = Vec::new();
        for (field, w) in now {
            let previous = last.get(field);
            let kind = match previous {
                None if w.active => Some("warning"),
                None => None,
                Some(p) if p.value == w.value => None,
                Some(_) if w.active => Some("warning"),
                Some(p) if p.active => Some("cleared"),
                Some(_) => None,
            };
            if let Some(kind) = kind {
                let is_flag = matches!(w.value, Value::Bool(_));
                let message = match (kind, is_flag, previous) {
                    ("warning", true, _) => field.to_owned(),
                    ("warning", false, _) => format!("{field}: {}", show(&w.value)),
                    (_, true, _) => format!("{field} cleared"),
                    (_, false, Some(p)) => format!("{field} cleared (was {})", show(&p.value)),
                    (_, false, None) => format!("{field} cleared"),
                };
                out.push(EventRecord {
                    at_ms,
                    device: device.to_owned(),
                    kind,
                    message,
                    detail: json!({
                        "field": field,
                        "value": w.value,
                        "previous": previous.map(|p| &p.value),
                    }),
                });
            }
            last.insert(field.to_owned(), w);
        }
        out
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sungate_drivers::Field;

    fn qpiws(line_fail: bool, overload: bool) -> Snapshot {
        let mut r = Reading::new();
        r.push(Field::new("line_fail_warning", line_fail));
        r.push(Field::new("overload_fault", overload));
        r.push(Field::new("active_warnings", "x"));
        let mut q = Reading::new();
        q.push(Field::new("battery_voltage", 52.0));
        Snapshot {
            sections: vec![("QPIGS".into(), q), ("QPIWS".into(), r)],
        }
    }

    fn kinds(events: &[EventRecord]) -> Vec<(&str, &str)> {
        events
            .iter()
            .map(|e| (e.kind, e.message.as_str()))
            .collect()
    }

    #[test]
    fn pi30_warning_bits_turn_on_and_off() {
        let mut t = WarningTracker::default();
        let mut step = |a, b| {
            let s = qpiws(a, b);
            t.snapshot("inv", 1, &s.flatten(), Some(&s))
        };
        assert_eq!(kinds(&step(false, false)), []);
        assert_eq!(
            kinds(&step(true, false)),
            [("warning", "line_fail_warning")]
        );
        assert_eq!(kinds(&step(true, false)), []);
        assert_eq!(
            kinds(&step(false, true)),
            [
                ("cleared", "line_fail_warning cleared"),
                ("warning", "overload_fault")
            ]
        );
        // Already on at the first snapshot after a start: reported.
        let mut fresh = WarningTracker::default();
        let s = qpiws(false, true);
        let e = fresh.snapshot("inv", 5, &s.flatten(), Some(&s));
        assert_eq!(kinds(&e), [("warning", "overload_fault")]);
        assert_eq!(e[0].detail["value"], json!(true));
    }

    #[test]
    fn vedirect_error_and_alarm_fields() {
        let mut t = WarningTracker::default();
        let mut step = |err: &str, alarm: bool, reason: &str| {
            let mut r = Reading::new();
            r.push(Field::new("battery_voltage", 12.5));
            r.push(Field::new("error", err));
            r.push(Field::new("alarm", alarm));
            r.push(Field::new("alarm_reason", reason));
            t.snapshot("mppt", 1, &r, None)
        };
        assert_eq!(kinds(&step("no error", false, "none")), []);
        assert_eq!(
            kinds(&step("charger over current", true, "low voltage")),
            [
                ("warning", "error: charger over current"),
                ("warning", "alarm"),
                ("warning", "alarm_reason: low voltage")
            ]
        );
        assert_eq!(
            kinds(&step("input voltage too high", true, "low voltage")),
            [("warning", "error: input voltage too high")]
        );
        let back = step("no error", false, "none");
        assert_eq!(
            kinds(&back),
            [
                ("cleared", "error cleared (was input voltage too high)"),
                ("cleared", "alarm cleared"),
                ("cleared", "alarm_reason cleared (was low voltage)")
            ]
        );
        assert_eq!(back[0].detail["previous"], json!("input voltage too high"));
    }
}
