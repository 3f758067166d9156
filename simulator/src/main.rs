//! `sungate-sim`: run the simulated devices on PTYs / TCP with a control API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use sungate_sim::config::SimConfig;
use sungate_sim::sim::{Simulator, StartOptions};

/// Simulated Voltronic PI30 inverter, Victron BMV and Victron MPPT, for testing sungate (or any
/// other client) without hardware.
///
/// Each device's serial interface appears as a PTY behind a stable symlink: DIR/inverter,
/// DIR/bmv and DIR/mppt in the default setup (other interfaces: DIR/<device>-<interface>).
/// Point a client at it like at a real serial port, e.g. `cat DIR/bmv | sungate decode
/// vedirect -`.
///
/// Control API (with --control ADDR): GET /devices, GET /devices/NAME, POST /devices/NAME/env
/// {"key": value}, POST|DELETE /devices/NAME/faults, POST /devices/NAME/disconnect|reconnect|reset.
/// See the README for keys and faults.
#[derive(Debug, Parser)]
#[command(name = "sungate-sim", version, about, long_about)]
struct Cli {
    /// Device configuration (TOML, see config/sim.toml); default: one inverter, one BMV, one MPPT.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory for the PTY symlinks (created if missing).
    #[arg(long)]
    pty_dir: PathBuf,
    /// Address of the HTTP control API (loopback; see the README for the endpoints).
    #[arg(long)]
    control: Option<SocketAddr>,
    /// Allow --control on a non-loopback address. The API has no authentication: anyone who
    /// reaches it can unplug, fault and reconfigure the simulated devices.
    #[arg(long)]
    allow_remote_control: bool,
    /// Seed for every random stream; same seed, same inputs -> same bytes.
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated seconds per real second (e.g. 60: a simulated hour per real minute).
    #[arg(long)]
    speed: Option<f64>,
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        // Colour only on a terminal: escape codes would clutter journald and log files.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sungate-sim: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let config = match &cli.config {
        Some(path) => SimConfig::load(path)?,
        None => SimConfig::default(),
    };
    let options = StartOptions {
        pty_dir: cli.pty_dir,
        control: cli.control,
        allow_remote_control: cli.allow_remote_control,
        seed: cli.seed.or(config.seed).unwrap_or(1),
        speed: cli.speed.or(config.speed).unwrap_or(1.0),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let sim = Simulator::start(&config, options).await?;
        for d in &sim.devices {
            for i in d.lock().interfaces.iter() {
                eprintln!(
                    "{}/{}: {} {}",
                    d.name,
                    i.name,
                    i.kind,
                    i.address.as_deref().unwrap_or("(starting)")
                );
            }
        }
        if let Some(addr) = sim.control_addr {
            eprintln!("control API: http://{addr}/devices");
        }
        wait_for_shutdown().await?;
        sim.shutdown().await;
        Ok(())
    })
}

async fn wait_for_shutdown() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
