//! One-shot commands: `sungate query` (and `sungate query … identify`, which tells the
//! protocol a Voltronic unit speaks), `sungate set`, `sungate scan`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value as Json, json};
use sungate::core::opener::open_spec;
use sungate::decode::{JsonStyle, reading_json};
use sungate::types::DriverKind;
use sungate_drivers::Reading;
use sungate_drivers::detect::{Verdict, detect};
use sungate_drivers::driver::{Command, Driver};
use sungate_drivers::pi18::driver::{Pi18Driver, Pi18Options};
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};
use sungate_drivers::pi30::queries::Query;
use sungate_drivers::vedirect::driver::{VeDirectDriver, VeDirectOptions};
use sungate_drivers::vedirect::registers;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
}

fn print(results: Vec<(String, Reading)>, format: Format) {
    match format {
        Format::Json => {
            let json = if let [(_, reading)] = results.as_slice() {
                reading_json(reading, JsonStyle::Plain)
            } else {
                let mut map = Map::new();
                for (name, reading) in &results {
                    map.insert(name.clone(), reading_json(reading, JsonStyle::Plain));
                }
                Json::Object(map)
            };
            println!("{json}");
        }
        Format::Table => {
            for (name, reading) in &results {
                println!("{name}");
                let width = reading.iter().map(|f| f.name.len()).max().unwrap_or(0);
                for f in reading.iter() {
                    let value = match &f.value {
                        sungate_drivers::Value::Text(s) => s.clone(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    };
                    println!("  {:width$}  {value} {}", f.name, f.unit.unwrap_or(""));
                }
            }
        }
    }
}

/// A VE.Direct register by name (`battery_temperature`) or id (`0xEDEC`).
fn register(name: &str) -> Result<&'static registers::Register> {
    registers::find(name).ok_or_else(|| {
        anyhow!("unknown VE.Direct register {name:?} (a name from the register table or an id like 0xEDEC)")
    })
}

pub async fn query(
    port: &str,
    protocol: DriverKind,
    baud: Option<u32>,
    commands: &[String],
    format: Format,
    timeout: Duration,
) -> Result<()> {
    if let [word] = commands {
        if word.eq_ignore_ascii_case("identify") && protocol != DriverKind::Vedirect {
            return identify(port, protocol, baud, format, timeout).await;
        }
    }
    // Check every command before touching the port.
    let pi18_queries: Vec<sungate_drivers::pi18::Query> = match protocol {
        DriverKind::Pi18 => {
            if commands.is_empty() {
                bail!("name at least one query, e.g. GS (or identify)");
            }
            commands
                .iter()
                .map(|c| c.parse().map_err(|_| anyhow!("unknown PI18 query {c:?}")))
                .collect::<Result<_>>()?
        }
        _ => Vec::new(),
    };
    let queries: Vec<Query> = match protocol {
        DriverKind::Pi18 => Vec::new(),
        DriverKind::Pi30 => {
            if commands.is_empty() {
                bail!("name at least one query, e.g. QPIGS");
            }
            commands
                .iter()
                .map(|c| {
                    c.parse::<Query>()
                        .map_err(|_| anyhow!("unknown PI30 query {c:?}"))
                })
                .collect::<Result<_>>()?
        }
        DriverKind::Vedirect => Vec::new(),
    };
    let regs = match protocol {
        DriverKind::Vedirect => commands
            .iter()
            .map(|c| register(c))
            .collect::<Result<Vec<_>>>()?,
        DriverKind::Pi30 | DriverKind::Pi18 => Vec::new(),
    };
    let mut link = open_spec(port, baud.unwrap_or(protocol.default_baud()), timeout)
        .await
        .map_err(|e| anyhow!(e))?;
    let mut results = Vec::new();
    match protocol {
        DriverKind::Pi30 => {
            let driver = Pi30Driver::new(Pi30Options {
                reply_timeout: timeout,
                ..Pi30Options::default()
            });
            for q in queries {
                let reading = driver
                    .query(link.as_mut(), q)
                    .await
                    .with_context(|| format!("{} on {port}", q.command()))?;
                results.push((q.command(), reading));
            }
        }
        DriverKind::Pi18 => {
            let mut driver = Pi18Driver::new(Pi18Options {
                reply_timeout: timeout,
                ..Pi18Options::default()
            });
            for q in pi18_queries {
                let reading = driver
                    .query(link.as_mut(), q)
                    .await
                    .with_context(|| format!("{q} on {port}"))?;
                results.push((q.command().to_owned(), reading));
            }
        }
        DriverKind::Vedirect => {
            let mut driver = VeDirectDriver::new(VeDirectOptions::default());
            if regs.is_empty() {
                let snapshot = driver
                    .poll(link.as_mut())
                    .await
                    .with_context(|| format!("reading a record on {port}"))?;
                results.push(("record".into(), snapshot.flatten()));
            }
            for reg in regs {
                let bytes = driver
                    .get_register(link.as_mut(), reg.id)
                    .await
                    .with_context(|| format!("get 0x{:04X} on {port}", reg.id))?;
                let mut reading = Reading::new();
                let value = match reg.decode(&bytes)? {
                    Some(v) => v,
                    None => sungate_drivers::Value::Text("not available".into()),
                };
                let mut field = sungate_drivers::Field::new(reg.name, value);
                field.unit = reg.unit;
                reading.push(field);
                results.push((reg.name.to_owned(), reading));
            }
        }
    }
    print(results, format);
    Ok(())
}

pub async fn set(
    port: &str,
    protocol: DriverKind,
    baud: Option<u32>,
    name: &str,
    value: &str,
    timeout: Duration,
) -> Result<()> {
    // Validate before anything could be written: the same check as MQTT commands.
    sungate::setting::validate(protocol, name, value)
        .map_err(|e| anyhow!("refused before sending: {e}"))?;
    let mut link = open_spec(port, baud.unwrap_or(protocol.default_baud()), timeout)
        .await
        .map_err(|e| anyhow!(e))?;
    let command = Command::Set {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let outcome = match protocol {
        DriverKind::Pi30 | DriverKind::Pi18 => {
            let mut driver = protocol.build(&[], timeout);
            // identify learns the unit's own limits (MCHGCR lists, nominal voltage) to check
            // against
            driver
                .identify(link.as_mut())
                .await
                .with_context(|| format!("identifying the unit on {port}"))?;
            driver.execute(link.as_mut(), &command).await?
        }
        DriverKind::Vedirect => {
            let reg = register(name)?;
            let command = Command::Set {
                name: reg.name.to_owned(),
                value: value.to_owned(),
            };
            VeDirectDriver::new(VeDirectOptions::default())
                .execute(link.as_mut(), &command)
                .await?
        }
    };
    println!(
        "{}",
        json!({ "ok": true, "sent": outcome.sent, "verified": outcome.verified, "detail": outcome.detail })
    );
    Ok(())
}

pub async fn scan(probe: bool) -> Result<()> {
    let found = sungate::scan::candidates(std::path::Path::new("/sys"));
    if found.is_empty() {
        println!("no hidraw or USB/ACM serial ports found");
    }
    for c in &found {
        let mut line = format!(
            "{:<16} {:<7} {}",
            c.path,
            c.kind,
            c.usb_id.as_deref().unwrap_or("-")
        );
        if let Some(d) = &c.description {
            line.push_str(&format!("  {d}"));
        }
        if let Some(g) = c.guess {
            line.push_str(&format!("  [{g}]"));
        }
        if probe && c.kind == "serial" {
            line.push_str(&format!("  probe: {}", probe_serial(&c.path).await));
        }
        println!("{line}");
    }
    Ok(())
}

/// `sungate query --port … identify`: which protocol the unit speaks (queries only, never a
/// setter), and what a supported unit says about itself.
async fn identify(
    port: &str,
    protocol: DriverKind,
    baud: Option<u32>,
    format: Format,
    timeout: Duration,
) -> Result<()> {
    let mut link = open_spec(port, baud.unwrap_or(protocol.default_baud()), timeout)
        .await
        .map_err(|e| anyhow!(e))?;
    let detection = detect(link.as_mut(), timeout)
        .await
        .with_context(|| format!("probing {port}"))?;
    let family = detection.verdict.family().cloned();
    let driver = family.as_ref().and_then(|f| f.driver());
    let info = match driver.and_then(|d| DriverKind::ALL.into_iter().find(|k| k.name() == d)) {
        Some(kind) => {
            let mut driver = kind.build(&[], timeout);
            Some(
                driver
                    .identify(link.as_mut())
                    .await
                    .with_context(|| format!("identifying the unit on {port}"))?,
            )
        }
        None => None,
    };
    match format {
        Format::Table => {
            println!("{}", detection.verdict);
            if let Some(info) = &info {
                for (k, v) in [
                    ("model", &info.model),
                    ("serial", &info.serial),
                    ("firmware", &info.firmware),
                ] {
                    if let Some(v) = v {
                        println!("  {k:9} {v}");
                    }
                }
            }
            for (probe, answer) in &detection.transcript {
                println!(
                    "  {:18} -> {}",
                    probe.name(),
                    answer
                        .as_deref()
                        .map_or_else(|| "silence".to_owned(), printable)
                );
            }
        }
        Format::Json => {
            let transcript: Vec<Json> = detection
                .transcript
                .iter()
                .map(|(probe, answer)| {
                    json!({ "probe": probe.name(), "answer": answer.as_deref().map(printable) })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "verdict": detection.verdict.to_string(),
                    "protocol": family.as_ref().map(|f| f.name().to_owned()),
                    "supported": family.as_ref().is_some_and(|f| f.is_supported()),
                    "driver": driver,
                    "info": info,
                    "transcript": transcript,
                })
            );
        }
    }
    Ok(())
}

/// A raw answer for people: printable ASCII as is, other bytes as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'\r' => "\\r".to_owned(),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02X}"),
        })
        .collect()
}

/// Tell the Voltronic protocol at 2400 baud (PI30, PI18, PI17, PI16 …), then try VE.Direct text
/// at 19200.
async fn probe_serial(path: &str) -> String {
    let mut unknown = None;
    if let Ok(mut link) = open_spec(path, 2400, Duration::from_secs(1)).await {
        match detect(link.as_mut(), Duration::from_millis(1000)).await {
            Ok(d) => match d.verdict {
                Verdict::Speaks(_) => return d.verdict.to_string(),
                Verdict::Unknown(_) => unknown = Some(d.verdict.to_string()),
            },
            Err(e) => unknown = Some(format!("unknown: {e}")),
        }
    }
    if let Ok(mut link) = open_spec(path, 19200, Duration::from_secs(1)).await {
        let mut driver = VeDirectDriver::new(VeDirectOptions {
            record_timeout: Duration::from_secs(3),
            ..VeDirectOptions::default()
        });
        if let Ok(info) = driver.identify(link.as_mut()).await {
            return format!("VE.Direct {}", info.model.unwrap_or_default());
        }
    }
    unknown.unwrap_or_else(|| "no answer".into())
}
