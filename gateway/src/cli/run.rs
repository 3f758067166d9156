//! `sungate run`, `sungate check-config` and `sungate demo`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use sungate::app::{Gateway, load_config};
use sungate::config::Config;
use sungate::core::bus::Event;
use sungate::types::Transport;
use sungate_drivers::Value;
use tokio::sync::broadcast::error::RecvError;

/// `HH:MM:SS` (UTC) of a time.
fn clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// A field that holds a moment in unix seconds (the bridge's `<target>_<value>_sent_at`).
fn is_moment(field: &sungate_drivers::Field) -> bool {
    field.name.ends_with("_at") && field.unit == Some("s")
}

/// One compact line per event, for a console with no other sink.
pub fn compact_line(event: &Event) -> String {
    match event {
        Event::Snapshot {
            device,
            at,
            reading,
            ..
        } => {
            let mut line = format!("{} {device}", clock(*at));
            // States first (a mode, the bridge's source state), then the numbers.
            for field in reading
                .iter()
                .filter(|f| f.name.ends_with("_state") || f.name.ends_with("_mode"))
            {
                if let Value::Text(t) = &field.value {
                    let _ = write!(line, " {}={t}", field.name);
                }
            }
            for field in reading
                .iter()
                .filter(|f| matches!(f.value, Value::Int(_) | Value::Float(_)))
                .take(8)
            {
                let _ = match &field.value {
                    // A moment (`*_at`, unix seconds) is shown as a time of day.
                    Value::Int(v) if is_moment(field) => {
                        let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(*v).unwrap_or(0));
                        write!(line, " {}={}", field.name, clock(at))
                    }
                    Value::Float(v) => {
                        write!(line, " {}={v}{}", field.name, field.unit.unwrap_or(""))
                    }
                    Value::Int(v) => {
                        write!(line, " {}={v}{}", field.name, field.unit.unwrap_or(""))
                    }
                    _ => Ok(()),
                };
            }
            line
        }
        Event::Availability {
            device,
            online,
            reason,
        } => format!(
            "{} {device} {}{}",
            clock(SystemTime::now()),
            if *online { "online" } else { "OFFLINE" },
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        Event::Identified { device, info } => format!(
            "{} {device} identified: {} {} serial {} firmware {}",
            clock(SystemTime::now()),
            info.protocol,
            info.model.as_deref().unwrap_or("?"),
            info.serial.as_deref().unwrap_or("?"),
            info.firmware.as_deref().unwrap_or("?")
        ),
        Event::Command(c) => format!(
            "{} {} command from {} ({}): {} = {}: {} {}",
            clock(c.at),
            c.device,
            c.origin,
            c.who,
            c.setting,
            c.value,
            if c.ok { "done" } else { "REFUSED" },
            c.detail
        ),
    }
}

pub fn check_config(file: &Path) -> Result<()> {
    let config = load_config(file)?;
    println!(
        "{}: ok ({} ports, {} devices)",
        file.display(),
        config.ports.len(),
        config.devices.len()
    );
    Ok(())
}

/// Print events until Ctrl-C / SIGTERM, or for `limit` when given.
pub async fn print_events(gateway: &Gateway, limit: Option<Duration>) -> Result<()> {
    let mut events = gateway.bus.subscribe();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let stop = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(e) => println!("{}", compact_line(&e)),
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "console fell behind"),
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = &mut stop => return Ok(()),
        }
    }
}

pub async fn run(file: &Path) -> Result<()> {
    run_config(load_config(file)?).await
}

pub async fn run_config(config: Config) -> Result<()> {
    tracing::info!(
        ports = config.ports.len(),
        devices = config.devices.len(),
        bridges = config.bridges.len(),
        "starting"
    );
    // Bound before anything starts: a taken port is an error to fix, not a silent gap.
    let listener = config.http.as_ref().map(sungate::http::bind).transpose()?;
    let mut gateway = Gateway::start(&config);
    if let Some(listener) = listener {
        if let Ok(addr) = listener.local_addr() {
            eprintln!("sungate: dashboard and API on http://{addr}/");
        }
        gateway.serve_http(listener);
    }
    print_events(&gateway, None).await?;
    gateway.shutdown().await;
    Ok(())
}

/// The configuration `sungate bridge --bmv PORT --mppt PORT...` runs: written as TOML and
/// checked like a file, so the command line gets exactly the same validation.
pub fn bridge_config(bmv: &str, mppts: &[String], refresh: f64) -> Result<Config> {
    // The same port specs as every one-shot command, written as their config key
    // (`serial = "/dev/x"`, `tcp = "host:port"`, `hid = "..."`) quoted by the TOML library
    // (paths may hold quotes or backslashes).
    let port = |spec: &str| -> Result<String> {
        let transport = Transport::from_spec(spec, 0).map_err(anyhow::Error::msg)?;
        let (key, value) = transport.key_value();
        Ok(format!("{key} = {}", toml::Value::String(value.to_owned())))
    };
    let mut text = format!(
        "[[port]]\nname = \"bmv\"\n{}\n[[device]]\nname = \"bmv\"\ndriver = \"vedirect\"\nport = \"bmv\"\npoll_interval = 1.0\n",
        port(bmv)?
    );
    let mut targets = Vec::new();
    for (i, spec) in mppts.iter().enumerate() {
        let name = format!("mppt{}", i + 1);
        text.push_str(&format!(
            "[[port]]\nname = \"{name}\"\n{}\n[[device]]\nname = \"{name}\"\ndriver = \"vedirect\"\nport = \"{name}\"\npoll_interval = 5.0\n",
            port(spec)?
        ));
        targets.push(format!("\"{name}\""));
    }
    text.push_str(&format!(
        "[[bridge]]\nname = \"bridge\"\nsource = \"bmv\"\ntargets = [{}]\nrefresh_interval = {refresh:?}\n",
        targets.join(", ")
    ));
    Ok(Config::parse(&text, "sungate bridge")?)
}

/// A listener on `addr`, or, when that port is taken, on a free port of the same address (the
/// demo must start even when something else uses its default ports).
#[cfg(feature = "demo")]
fn listen_or_free(addr: std::net::SocketAddr, what: &str) -> Result<std::net::TcpListener> {
    match std::net::TcpListener::bind(addr) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let l = std::net::TcpListener::bind((addr.ip(), 0))
                .with_context(|| format!("cannot listen on {} for the {what}", addr.ip()))?;
            eprintln!(
                "sungate demo: {addr} is taken; the {what} uses {} instead",
                l.local_addr().map(|a| a.to_string()).unwrap_or_default()
            );
            Ok(l)
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr} for the {what}")),
    }
}

/// Remove a SQLite database and its WAL files (absent ones are fine).
#[cfg(feature = "demo")]
fn remove_database(path: &Path) -> Result<()> {
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", file.display())),
        }
    }
    Ok(())
}

/// `sungate demo`: the simulator (inverter, BMV, MPPT) in-process on PTYs, the gateway polling
/// it with config/demo.toml, the dashboard, and a history store holding the last 24 hours
/// (simulated quickly before the demo goes live) and then the live data.
#[cfg(feature = "demo")]
pub async fn demo(
    pty_dir: &Path,
    seconds: Option<u64>,
    control: std::net::SocketAddr,
    allow_remote_control: bool,
    http: std::net::SocketAddr,
    token_file: Option<std::path::PathBuf>,
) -> Result<()> {
    use sungate::config::{HistoryConfig, HttpConfig};
    use sungate_sim::config::SimConfig;
    use sungate_sim::sim::{Simulator, StartOptions};

    use super::backfill::{backfill, set_time_of_day};

    let text = include_str!("../../../config/demo.toml")
        .replace("/tmp/sungate-demo", &pty_dir.display().to_string());
    let mut config = Config::parse(&text, "config/demo.toml")?;
    // The demo's history: a fresh database at each start (old runs do not pile up), filled with
    // the last 24 hours before the demo goes live (see cli/backfill.rs).
    std::fs::create_dir_all(pty_dir)
        .with_context(|| format!("cannot create {}", pty_dir.display()))?;
    let history = HistoryConfig::at(pty_dir.join("history.db"));
    config.history = Some(history.clone());
    let mut site = SimConfig::default();
    let now = SystemTime::now();
    let day_ago = now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now);
    let mut past = SimConfig::default();
    set_time_of_day(&mut past, day_ago);
    let filled = match remove_database(&history.path) {
        Ok(()) => backfill(&past, &config, &history, day_ago, now, Some(&mut site)).await,
        Err(e) => Err(e),
    };
    match filled {
        Ok(report) => eprintln!(
            "sungate demo: filled the last {} h of history ({} snapshots) in {:.1} s",
            report.covered.as_secs() / 3600,
            report.snapshots,
            report.elapsed.as_secs_f64()
        ),
        Err(e) => eprintln!(
            "sungate demo: no history of the last day ({e:#}); the live demo starts anyway"
        ),
    }
    // The live simulator continues at the time of day of now (UTC).
    set_time_of_day(&mut site, SystemTime::now());

    // The simulator binds its control API itself: find a free port first if the default is
    // taken (it is released just before the simulator takes it).
    let control = listen_or_free(control, "simulator control API")?
        .local_addr()
        .context("control API address")?;
    let options = StartOptions {
        pty_dir: pty_dir.to_path_buf(),
        control: Some(control),
        allow_remote_control,
        seed: 1,
        speed: 1.0,
    };
    let sim = Simulator::start(&site, options)
        .await
        .context("cannot start the simulator")?;
    let listener = listen_or_free(http, "dashboard")?;
    listener.set_nonblocking(true).context("dashboard socket")?;
    let http_addr = listener.local_addr().context("dashboard address")?;
    let mut http_config = HttpConfig::local(http_addr);
    if let Some(path) = token_file {
        http_config.writes = true;
        http_config.token_file = Some((path, 0));
        http_config.read_token()?;
    }
    config.http = Some(http_config);
    eprintln!(
        "sungate demo: simulated inverter, BMV and MPPT on {}; simulator control API on http://{}/devices",
        pty_dir.display(),
        sim.control_addr.unwrap_or(control)
    );
    eprintln!("sungate demo: dashboard on http://{http_addr}/ (Ctrl-C stops)");
    let mut gateway = Gateway::start(&config);
    gateway.serve_http(listener);
    print_events(&gateway, seconds.map(Duration::from_secs)).await?;
    gateway.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
