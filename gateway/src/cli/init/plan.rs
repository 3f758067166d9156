//! From what was found to a config file: device names, ports, poll intervals, the bridge, the
//! sinks, and the commented TOML text. Pure (no I/O), so every rule is unit-tested here; the
//! text is then checked by the same parser as `sungate check-config` before it is written.

use std::fmt::Write as _;

use sungate::types::DriverKind;

/// What answered on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A Voltronic inverter (PI30, PI30 MAX, PI18). `max`: a PI30 MAX unit (answers QPIGS2).
    Inverter { driver: DriverKind, max: bool },
    /// A Victron battery monitor (BMV, SmartShunt): the bridge's source.
    BatteryMonitor,
    /// A Victron solar charger (MPPT): a bridge target.
    SolarCharger,
    /// Another VE.Direct device (Phoenix inverter, charger ...): polled, never bridged.
    OtherVictron(&'static str),
}

/// One device found, with the stable address its port will be configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The config key of the port: `serial`, `hid` or `tcp`.
    pub key: &'static str,
    /// Its value: a /dev/serial/by-id path, `0665:5161:<serial>`, `host:port`.
    pub address: String,
    /// The node that was probed (`/dev/ttyUSB0`, `/dev/hidraw1`), for people.
    pub probed: String,
    pub role: Role,
    /// "PI30", "PI30 MAX", "PI18", "VE.Direct".
    pub protocol: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
}

/// The sinks and names init writes besides the devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub gateway_name: String,
    /// `[mqtt]`: host, port (None: the default), user name, password.
    pub mqtt: Option<Mqtt>,
    /// `[http] bind` (None: no dashboard).
    pub http: Option<String>,
    /// `[history] path` (None: no history store).
    pub history: Option<String>,
    /// Write a `[[bridge]]` when a battery monitor and a solar charger are found.
    pub bridge: bool,
    /// The first comment line (who wrote the file, from what).
    pub header: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mqtt {
    pub host: String,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Topic prefix (None: the default, `sungate`).
    pub prefix: Option<String>,
}

impl Mqtt {
    /// `HOST` or `HOST:PORT` (an IPv6 address in brackets: `[::1]:1883`).
    pub fn parse_host(spec: &str) -> Result<(String, Option<u16>), String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty MQTT host".into());
        }
        let (host, port) = match spec.rsplit_once(':') {
            // An IPv6 address without brackets has colons but no port.
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("MQTT port {port:?} is not a port number"))?;
                (host, Some(port))
            }
            _ => (spec, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("no host in {spec:?}"));
        }
        Ok((host.to_owned(), port))
    }
}

/// A device as it will be configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub name: String,
    pub found: Found,
    pub driver: DriverKind,
    pub poll_interval: f64,
    /// Queries to list (empty: the driver's defaults, written as a comment).
    pub queries: Vec<String>,
}

/// The devices to configure and the bridge between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub devices: Vec<Planned>,
    /// (source, targets) by device name.
    pub bridge: Option<(String, Vec<String>)>,
    /// Found but left out, with the reason (the second interface of one inverter).
    pub skipped: Vec<(Found, String)>,
}

/// Seconds between polls: the inverter's QPIGS changes slowly and costs about 0.5 s at 2400
/// baud; a battery monitor feeds the bridge (whose source must be under 10 s old) and sends a
/// record every second anyway; an MPPT's yield and stage change slowly.
fn poll_interval(role: &Role) -> f64 {
    match role {
        Role::Inverter { .. } => 5.0,
        Role::BatteryMonitor => 2.0,
        Role::SolarCharger | Role::OtherVictron(_) => 5.0,
    }
}

fn base_name(found: &Found) -> &'static str {
    match &found.role {
        Role::Inverter { .. } => "inverter",
        Role::BatteryMonitor
            if found
                .model
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("smartshunt")) =>
        {
            "smartshunt"
        }
        Role::BatteryMonitor => "bmv",
        Role::SolarCharger => "mppt",
        Role::OtherVictron(_) => "victron",
    }
}

/// Names, intervals and the bridge for what was found, in the order found (HID inverters,
/// then serial ports by path: the same machine gives the same names every time).
pub fn plan(found: &[Found], bridge: bool) -> Plan {
    let mut devices: Vec<Planned> = Vec::new();
    let mut skipped = Vec::new();
    for f in found {
        // One inverter seen on two interfaces (USB and RS232): the same serial number. Polling
        // it twice gains nothing and risks the multi-interface lockup.
        if let (Role::Inverter { .. }, Some(serial)) = (&f.role, &f.serial) {
            if let Some(first) = devices.iter().find(|d| {
                matches!(d.found.role, Role::Inverter { .. })
                    && d.found.serial.as_deref() == Some(serial)
            }) {
                skipped.push((
                    f.clone(),
                    format!(
                        "the same inverter (serial {serial}) as {}: one interface is enough",
                        first.name
                    ),
                ));
                continue;
            }
        }
        let base = base_name(f);
        let taken = devices
            .iter()
            .filter(|d| base_name(&d.found) == base)
            .count();
        let name = if taken == 0 {
            base.to_owned()
        } else {
            format!("{base}{}", taken + 1)
        };
        let (driver, queries) = match &f.role {
            Role::Inverter { driver, max } => {
                let mut queries = Vec::new();
                if *driver == DriverKind::Pi30 && *max {
                    // PV2 of a MAX unit is in QPIGS2 only; its lifetime PV and load energy
                    // (the energy counters' device source) in QET and QLT.
                    queries = driver.default_queries();
                    queries.extend(["QPIGS2", "QET", "QLT"].map(str::to_owned));
                }
                (*driver, queries)
            }
            _ => (DriverKind::Vedirect, Vec::new()),
        };
        devices.push(Planned {
            name,
            poll_interval: poll_interval(&f.role),
            found: f.clone(),
            driver,
            queries,
        });
    }
    let bridge = if bridge {
        let source = devices
            .iter()
            .find(|d| d.found.role == Role::BatteryMonitor)
            .map(|d| d.name.clone());
        let targets: Vec<String> = devices
            .iter()
            .filter(|d| d.found.role == Role::SolarCharger)
            .map(|d| d.name.clone())
            .collect();
        source.filter(|_| !targets.is_empty()).map(|s| (s, targets))
    } else {
        None
    };
    Plan {
        devices,
        bridge,
        skipped,
    }
}

/// A TOML string literal (quotes and backslashes escaped by the TOML library).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn describe(found: &Found) -> String {
    let mut text = found.protocol.clone();
    if let Some(model) = &found.model {
        let _ = write!(text, " {model}");
    }
    if let Some(serial) = &found.serial {
        let _ = write!(text, ", serial {serial}");
    }
    if let Some(firmware) = &found.firmware {
        let _ = write!(text, ", firmware {firmware}");
    }
    text
}

/// The config file: every section with a comment saying why it is so.
pub fn render(plan: &Plan, options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}", options.header);
    out.push_str(
        "# Check it with `sungate check-config FILE`; every key is described in the README.\n\n",
    );
    let _ = writeln!(
        out,
        "[gateway]\nname = {}   # MQTT client id, Home Assistant device names\n",
        quoted(&options.gateway_name)
    );
    for d in &plan.devices {
        let _ = writeln!(
            out,
            "# {}: {} (found on {})",
            d.name,
            describe(&d.found),
            d.found.probed
        );
        out.push_str("[[port]]\n");
        let _ = writeln!(out, "name = {}", quoted(&d.name));
        let why = match d.found.key {
            "hid" if d.found.address.matches(':').count() >= 2 => {
                "   # USB ids + the inverter's serial: found again under any hidraw number"
            }
            "hid" => "   # USB ids: found again under any hidraw number",
            "serial" if d.found.address.starts_with("/dev/serial/by-id/") => {
                "   # by id: the same name whichever USB port it is plugged into"
            }
            "serial" if d.found.address.starts_with("/dev/serial/by-path/") => {
                "   # by USB socket: keep the cable in the same socket"
            }
            _ => "",
        };
        let _ = writeln!(out, "{} = {}{why}", d.found.key, quoted(&d.found.address));
        out.push_str("\n[[device]]\n");
        let _ = writeln!(out, "name = {}", quoted(&d.name));
        let _ = writeln!(out, "driver = {}", quoted(d.driver.name()));
        let _ = writeln!(out, "port = {}", quoted(&d.name));
        let _ = writeln!(out, "poll_interval = {:?}   # seconds", d.poll_interval);
        if d.driver.takes_queries() {
            if d.queries.is_empty() {
                let _ = writeln!(
                    out,
                    "# queries = [{}]   # the default; add QPIRI for the settings",
                    d.driver
                        .default_queries()
                        .iter()
                        .map(|q| quoted(q))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            } else {
                let _ = writeln!(
                    out,
                    "queries = [{}]",
                    d.queries
                        .iter()
                        .map(|q| quoted(q))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        out.push('\n');
    }
    for (found, reason) in &plan.skipped {
        let _ = writeln!(
            out,
            "# Not configured: {} on {} ({reason}).",
            describe(found),
            found.probed
        );
    }
    if !plan.skipped.is_empty() {
        out.push('\n');
    }
    if let Some((source, targets)) = &plan.bridge {
        out.push_str(
            "# The battery monitor's temperature and voltage go to the MPPTs' remote-sense\n\
             # registers, refreshed well inside the MPPT's 60 s timeout; when the source is stale\n\
             # the MPPTs are told at once to fall back to their own sensing.\n",
        );
        out.push_str("[[bridge]]\nname = \"battery-sense\"\n");
        let _ = writeln!(out, "source = {}", quoted(source));
        let _ = writeln!(
            out,
            "targets = [{}]",
            targets
                .iter()
                .map(|t| quoted(t))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.push_str("refresh_interval = 15.0\n\n");
    }
    if let Some(mqtt) = &options.mqtt {
        out.push_str(
            "# MQTT with Home Assistant discovery: every device appears in Home Assistant by itself.\n",
        );
        out.push_str("[mqtt]\n");
        let _ = writeln!(out, "host = {}", quoted(&mqtt.host));
        if let Some(port) = mqtt.port {
            let _ = writeln!(out, "port = {port}");
        }
        if let Some(user) = &mqtt.username {
            let _ = writeln!(out, "username = {}", quoted(user));
        }
        if let Some(password) = &mqtt.password {
            let _ = writeln!(out, "password = {}", quoted(password));
        }
        if let Some(prefix) = &mqtt.prefix {
            let _ = writeln!(out, "prefix = {}", quoted(prefix));
        }
        out.push_str(
            "writes = false   # true (and [mqtt.allow]) lets Home Assistant change settings\n\n",
        );
    } else {
        out.push_str(
            "# MQTT / Home Assistant: `sungate init --mqtt HOST` writes this section.\n\
             # [mqtt]\n# host = \"192.168.1.10\"\n\n",
        );
    }
    if let Some(bind) = &options.http {
        out.push_str("# The dashboard and HTTP API (read-only: writes need a token file).\n");
        let _ = writeln!(
            out,
            "[http]\nbind = {}   # \"0.0.0.0:8080\" for the LAN\n",
            quoted(bind)
        );
    }
    if let Some(path) = &options.history {
        out.push_str("# History: every snapshot for 7 days, minute buckets for two years.\n");
        let _ = writeln!(
            out,
            "[history]\npath = {}\nraw_retention = \"7d\"\naggregate_retention = \"730d\"",
            quoted(path)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use sungate::config::Config;

    fn found(key: &'static str, address: &str, role: Role, serial: Option<&str>) -> Found {
        Found {
            key,
            address: address.into(),
            probed: address.into(),
            protocol: match role {
                Role::Inverter { .. } => "PI30".into(),
                _ => "VE.Direct".into(),
            },
            role,
            model: None,
            serial: serial.map(str::to_owned),
            firmware: None,
        }
    }

    fn options() -> Options {
        Options {
            gateway_name: "cabin".into(),
            mqtt: None,
            http: Some("127.0.0.1:8080".into()),
            history: Some("/var/lib/sungate/history.db".into()),
            bridge: true,
            header: "test".into(),
        }
    }

    const INVERTER: Role = Role::Inverter {
        driver: DriverKind::Pi30,
        max: false,
    };

    #[test]
    fn names_intervals_and_a_bridge_from_a_bmv_to_every_mppt() {
        let found = vec![
            found("hid", "0665:5161:92931", INVERTER, Some("92931")),
            found("serial", "/dev/serial/by-id/a", Role::BatteryMonitor, None),
            found("serial", "/dev/serial/by-id/b", Role::SolarCharger, None),
            found("serial", "/dev/serial/by-id/c", Role::SolarCharger, None),
        ];
        let plan = plan(&found, true);
        let names: Vec<_> = plan.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["inverter", "bmv", "mppt", "mppt2"]);
        assert_eq!(plan.devices[0].poll_interval, 5.0);
        assert_eq!(plan.devices[1].poll_interval, 2.0);
        assert_eq!(
            plan.bridge,
            Some(("bmv".into(), vec!["mppt".into(), "mppt2".into()]))
        );
        let text = render(&plan, &options());
        let config = Config::parse(&text, "init.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.devices.len(), 4);
        assert_eq!(config.bridges.len(), 1);
        assert_eq!(config.bridges[0].targets, ["mppt", "mppt2"]);
        assert!(config.mqtt.is_none());
        assert!(config.http.is_some() && config.history.is_some());
        assert!(text.contains("hid = \"0665:5161:92931\""), "{text}");
    }

    #[test]
    fn no_bridge_without_both_ends_or_when_not_asked() {
        let bmv_only = vec![found("serial", "/dev/a", Role::BatteryMonitor, None)];
        assert_eq!(plan(&bmv_only, true).bridge, None);
        let both = vec![
            found("serial", "/dev/a", Role::BatteryMonitor, None),
            found("serial", "/dev/b", Role::SolarCharger, None),
        ];
        assert_eq!(plan(&both, false).bridge, None);
        assert!(plan(&both, true).bridge.is_some());
    }

    #[test]
    fn one_inverter_on_two_interfaces_is_configured_once() {
        let found = vec![
            found("hid", "0665:5161:555", INVERTER, Some("555")),
            found("serial", "/dev/serial/by-id/x", INVERTER, Some("555")),
            found("serial", "/dev/serial/by-id/y", INVERTER, Some("777")),
        ];
        let plan = plan(&found, true);
        let names: Vec<_> = plan.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["inverter", "inverter2"]);
        assert_eq!(plan.devices[1].found.serial.as_deref(), Some("777"));
        assert_eq!(plan.skipped.len(), 1);
        let text = render(&plan, &options());
        assert!(text.contains("# Not configured: PI30, serial 555 on /dev/serial/by-id/x"));
        Config::parse(&text, "init.toml").unwrap();
    }

    #[test]
    fn a_max_unit_polls_qpigs2_and_mqtt_is_written_when_asked() {
        let found = vec![found(
            "serial",
            "/dev/serial/by-id/a \"quoted\"",
            Role::Inverter {
                driver: DriverKind::Pi30,
                max: true,
            },
            None,
        )];
        let mut options = options();
        options.mqtt = Some(Mqtt {
            host: "broker.lan".into(),
            port: Some(1884),
            username: Some("sungate".into()),
            password: Some("p\"w".into()),
            prefix: None,
        });
        let text = render(&plan(&found, true), &options);
        let config = Config::parse(&text, "init.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(config.devices[0].queries.iter().any(|q| q == "QPIGS2"));
        assert!(config.devices[0].queries.iter().any(|q| q == "QET"));
        let mqtt = config.mqtt.unwrap();
        assert_eq!((mqtt.host.as_str(), mqtt.port), ("broker.lan", 1884));
        assert_eq!(mqtt.password.unwrap().expose(), "p\"w");
        assert!(!mqtt.writes);
    }

    #[test]
    fn mqtt_hosts() {
        assert_eq!(Mqtt::parse_host("broker"), Ok(("broker".into(), None)));
        assert_eq!(
            Mqtt::parse_host("10.0.0.2:1884"),
            Ok(("10.0.0.2".into(), Some(1884)))
        );
        assert_eq!(
            Mqtt::parse_host("[fd00::1]:8883"),
            Ok(("fd00::1".into(), Some(8883)))
        );
        assert_eq!(Mqtt::parse_host("fd00::1"), Ok(("fd00::1".into(), None)));
        assert!(Mqtt::parse_host("broker:x").is_err());
        assert!(Mqtt::parse_host(":1883").is_err());
        assert!(Mqtt::parse_host("").is_err());
    }
}
