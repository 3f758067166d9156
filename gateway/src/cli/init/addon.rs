//! `sungate addon-config`: the Home Assistant add-on's options (`/data/options.json`, shaped by
//! the `schema` of `ha-addon/sungate/config.yaml`) turned into a sungate config. Done here, in
//! the binary, rather than in the add-on's shell script, so that the translation is tested in
//! Rust and its result goes through the same parser as `sungate check-config`.
//!
//! - `devices` empty and `auto_detect` on: the ports are probed as `sungate init` does (USB HID
//!   inverters and /dev/serial/by-id, which the add-on sees with `uart` and `usb` access), and
//!   a BMV -> MPPT bridge is written when both are found.
//! - MQTT: the options' `mqtt_host` when set, otherwise the broker the Supervisor's MQTT service
//!   names (the run script passes it with `--mqtt`, `--mqtt-username` and the
//!   SUNGATE_MQTT_PASSWORD environment variable).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sungate::types::{DriverKind, Transport};

use super::plan::{self, Found, Mqtt, Options, Plan, Planned, Role};
use super::probe::Where;

#[derive(Debug, clap::Args)]
pub struct AddonArgs {
    /// The add-on's options (JSON, as the Supervisor writes them).
    #[arg(long, default_value = "/data/options.json")]
    pub options: PathBuf,
    /// The config to write ("-": standard output). Replaced at every start.
    #[arg(short, long, default_value = "/data/sungate.toml")]
    pub output: PathBuf,
    /// The Supervisor's MQTT broker (HOST or HOST:PORT), used unless the options name one.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub mqtt: Option<String>,
    #[arg(long)]
    pub mqtt_username: Option<String>,
    /// The history database (the add-on's persistent /data).
    #[arg(long, default_value = "/data/history.db")]
    pub history: String,
    /// Seconds to wait for each reply while auto-detecting.
    #[arg(long, default_value_t = 1.0)]
    pub timeout: f64,
}

/// The options, exactly the keys of the add-on's schema (an unknown key is an error: the
/// schema and this struct must not drift apart; the add-on test checks both).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonOptions {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default = "yes")]
    pub auto_detect: bool,
    #[serde(default)]
    pub devices: Vec<AddonDevice>,
    /// Auto-detect: write a BMV -> MPPT bridge when both are found.
    #[serde(default = "yes")]
    pub bridge: bool,
    /// Listed devices: the bridge's source and targets by name.
    #[serde(default)]
    pub bridge_source: Option<String>,
    #[serde(default)]
    pub bridge_targets: Vec<String>,
    #[serde(default)]
    pub mqtt_host: Option<String>,
    #[serde(default)]
    pub mqtt_port: Option<u16>,
    #[serde(default)]
    pub mqtt_username: Option<String>,
    #[serde(default)]
    pub mqtt_password: Option<String>,
    #[serde(default)]
    pub mqtt_prefix: Option<String>,
    /// Serve the dashboard on the add-on's port 8080.
    #[serde(default = "yes")]
    pub dashboard: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonDevice {
    pub name: String,
    /// pi30, pi18 or vedirect.
    pub driver: String,
    /// A serial device, hid:0665:5161[:serial] or tcp://HOST:PORT.
    pub port: String,
    #[serde(default)]
    pub poll_interval: Option<f64>,
}

fn default_name() -> String {
    "home-assistant".into()
}

fn yes() -> bool {
    true
}

/// An optional text option: Home Assistant's UI leaves an emptied field as "".
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl AddonOptions {
    pub fn parse(text: &str) -> Result<AddonOptions> {
        serde_json::from_str(text).context("the add-on options are not what its schema describes")
    }

    /// The listed devices as a plan (names as the user gave them).
    pub fn listed_plan(&self) -> Result<Plan> {
        let mut devices = Vec::new();
        for d in &self.devices {
            let driver = DriverKind::ALL
                .into_iter()
                .find(|k| k.name() == d.driver.trim())
                .with_context(|| {
                    format!(
                        "device {:?}: driver {:?} is not one of pi30, pi18, vedirect",
                        d.name, d.driver
                    )
                })?;
            let transport =
                Transport::from_spec(d.port.trim(), 0).map_err(|e| anyhow::anyhow!(e))?;
            let (key, address) = transport.key_value();
            devices.push(Planned {
                name: d.name.trim().to_owned(),
                found: Found {
                    key,
                    address: address.to_owned(),
                    probed: d.port.trim().to_owned(),
                    role: match driver {
                        DriverKind::Vedirect => Role::OtherVictron("VE.Direct device"),
                        kind => Role::Inverter {
                            driver: kind,
                            max: false,
                        },
                    },
                    protocol: format!("{} (add-on options)", driver.name()),
                    model: None,
                    serial: None,
                    firmware: None,
                },
                driver,
                poll_interval: d
                    .poll_interval
                    .unwrap_or_else(|| driver.default_poll_interval()),
                queries: Vec::new(),
            });
        }
        let bridge = given(&self.bridge_source).map(|source| {
            (
                source.to_owned(),
                self.bridge_targets
                    .iter()
                    .map(|t| t.trim().to_owned())
                    .collect(),
            )
        });
        Ok(Plan {
            devices,
            bridge,
            skipped: Vec::new(),
        })
    }

    /// The sinks: MQTT from the options or else the Supervisor's service, the dashboard on the
    /// container's port 8080 (published or not by Home Assistant), history in /data.
    pub fn options(&self, supervisor_mqtt: Option<Mqtt>, history: &str) -> Result<Options, String> {
        let mqtt = match given(&self.mqtt_host) {
            Some(spec) => {
                let (host, port) = Mqtt::parse_host(spec)?;
                Some(Mqtt {
                    host,
                    port: self.mqtt_port.or(port),
                    username: given(&self.mqtt_username).map(str::to_owned),
                    password: given(&self.mqtt_password).map(str::to_owned),
                    prefix: None,
                })
            }
            None => supervisor_mqtt,
        }
        .map(|mut m| {
            m.prefix = given(&self.mqtt_prefix).map(str::to_owned);
            m
        });
        Ok(Options {
            gateway_name: super::gateway_name(&self.name),
            mqtt,
            http: self.dashboard.then(|| "0.0.0.0:8080".to_owned()),
            history: Some(history.to_owned()),
            bridge: self.bridge,
            header: "Written by `sungate addon-config` from the Home Assistant add-on's options \
                     at every start: change the options, not this file."
                .into(),
        })
    }
}

pub async fn addon_config(args: AddonArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.options)
        .with_context(|| format!("cannot read {}", args.options.display()))?;
    let options = AddonOptions::parse(&text)?;
    let supervisor = super::mqtt_from_args(args.mqtt.as_deref(), args.mqtt_username.as_deref())?;
    let sinks = options
        .options(supervisor, &args.history)
        .map_err(anyhow::Error::msg)?;
    if sinks.mqtt.is_none() {
        eprintln!(
            "sungate addon-config: no MQTT broker (no mqtt_host option and no MQTT service): \
             nothing reaches Home Assistant until one is set up"
        );
    }
    let plan = if !options.devices.is_empty() {
        options.listed_plan()?
    } else if options.auto_detect {
        let timeout = super::seconds(args.timeout)?;
        eprintln!("sungate addon-config: no devices listed: auto-detecting");
        let (found, notes) = super::discover(&Where::default(), timeout).await;
        for f in &found {
            eprintln!("{}", super::found_line(f));
        }
        for note in &notes {
            eprintln!("  not used: {note}");
        }
        if found.is_empty() {
            bail!(
                "no device answered: list them in the add-on's `devices` option \
                 (port: /dev/serial/by-id/..., hid:0665:5161 or tcp://HOST:PORT)"
            );
        }
        plan::plan(&found, options.bridge)
    } else {
        bail!("no devices listed and auto_detect is off: nothing to poll");
    };
    let text = plan::render(&plan, &sinks);
    super::validate(&text, &args.output)?;
    // The add-on owns this file: it is rewritten from the options at every start.
    super::write_config(&args.output, &text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::time::Duration;
    use sungate::config::Config;

    #[test]
    fn listed_devices_a_bridge_and_the_supervisors_broker() {
        let options = AddonOptions::parse(
            r#"{"name": "cabin", "auto_detect": false, "bridge": true,
                "devices": [
                  {"name": "inverter", "driver": "pi30", "port": "hid:0665:5161:9293"},
                  {"name": "bmv", "driver": "vedirect", "port": "/dev/serial/by-id/usb-VE-if00-port0", "poll_interval": 1},
                  {"name": "mppt", "driver": "vedirect", "port": "tcp://10.0.0.9:8899"}
                ],
                "bridge_source": "bmv", "bridge_targets": ["mppt"],
                "mqtt_host": "", "mqtt_prefix": "solar", "dashboard": true}"#,
        )
        .unwrap();
        let supervisor = Mqtt {
            host: "core-mosquitto".into(),
            port: Some(1883),
            username: Some("addons".into()),
            password: Some("secret".into()),
            prefix: None,
        };
        let sinks = options
            .options(Some(supervisor), "/data/history.db")
            .unwrap();
        let text = plan::render(&options.listed_plan().unwrap(), &sinks);
        let config = Config::parse(&text, "addon.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.devices.len(), 3);
        assert_eq!(config.devices[1].poll_interval, Duration::from_secs(1));
        assert_eq!(config.bridges[0].source, "bmv");
        let mqtt = config.mqtt.unwrap();
        assert_eq!(mqtt.host, "core-mosquitto");
        assert_eq!(mqtt.prefix, "solar");
        assert_eq!(mqtt.password.unwrap().expose(), "secret");
        assert_eq!(config.gateway.name.as_deref(), Some("cabin"));
        assert_eq!(config.http.unwrap().bind, "0.0.0.0:8080".parse().unwrap());
    }

    #[test]
    fn the_options_broker_wins_and_bad_options_are_named() {
        let options = AddonOptions::parse(
            r#"{"devices": [{"name": "inverter", "driver": "pi30", "port": "/dev/ttyUSB0"}],
                "mqtt_host": "broker.lan:1884", "mqtt_username": "me", "mqtt_password": "pw"}"#,
        )
        .unwrap();
        let sinks = options.options(None, "/data/history.db").unwrap();
        let mqtt = sinks.mqtt.unwrap();
        assert_eq!((mqtt.host.as_str(), mqtt.port), ("broker.lan", Some(1884)));
        assert_eq!(mqtt.username.as_deref(), Some("me"));

        let bad = AddonOptions::parse(
            r#"{"devices": [{"name": "inverter", "driver": "pi31", "port": "/dev/x"}]}"#,
        )
        .unwrap();
        let err = bad.listed_plan().unwrap_err().to_string();
        assert!(err.contains("pi31"), "{err}");
        let err = AddonOptions::parse(r#"{"devcies": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("schema"), "{err}");
    }
}
