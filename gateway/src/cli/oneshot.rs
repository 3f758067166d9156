//! One-shot commands: `sungate query`, `sungate set`, `sungate scan`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value as Json, json};
use sungate::core::opener::open_spec;
use sungate::decode::{JsonStyle, reading_json};
use sungate::types::DriverKind;
use sungate_drivers::Reading;
use sungate_drivers::driver::{Command, Driver};
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};
use sungate_drivers::pi30::queries::Query;
use sungate_drivers::vedirect::driver::{VeDirectDriver, VeDirectOptions};
use sungate_drivers::vedirect::registers;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Pi30,
    Vedirect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
}

fn default_baud(protocol: Protocol) -> u32 {
    match protocol {
        Protocol::Pi30 => 2400,
        Protocol::Vedirect => 19200,
    }
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

fn driver_kind(protocol: Protocol) -> DriverKind {
    match protocol {
        Protocol::Pi30 => DriverKind::Pi30,
        Protocol::Vedirect => DriverKind::Vedirect,
    }
}

pub async fn query(
    port: &str,
    protocol: Protocol,
    baud: Option<u32>,
    commands: &[String],
    format: Format,
    timeout: Duration,
) -> Result<()> {
    // Check every command before touching the port.
    let queries: Vec<Query> = match protocol {
        Protocol::Pi30 => {
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
        Protocol::Vedirect => Vec::new(),
    };
    let regs = match protocol {
        Protocol::Vedirect => commands
            .iter()
            .map(|c| register(c))
            .collect::<Result<Vec<_>>>()?,
        Protocol::Pi30 => Vec::new(),
    };
    let mut link = open_spec(port, baud.unwrap_or(default_baud(protocol)), timeout)
        .await
        .map_err(|e| anyhow!(e))?;
    let mut results = Vec::new();
    match protocol {
        Protocol::Pi30 => {
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
        Protocol::Vedirect => {
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
    protocol: Protocol,
    baud: Option<u32>,
    name: &str,
    value: &str,
    timeout: Duration,
) -> Result<()> {
    // Validate before anything could be written: the same check as MQTT commands.
    sungate::setting::validate(driver_kind(protocol), name, value)
        .map_err(|e| anyhow!("refused before sending: {e}"))?;
    let mut link = open_spec(port, baud.unwrap_or(default_baud(protocol)), timeout)
        .await
        .map_err(|e| anyhow!(e))?;
    let command = Command::Set {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let outcome = match protocol {
        Protocol::Pi30 => {
            let mut driver = Pi30Driver::new(Pi30Options {
                reply_timeout: timeout,
                ..Pi30Options::default()
            });
            // identify learns the unit's own limits (QMCHGCR, nominal voltage) to check against
            driver
                .identify(link.as_mut())
                .await
                .with_context(|| format!("identifying the unit on {port}"))?;
            driver.execute(link.as_mut(), &command).await?
        }
        Protocol::Vedirect => {
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

/// Try PI30 at 2400 baud, then VE.Direct text at 19200.
async fn probe_serial(path: &str) -> String {
    if let Ok(mut link) = open_spec(path, 2400, Duration::from_secs(1)).await {
        let driver = Pi30Driver::new(Pi30Options {
            reply_timeout: Duration::from_millis(1500),
            ..Pi30Options::default()
        });
        if let Ok(r) = driver.query(link.as_mut(), Query::Qpi).await {
            return format!(
                "PI30 inverter ({})",
                r.value("protocol_id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
            );
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
    "no answer".into()
}
