//! `<prefix>/<device>/set/<setting>`: checked in order (a retained message is no command, rate
//! limit, payload, writes enabled, allow-list, the same validation as `sungate set`) before
//! anything reaches the device, then executed through the device's port task. Every command is
//! answered on `<prefix>/<device>/result` with `{"setting", "value", "ok", "reason"}`.
//!
//! A command is a fresh action. A message the broker delivers with the retain flag was stored
//! earlier (by a mistaken `-r`, or by someone who wants it replayed on every connect) and is
//! refused, never executed.

use std::collections::HashMap;
use std::sync::Arc;

use rumqttc::{AsyncClient, Publish};
use serde_json::json;
use sungate_drivers::driver::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::MqttConfig;
use crate::core::bus::{Bus, CommandRecord, Event};
use crate::core::router::Router;
use crate::setting::RateLimit;
use crate::types::DriverKind;

use super::topics::qos;

/// Longest accepted value: every real setting value is a short word or number.
const MAX_VALUE_LEN: usize = 64;
/// Longest topic shown in a log line (a topic can be 64 KiB long).
const MAX_TOPIC_SHOWN: usize = 128;

/// A message on a command topic as the event loop hands it over: a payload above
/// [`MAX_VALUE_LEN`] is dropped there and then (only its size is kept), so an oversize message
/// is never queued or copied, only answered.
#[derive(Debug)]
pub struct Received {
    pub topic: String,
    /// The payload, or the size of one too long to be a value.
    pub payload: Result<Vec<u8>, usize>,
    /// Delivered with the retain flag: stored by the broker, not a fresh action.
    pub retained: bool,
}

impl From<Publish> for Received {
    fn from(p: Publish) -> Self {
        // Room for surrounding whitespace, which `check` trims.
        let payload = if p.payload.len() <= MAX_VALUE_LEN * 2 {
            Ok(p.payload.to_vec())
        } else {
            Err(p.payload.len())
        };
        Received {
            topic: p.topic,
            payload,
            retained: p.retain,
        }
    }
}

impl Received {
    /// The payload as a (trimmed) value to check.
    fn value(&self) -> Payload<'_> {
        match &self.payload {
            Ok(bytes) => Payload::Value(std::str::from_utf8(bytes).map(str::trim)),
            Err(size) => Payload::TooLong(*size),
        }
    }
}

/// `topic` cut to a length fit for a log line.
fn shown_topic(topic: &str) -> &str {
    match topic.char_indices().nth(MAX_TOPIC_SHOWN) {
        Some((end, _)) => &topic[..end],
        None => topic,
    }
}

/// Validate a setting exactly like `sungate set` does, before anything is sent.
pub use crate::setting::validate;

/// `<prefix>/<device>/set/<setting>` -> (device, setting).
fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(device), Some("set"), Some(setting), None)
            if !device.is_empty() && !setting.is_empty() =>
        {
            Some((device, setting))
        }
        _ => None,
    }
}

pub async fn run(
    cfg: Arc<MqttConfig>,
    devices: HashMap<String, DriverKind>,
    router: Arc<Router>,
    client: AsyncClient,
    mut rx: mpsc::Receiver<Received>,
    bus: Bus,
) {
    // One bucket per configured device only, so a flood of made-up names cannot grow this.
    let mut buckets: HashMap<String, RateLimit> = HashMap::new();
    while let Some(p) = rx.recv().await {
        let Some((device, setting)) = parse_topic(&cfg.prefix, &p.topic) else {
            tracing::debug!(
                topic = shown_topic(&p.topic),
                "MQTT message on an unexpected topic ignored"
            );
            continue;
        };
        let Some(&driver) = devices.get(device) else {
            // No result topic to answer on: an unknown device is not ours.
            tracing::warn!(
                device = shown_topic(device),
                setting = shown_topic(setting),
                "MQTT command for an unknown device ignored"
            );
            continue;
        };
        let shown = match &p.value() {
            Payload::Value(v) => v.unwrap_or("").chars().take(MAX_VALUE_LEN).collect(),
            Payload::TooLong(_) => String::new(),
        };
        let now = Instant::now();
        let bucket = buckets
            .entry(device.to_owned())
            .or_insert_with(|| RateLimit::new(cfg.command_burst, cfg.command_interval, now));
        let verdict = screen(&cfg, bucket, now, &p, driver, device, setting);
        let result = match verdict {
            Err(reason) => Err(reason),
            Ok(value) => {
                let command = Command::Set {
                    name: setting.to_owned(),
                    value: value.to_owned(),
                };
                tracing::info!(%device, %setting, %value, "MQTT command");
                router
                    .execute(device, command)
                    .await
                    .map(|o| o.detail)
                    .map_err(|e| e.to_string())
            }
        };
        let answer = match &result {
            Ok(detail) => {
                tracing::info!(%device, %setting, value = %shown, %detail, "MQTT command done");
                json!({"setting": setting, "value": shown, "ok": true, "reason": null, "detail": detail})
            }
            Err(reason) => {
                tracing::warn!(%device, %setting, value = %shown, %reason, "MQTT command refused");
                json!({"setting": setting, "value": shown, "ok": false, "reason": reason})
            }
        };
        bus.publish(Event::Command(Arc::new(CommandRecord {
            device: device.to_owned(),
            setting: shown_topic(setting).to_owned(),
            value: shown.clone(),
            origin: "mqtt",
            who: shown_topic(&p.topic).to_owned(),
            ok: result.is_ok(),
            detail: match &result {
                Ok(detail) => detail.clone(),
                Err(reason) => reason.clone(),
            },
            at: std::time::SystemTime::now(),
        })));
        let topic = format!("{}/{device}/result", cfg.prefix);
        let payload = serde_json::to_vec(&answer).unwrap_or_default();
        if let Err(e) = client.try_publish(topic.as_str(), qos(cfg.qos), false, payload) {
            tracing::warn!(%topic, error = %e, "MQTT result dropped");
        }
    }
}

const RETAINED_REFUSAL: &str = "retained message: a command must be a fresh action, so a \
     message the broker stored and replays is never executed (clear it with an empty retained \
     message, and publish commands without the retain flag)";

/// A command's payload as received.
#[derive(Debug, Clone, Copy)]
enum Payload<'a> {
    Value(Result<&'a str, std::str::Utf8Error>),
    /// Longer than any value: dropped on arrival, only its size is known.
    TooLong(usize),
}

/// Everything a received message goes through before it may reach the device, in order.
fn screen<'v>(
    cfg: &MqttConfig,
    bucket: &mut RateLimit,
    now: Instant,
    received: &'v Received,
    driver: DriverKind,
    device: &str,
    setting: &str,
) -> Result<&'v str, String> {
    // A retained message is refused first: it is no action, so it costs no token.
    if received.retained {
        return Err(RETAINED_REFUSAL.to_owned());
    }
    if !bucket.take(now) {
        return Err(bucket.describe());
    }
    check(cfg, driver, device, setting, received.value())
}

/// The checks of one command's content and permission.
fn check<'v>(
    cfg: &MqttConfig,
    driver: DriverKind,
    device: &str,
    setting: &str,
    value: Payload<'v>,
) -> Result<&'v str, String> {
    let value = match value {
        Payload::TooLong(size) => {
            return Err(format!(
                "malformed payload: {size} bytes, a value has at most {MAX_VALUE_LEN}"
            ));
        }
        Payload::Value(Ok("")) => return Err("malformed payload: empty value".into()),
        Payload::Value(Ok(v)) if v.len() > MAX_VALUE_LEN || v.chars().any(char::is_control) => {
            return Err("malformed payload: not a plain value".into());
        }
        Payload::Value(Ok(v)) => v,
        Payload::Value(Err(_)) => return Err("malformed payload: not UTF-8".into()),
    };
    if !cfg.writes {
        return Err("writes are disabled ([mqtt] writes = false)".into());
    }
    let allowed = cfg
        .allow
        .get(device)
        .is_some_and(|list| list.iter().any(|s| s == setting));
    if !allowed {
        return Err(format!(
            "setting {setting:?} is not in the allow-list of {device:?} ([mqtt.allow])"
        ));
    }
    validate(driver, setting, value).map_err(|e| format!("refused before sending: {e}"))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn topics() {
        assert_eq!(
            parse_topic("sungate", "sungate/inverter/set/output_source_priority"),
            Some(("inverter", "output_source_priority"))
        );
        assert_eq!(parse_topic("sungate", "sungate/inverter/set/a/b"), None);
        assert_eq!(parse_topic("sungate", "sungatex/inverter/set/a"), None);
        assert_eq!(parse_topic("sungate", "sungate//set/a"), None);
    }

    fn config(writes: bool) -> MqttConfig {
        let text = format!(
            "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\n\
             driver = \"pi30\"\nport = \"p\"\n[mqtt]\nhost = \"b\"\nwrites = {writes}\n\
             [mqtt.allow]\ninverter = [\"output_source_priority\"]\n"
        );
        match crate::config::Config::parse(&text, "t").map(|c| c.mqtt) {
            Ok(Some(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bad_command_is_refused_with_its_reason() {
        let on = config(true);
        fn run(cfg: &MqttConfig, setting: &str, payload: &[u8]) -> Result<String, String> {
            let received = Received::from(Publish::new(
                "sungate/inverter/set/x",
                rumqttc::QoS::AtMostOnce,
                payload,
            ));
            check(cfg, DriverKind::Pi30, "inverter", setting, received.value()).map(str::to_owned)
        }
        assert_eq!(
            run(&on, "output_source_priority", b" solar_first\n"),
            Ok("solar_first".to_owned())
        );
        for (setting, payload, reason) in [
            ("output_source_priority", &b"\xff\xfe"[..], "not UTF-8"),
            ("output_source_priority", b"", "empty"),
            (
                "output_source_priority",
                b"solar\x00first",
                "not a plain value",
            ),
            (
                "output_source_priority",
                &[b'a'; 65][..],
                "not a plain value",
            ),
            (
                "output_source_priority",
                b"moon_first",
                "refused before sending",
            ),
            ("charger_source_priority", b"solar_only", "allow-list"),
            ("volume", b"3", "allow-list"),
            (
                "output_source_priority",
                &vec![b'a'; 200 * 1024][..],
                "malformed payload: 204800 bytes",
            ),
        ] {
            let err = run(&on, setting, payload).unwrap_err();
            assert!(err.contains(reason), "{setting} {payload:?}: {err}");
        }
        let err = run(&config(false), "output_source_priority", b"solar_first").unwrap_err();
        assert!(err.contains("writes are disabled"), "{err}");
    }

    #[test]
    fn a_retained_command_is_refused_and_costs_no_token() {
        let cfg = config(true);
        let t0 = Instant::now();
        let mut bucket = RateLimit::new(1, cfg.command_interval, t0);
        let mut message = Publish::new(
            "sungate/inverter/set/output_source_priority",
            rumqttc::QoS::AtLeastOnce,
            "sbu_first",
        );
        message.retain = true;
        let retained = Received::from(message.clone());
        let err = screen(
            &cfg,
            &mut bucket,
            t0,
            &retained,
            DriverKind::Pi30,
            "inverter",
            "output_source_priority",
        )
        .unwrap_err();
        assert!(err.starts_with("retained message"), "{err}");
        // The same message fresh is accepted, with the one token still there.
        message.retain = false;
        let fresh = Received::from(message);
        assert_eq!(
            screen(
                &cfg,
                &mut bucket,
                t0,
                &fresh,
                DriverKind::Pi30,
                "inverter",
                "output_source_priority"
            ),
            Ok("sbu_first")
        );
    }

    #[test]
    fn an_oversize_payload_is_not_kept() {
        let big = Received::from(Publish::new(
            "sungate/inverter/set/output_source_priority",
            rumqttc::QoS::AtMostOnce,
            vec![b'x'; 200 * 1024],
        ));
        assert_eq!(big.payload, Err(200 * 1024));
        assert!(!big.retained);
    }

    #[test]
    fn validation_is_the_cli_one() {
        assert!(validate(DriverKind::Pi30, "output_source_priority", "solar_first").is_ok());
        assert!(validate(DriverKind::Pi30, "output_source_priority", "moon_first").is_err());
        assert!(validate(DriverKind::Pi30, "volume", "3").is_err());
    }

    #[test]
    fn a_read_only_register_is_refused_even_if_allow_listed() {
        // check-config refuses such an allow-list; a command is still checked on its own.
        let mut cfg = config(true);
        cfg.allow.insert(
            "mppt".into(),
            vec!["panel_power".into(), "float_voltage".into()],
        );
        let run = |setting: &str, value: &str| {
            check(
                &cfg,
                DriverKind::Vedirect,
                "mppt",
                setting,
                Payload::Value(Ok(value)),
            )
            .map(str::to_owned)
        };
        assert_eq!(
            run("panel_power", "5"),
            Err("refused before sending: panel_power (0xEDBC) is read-only".into())
        );
        assert_eq!(run("float_voltage", "13.8"), Ok("13.8".into()));
    }
}
