//! Issue 15, the Home Assistant add-on (ha-addon/), checked offline:
//! - `config.yaml` against the Supervisor's rules for an add-on config (required keys, slug,
//!   architectures, startup/boot values, service declarations, device access) and every
//!   element of its options `schema` against the Supervisor's schema grammar
//!   (`supervisor/addons/options.py`, RE_SCHEMA_ELEMENT, ported below);
//! - the default `options` and sample options validated against that schema the way the
//!   Supervisor validates them before it starts the add-on (required keys, types, ranges,
//!   `list(...)`, `match(...)`), and a wrong sample refused;
//! - the sample options turned into a sungate config by the binary (`sungate addon-config`, what
//!   the add-on's run script calls), which `sungate check-config` accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use regex::Regex;
use serde_json::{Value as Json, json};
use yaml_rust2::{Yaml, YamlLoader};

fn addon_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ha-addon/sungate")
}

fn to_json(y: &Yaml) -> Json {
    match y {
        Yaml::Real(r) => json!(r.parse::<f64>().unwrap()),
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Json::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => panic!("a YAML key that is not a string: {other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Null => Json::Null,
        other => panic!("unsupported YAML: {other:?}"),
    }
}

fn yaml_file(name: &str) -> Json {
    let path = addon_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one YAML document");
    to_json(&docs[0])
}

/// The Supervisor's grammar of one schema element (supervisor/addons/options.py).
fn schema_element() -> Regex {
    Regex::new(concat!(
        r"^(?:",
        r"|bool",
        r"|email",
        r"|url",
        r"|port",
        r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?",
        r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?",
        r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?",
        r"|int(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?",
        r"|float(?:\((?P<f_min>[\d\.]+)?,(?P<f_max>[\d\.]+)?\))?",
        r"|match\((?P<match>.*)\)",
        r"|list\((?P<list>.+)\)",
        r")\??$"
    ))
    .unwrap()
}

/// SCHEMA_ELEMENT of supervisor/addons/validate.py: a grammar string, a list of one element
/// (not itself a list), or a dict of elements.
fn check_schema(element: &Json, at: &str, errors: &mut Vec<String>) {
    match element {
        Json::String(s) => {
            if !schema_element().is_match(s) {
                errors.push(format!("{at}: {s:?} is not a schema element"));
            }
        }
        Json::Array(items) => {
            if items.len() != 1 {
                errors.push(format!("{at}: a list schema holds exactly one element"));
            }
            for item in items {
                if item.is_array() {
                    errors.push(format!("{at}: a list may not directly contain a list"));
                }
                check_schema(item, &format!("{at}[]"), errors);
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                check_schema(v, &format!("{at}.{k}"), errors);
            }
        }
        other => errors.push(format!("{at}: {other} is not a schema element")),
    }
}

fn optional(element: &Json) -> bool {
    match element {
        Json::String(s) => s.ends_with('?'),
        Json::Array(items) => items.first().is_some_and(optional),
        _ => false,
    }
}

/// AddonOptions.__call__ / _validate_element: what the Supervisor checks before starting the
/// add-on with these options. Stricter in one point: an unknown key is an error here (the
/// Supervisor drops it with a warning, so it would be a silently ignored option).
fn validate(schema: &Json, value: &Json, at: &str, errors: &mut Vec<String>) {
    match schema {
        Json::Array(items) => match value.as_array() {
            Some(values) => {
                for (i, v) in values.iter().enumerate() {
                    validate(&items[0], v, &format!("{at}[{i}]"), errors);
                }
            }
            None => errors.push(format!("{at}: not a list")),
        },
        Json::Object(keys) => match value.as_object() {
            Some(values) => {
                for (k, v) in values {
                    match keys.get(k) {
                        Some(s) => validate(s, v, &format!("{at}.{k}"), errors),
                        None => errors.push(format!("{at}.{k}: not in the schema")),
                    }
                }
                for (k, s) in keys {
                    if !values.contains_key(k) && !optional(s) {
                        errors.push(format!("{at}.{k}: missing required option"));
                    }
                }
            }
            None => errors.push(format!("{at}: not a dict")),
        },
        Json::String(typ) => {
            let Some(caps) = schema_element().captures(typ) else {
                errors.push(format!("{at}: unknown type {typ:?}"));
                return;
            };
            let bound = |name: &str| caps.name(name).map(|m| m.as_str().parse::<f64>().unwrap());
            let in_range = |x: f64, lo: &str, hi: &str| {
                bound(lo).is_none_or(|b| x >= b) && bound(hi).is_none_or(|b| x <= b)
            };
            let ok = if value.is_null() {
                false
            } else if typ.starts_with("str") || typ.starts_with("password") {
                value
                    .as_str()
                    .is_some_and(|s| in_range(s.chars().count() as f64, "s_min", "s_max"))
                    && value
                        .as_str()
                        .is_some_and(|s| in_range(s.chars().count() as f64, "p_min", "p_max"))
            } else if typ.starts_with("int") {
                value
                    .as_i64()
                    .is_some_and(|i| in_range(i as f64, "i_min", "i_max"))
            } else if typ.starts_with("float") {
                value
                    .as_f64()
                    .is_some_and(|f| in_range(f, "f_min", "f_max"))
            } else if typ.starts_with("bool") {
                value.is_boolean()
            } else if typ.starts_with("port") {
                value.as_i64().is_some_and(|p| (1..=65535).contains(&p))
            } else if typ.starts_with("match") {
                let re = Regex::new(caps.name("match").unwrap().as_str()).unwrap();
                // vol.Match anchors at the start only (re.match); the patterns carry their own $.
                value
                    .as_str()
                    .is_some_and(|s| re.find(s).is_some_and(|m| m.start() == 0))
            } else if typ.starts_with("list") {
                let choices: Vec<&str> = caps.name("list").unwrap().as_str().split('|').collect();
                value.as_str().is_some_and(|s| choices.contains(&s))
            } else {
                // url, email, device: not used by this add-on
                errors.push(format!("{at}: type {typ:?} is not checked offline"));
                true
            };
            if !ok {
                errors.push(format!("{at}: {value} is not a valid {typ}"));
            }
        }
        other => errors.push(format!("{at}: bad schema {other}")),
    }
}

fn schema_errors(config: &Json, options: &Json) -> Vec<String> {
    let mut errors = Vec::new();
    validate(&config["schema"], options, "options", &mut errors);
    errors
}

/// A sample with every option set: listed devices, a bridge, another broker's user and prefix.
fn sample_options() -> Json {
    json!({
        "name": "cabin",
        "auto_detect": false,
        "devices": [
            {"name": "inverter", "driver": "pi30", "port": "hid:0665:5161:92932309100452"},
            {"name": "bmv", "driver": "vedirect", "port": "/dev/serial/by-id/usb-VictronEnergy_BV_VE_Direct_cable_VE1-if00-port0", "poll_interval": 2.0},
            {"name": "mppt", "driver": "vedirect", "port": "tcp://192.168.1.50:8899"}
        ],
        "bridge": true,
        "bridge_source": "bmv",
        "bridge_targets": ["mppt"],
        "mqtt_prefix": "solar",
        "dashboard": true
    })
}

fn sungate(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sungate"));
    cmd.args(args);
    match password {
        Some(p) => cmd.env("SUNGATE_MQTT_PASSWORD", p),
        None => cmd.env_remove("SUNGATE_MQTT_PASSWORD"),
    };
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn config_yaml_follows_the_supervisors_rules() {
    let config = yaml_file("config.yaml");
    for key in ["name", "version", "slug", "description", "arch"] {
        assert!(
            config[key].is_string() || config[key].is_array(),
            "config.yaml: {key} is required"
        );
    }
    // RE_SLUG of supervisor/addons/const.py
    assert!(
        Regex::new(r"^[-_.A-Za-z0-9]+$")
            .unwrap()
            .is_match(config["slug"].as_str().unwrap())
    );
    assert_eq!(
        config["version"],
        env!("CARGO_PKG_VERSION"),
        "the add-on's version is the sungate version it builds"
    );
    let arch: Vec<&str> = config["arch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in &arch {
        assert!(
            ["armhf", "armv7", "aarch64", "amd64", "i386"].contains(a),
            "arch {a}"
        );
    }
    // a Raspberry Pi: 64-bit and 32-bit Home Assistant OS
    assert!(arch.contains(&"aarch64") && arch.contains(&"armv7"));
    assert!(
        ["initialize", "system", "services", "application", "once"]
            .contains(&config["startup"].as_str().unwrap())
    );
    assert!(["auto", "manual", "manual_only"].contains(&config["boot"].as_str().unwrap()));
    // s6-overlay v3 base images: the run script is the CMD, no init of Docker's own
    assert_eq!(config["init"], false);
    // device access: serial ports and hidraw (the Supervisor's usb policy covers hidraw)
    assert_eq!(config["uart"], true);
    assert_eq!(config["usb"], true);
    assert!(
        config.get("full_access").is_none_or(|v| v == false),
        "no full device access"
    );
    let service = Regex::new(r"^(?P<service>mqtt|mysql):(?P<rights>provide|want|need)$").unwrap();
    let services = config["services"].as_array().unwrap();
    assert!(
        services
            .iter()
            .all(|s| service.is_match(s.as_str().unwrap()))
    );
    assert!(
        services
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("mqtt:"))
    );
    let port_re = Regex::new(r"^\d+/(tcp|udp)$").unwrap();
    for (port, host) in config["ports"].as_object().unwrap() {
        assert!(port_re.is_match(port), "ports: {port}");
        assert!(host.is_null() || host.as_u64().is_some_and(|p| p <= 65535));
    }

    let mut errors = Vec::new();
    check_schema(&config["schema"], "schema", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    // the defaults start the add-on: the Supervisor validates them before every start
    let errors = schema_errors(&config, &config["options"]);
    assert!(errors.is_empty(), "default options: {errors:#?}");

    let build = yaml_file("build.yaml");
    let mut built: Vec<&str> = build["build_from"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut wanted = arch.clone();
    built.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(built, wanted, "build.yaml has a base image for each arch");

    let run = addon_dir().join("run.sh");
    let script = std::fs::read_to_string(&run).unwrap();
    assert!(script.contains("sungate addon-config --options /data/options.json"));
    assert!(script.contains("exec sungate run --config /data/sungate.toml"));
    use std::os::unix::fs::PermissionsExt;
    assert!(
        std::fs::metadata(&run).unwrap().permissions().mode() & 0o111 != 0,
        "run.sh is executable"
    );
    let dockerfile = std::fs::read_to_string(addon_dir().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("--no-default-features --features hid"),
        "the lean build"
    );
    assert!(dockerfile.contains("ARG BUILD_FROM") && dockerfile.contains("FROM ${BUILD_FROM}"));
}

#[test]
fn the_schema_refuses_what_the_supervisor_refuses() {
    let config = yaml_file("config.yaml");
    let mut sample = sample_options();
    assert!(
        schema_errors(&config, &sample).is_empty(),
        "{:#?}",
        schema_errors(&config, &sample)
    );
    sample["devices"][0]["driver"] = json!("pi31");
    sample["devices"][1]["poll_interval"] = json!(0.1);
    sample["devices"][2]["name"] = json!("my mppt");
    sample["mqtt_port"] = json!(70000);
    sample.as_object_mut().unwrap().remove("auto_detect");
    let errors = schema_errors(&config, &sample);
    for want in [
        "options.devices[0].driver",
        "options.devices[1].poll_interval",
        "options.devices[2].name",
        "options.mqtt_port",
        "options.auto_detect: missing",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "{want} not refused: {errors:#?}"
        );
    }
}

#[test]
fn options_become_a_config_that_check_config_accepts() {
    let config = yaml_file("config.yaml");
    let dir = std::env::temp_dir().join(format!("sungate-addon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let options = dir.join("options.json");
    let output = dir.join("sungate.toml");
    let sample = sample_options();
    assert!(schema_errors(&config, &sample).is_empty());
    std::fs::write(&options, sample.to_string()).unwrap();
    let (options_arg, output_arg) = (options.display().to_string(), output.display().to_string());
    let history = dir.join("history.db").display().to_string();
    // As run.sh calls it, with the Supervisor's MQTT service.
    let out = sungate(
        &[
            "addon-config",
            "--options",
            &options_arg,
            "--output",
            &output_arg,
            "--history",
            &history,
            "--mqtt",
            "core-mosquitto:1883",
            "--mqtt-username",
            "addons",
        ],
        Some("from-the-supervisor"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let check = sungate(&["check-config", &output_arg], None);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("ok (3 ports, 3 devices)"),
        "{}",
        text(&check)
    );
    let written = sungate::config::Config::load(&output).unwrap();
    let mqtt = written.mqtt.as_ref().unwrap();
    assert_eq!((mqtt.host.as_str(), mqtt.port), ("core-mosquitto", 1883));
    assert_eq!(mqtt.username.as_deref(), Some("addons"));
    assert_eq!(
        mqtt.password.as_ref().unwrap().expose(),
        "from-the-supervisor"
    );
    assert_eq!(mqtt.prefix, "solar");
    assert_eq!(written.bridges[0].source, "bmv");
    assert_eq!(written.gateway.name.as_deref(), Some("cabin"));
    assert_eq!(written.history.as_ref().unwrap().path, Path::new(&history));
    assert_eq!(written.http.as_ref().unwrap().bind.port(), 8080);
    // Options that name a broker win over the Supervisor's; it is rewritten at every start.
    let mut own = sample.clone();
    own["mqtt_host"] = json!("192.168.1.10");
    own["mqtt_port"] = json!(1884);
    own["mqtt_username"] = json!("me");
    own["mqtt_password"] = json!("mine");
    assert!(schema_errors(&config, &own).is_empty());
    std::fs::write(&options, own.to_string()).unwrap();
    let out = sungate(
        &[
            "addon-config",
            "--options",
            &options_arg,
            "--output",
            &output_arg,
            "--mqtt",
            "core-mosquitto:1883",
        ],
        Some("from-the-supervisor"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let written = sungate::config::Config::load(&output).unwrap();
    let mqtt = written.mqtt.unwrap();
    assert_eq!((mqtt.host.as_str(), mqtt.port), ("192.168.1.10", 1884));
    assert_eq!(mqtt.password.unwrap().expose(), "mine");
    // A wrong driver never becomes a config.
    let mut bad = sample.clone();
    bad["devices"][0]["driver"] = json!("pi31");
    std::fs::write(&options, bad.to_string()).unwrap();
    let before = std::fs::read_to_string(&output).unwrap();
    let out = sungate(
        &[
            "addon-config",
            "--options",
            &options_arg,
            "--output",
            &output_arg,
        ],
        None,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pi31"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}
