//! `sungate init`: probe the machine, show what answered, write a commented config with stable
//! device names. `sungate addon-config`: the same config from the Home Assistant add-on's
//! options (see `addon.rs`). Both check the text with the parser `sungate check-config` uses
//! before anything is written, and never replace a file without `--force` (the package's
//! untouched default config excepted: it holds nothing of the user's).

pub mod addon;
pub mod plan;
pub mod probe;

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::future::join_all;
use sungate::config::Config;

use plan::{Found, Mqtt, Options};
use probe::{Outcome, Where};

/// The config the Debian package installs as /etc/sungate/sungate.toml (a conffile).
pub const PACKAGED_DEFAULT: &str = include_str!("../../../../packaging/sungate.toml");

/// Where the package's service reads its config.
pub const DEFAULT_OUTPUT: &str = "/etc/sungate/sungate.toml";
/// Where the package's service may write (systemd StateDirectory=sungate).
pub const DEFAULT_HISTORY: &str = "/var/lib/sungate/history.db";

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The config file to write ("-": standard output).
    #[arg(short, long, default_value = DEFAULT_OUTPUT)]
    pub output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Probe only this port (repeatable): a serial device, hid:/dev/hidrawN or
    /// tcp://HOST:PORT. Default: USB HID inverters (0665:5161) and /dev/serial/by-id.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,
    /// Probe every serial device in DIR instead of /dev/serial/by-id (e.g. the simulator's
    /// PTY directory).
    #[arg(long, value_name = "DIR")]
    pub serial_dir: Option<PathBuf>,
    /// Do not look for USB HID inverters.
    #[arg(long)]
    pub no_hid: bool,
    /// The gateway's name (MQTT client id, Home Assistant device names). Default: the host name.
    #[arg(long)]
    pub name: Option<String>,
    /// Publish to this MQTT broker (HOST or HOST:PORT) with Home Assistant discovery.
    /// The password, if any, is read from the SUNGATE_MQTT_PASSWORD environment variable.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub mqtt: Option<String>,
    #[arg(long, requires = "mqtt")]
    pub mqtt_username: Option<String>,
    /// The dashboard's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    #[arg(long)]
    pub no_http: bool,
    /// The history database.
    #[arg(long, default_value = DEFAULT_HISTORY)]
    pub history: String,
    #[arg(long)]
    pub no_history: bool,
    /// Do not write a BMV -> MPPT bridge even when both are found.
    #[arg(long)]
    pub no_bridge: bool,
    /// Seconds to wait for each reply while probing.
    #[arg(long, default_value_t = 1.0)]
    pub timeout: f64,
}

/// The MQTT password, from the environment (never a command-line argument: those are visible
/// to every user in `ps`).
fn password_from_env() -> Option<String> {
    std::env::var("SUNGATE_MQTT_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}

/// The broker given on the command line (`--mqtt HOST[:PORT]`, `--mqtt-username`, the
/// password from the environment), if any.
fn mqtt_from_args(spec: Option<&str>, username: Option<&str>) -> Result<Option<Mqtt>> {
    let Some(spec) = spec else { return Ok(None) };
    let (host, port) = Mqtt::parse_host(spec).map_err(anyhow::Error::msg)?;
    Ok(Some(Mqtt {
        host,
        port,
        username: username.map(str::to_owned),
        password: password_from_env(),
        prefix: None,
    }))
}

fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    gateway_name(raw.trim())
}

/// A valid gateway name from free text (a host name may hold dots).
fn gateway_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.trim_matches('-').is_empty() {
        "sungate".into()
    } else {
        name
    }
}

/// Refuse early (before probing for a minute) when the file may not be replaced.
fn check_output(output: &Path, force: bool) -> Result<()> {
    if output.as_os_str() == "-" || force {
        return Ok(());
    }
    match std::fs::read(output) {
        Ok(existing) if existing == PACKAGED_DEFAULT.as_bytes() => Ok(()),
        Ok(_) => bail!(
            "{} exists: not replaced (--force replaces it; or write elsewhere with --output)",
            output.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(e).with_context(|| {
            format!(
                "cannot read {} (run `sudo sungate init`, or write elsewhere with --output)",
                output.display()
            )
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", output.display())),
    }
}

/// Write `text` to `output` in one step (a temporary file beside it, then a rename), so that a
/// reader (the service starting) never sees half a file. A replaced file keeps its owner,
/// group and mode (the package's is root:sungate 0640); a new one is 0640, since it may hold
/// an MQTT password.
fn write_config(output: &Path, text: &str) -> Result<()> {
    if output.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file_name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sungate.toml".into());
    let tmp = dir.join(format!(".{file_name}.init-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        match std::fs::metadata(output) {
            Ok(old) => {
                std::fs::set_permissions(
                    &tmp,
                    std::fs::Permissions::from_mode(old.mode() & 0o7777),
                )
                .with_context(|| format!("cannot set the mode of {}", tmp.display()))?;
                // Only root may give a file away; anyone else keeps their own file.
                if let Err(e) = std::os::unix::fs::chown(&tmp, Some(old.uid()), Some(old.gid())) {
                    tracing::debug!(error = %e, "owner of the replaced config not kept");
                }
            }
            // a new file: 0640 whatever the umask
            Err(_) => std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o640))
                .with_context(|| format!("cannot set the mode of {}", tmp.display()))?,
        }
        std::fs::rename(&tmp, output)
            .with_context(|| format!("cannot replace {}", output.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The text checked exactly as `sungate check-config` will check the file.
fn validate(text: &str, output: &Path) -> Result<()> {
    let config = Config::parse(text, &output.display().to_string())
        .context("the generated config does not pass check-config (a bug in sungate init)")?;
    sungate::app::check_resources(&config)?;
    Ok(())
}

/// Probe everything in `place` (HID nodes and serial/TCP ports at the same time): what was
/// found, in a stable order, and one line per port where nothing usable answered.
pub async fn discover(place: &Where, timeout: Duration) -> (Vec<Found>, Vec<String>) {
    let (hid, serial, mut notes) = probe::targets(place, Path::new("/dev"), Path::new("/sys"));
    let alone = hid.len() == 1;
    let hid_probes = join_all(
        hid.iter()
            .map(|path| probe::probe_hid(path, alone, timeout)),
    );
    let serial_probes = join_all(serial.iter().map(|t| probe::probe_port(t, timeout)));
    let (hid_outcomes, serial_outcomes) = tokio::join!(hid_probes, serial_probes);
    let mut found = Vec::new();
    let probed = hid
        .iter()
        .cloned()
        .chain(serial.iter().map(|t| t.open.clone()));
    for (port, outcome) in probed.zip(hid_outcomes.into_iter().chain(serial_outcomes)) {
        match outcome {
            Outcome::Found(f) => found.push(f),
            Outcome::Nothing(why) => notes.push(format!("{port}: {why}")),
        }
    }
    (found, notes)
}

/// What init shows about a device it found.
fn found_line(f: &Found) -> String {
    let what = match &f.role {
        plan::Role::Inverter { .. } => "inverter",
        plan::Role::BatteryMonitor => "battery monitor",
        plan::Role::SolarCharger => "solar charger",
        plan::Role::OtherVictron(what) => what,
    };
    format!(
        "  {what}: {} {}{}{}\n      on {} -> {} = {:?}",
        f.protocol,
        f.model.as_deref().unwrap_or("?"),
        f.serial
            .as_deref()
            .map(|s| format!(", serial {s}"))
            .unwrap_or_default(),
        f.firmware
            .as_deref()
            .map(|s| format!(", firmware {s}"))
            .unwrap_or_default(),
        f.probed,
        f.key,
        f.address
    )
}

fn seconds(s: f64) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 30.0) {
        bail!("--timeout must be within (0, 30] seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

pub async fn init(args: InitArgs) -> Result<()> {
    check_output(&args.output, args.force)?;
    let timeout = seconds(args.timeout)?;
    let mqtt = mqtt_from_args(args.mqtt.as_deref(), args.mqtt_username.as_deref())?;
    let place = Where {
        ports: args.ports.clone(),
        serial_dir: args.serial_dir.clone(),
        no_hid: args.no_hid,
    };
    // What init says goes to stderr when the config itself goes to stdout.
    let say = |line: &str| {
        if args.output.as_os_str() == "-" {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say("sungate init: probing (VE.Direct is listened to, Voltronic units get queries only)...");
    let (found, notes) = discover(&place, timeout).await;
    if found.is_empty() {
        for note in &notes {
            say(&format!("  {note}"));
        }
        bail!(
            "no device answered: nothing written. Check the cables and permissions \
             (`sungate scan --probe` lists the ports), or name ports with --port"
        );
    }
    say(&format!("found {} device(s):", found.len()));
    for f in &found {
        say(&found_line(f));
    }
    for note in &notes {
        say(&format!("  not used: {note}"));
    }
    let plan = plan::plan(&found, !args.no_bridge);
    let options = Options {
        gateway_name: args.name.as_deref().map_or_else(host_name, gateway_name),
        mqtt,
        http: (!args.no_http).then(|| args.http.clone()),
        history: (!args.no_history).then(|| args.history.clone()),
        bridge: !args.no_bridge,
        header: format!(
            "Written by `sungate init` (sungate {}) from the devices that answered.",
            env!("CARGO_PKG_VERSION")
        ),
    };
    let text = plan::render(&plan, &options);
    validate(&text, &args.output)?;
    write_config(&args.output, &text)?;
    if args.output.as_os_str() != "-" {
        let file = args.output.display();
        say(&format!(
            "wrote {file} ({} device(s){})",
            plan.devices.len(),
            if plan.bridge.is_some() {
                ", a BMV -> MPPT bridge"
            } else {
                ""
            }
        ));
        say(&format!(
            "next: sungate check-config {file}, then `sudo systemctl restart sungate` \
             (package) or `sungate run -c {file}`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_packaged_default_passes_check_config_and_may_be_replaced_without_force() {
        let config = Config::parse(PACKAGED_DEFAULT, "packaging/sungate.toml").unwrap();
        assert!(!config.devices.is_empty());
        let dir = std::env::temp_dir().join(format!("sungate-init-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sungate.toml");
        std::fs::write(&file, PACKAGED_DEFAULT).unwrap();
        check_output(&file, false).unwrap();
        std::fs::write(&file, format!("{PACKAGED_DEFAULT}# mine\n")).unwrap();
        let err = check_output(&file, false).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        check_output(&file, true).unwrap();
        // a replaced file keeps its mode
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_config(&file, "x = 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x = 1\n");
        let mode = std::fs::metadata(&file).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let new = dir.join("new/sungate.toml");
        write_config(&new, "y = 2\n").unwrap();
        assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o777, 0o640);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporary file left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn gateway_names_from_host_names() {
        assert_eq!(gateway_name("cabin.local"), "cabin-local");
        assert_eq!(gateway_name(""), "sungate");
        assert_eq!(gateway_name("..."), "sungate");
    }
}
