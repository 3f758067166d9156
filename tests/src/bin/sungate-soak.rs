//! `sungate-soak`: the acceptance soak and the offline-source CPU check, against the real
//! `sungate` and `sungate-sim` binaries (release build beside this one) and a mosquitto it
//! starts itself. Everything on 127.0.0.1; every child is killed on exit. Exit status 0: passed;
//! 1: a check failed (the reasons are printed); 2: the run could not be done.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sungate_tests::soak::Common;
use sungate_tests::soak::cpu_offline::{self, CpuOfflineOptions};
use sungate_tests::soak::run::{self, SoakOptions};
use sungate_tests::soak::site::Binaries;

/// Soak and CPU checks of the sungate gateway against the simulator.
#[derive(Debug, Parser)]
#[command(name = "sungate-soak", version, about)]
struct Cli {
    /// Directory with the `sungate` and `sungate-sim` binaries (default: beside this program).
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
    /// Work directory for PTYs, configs and logs (default: a fresh one under /tmp, removed after
    /// a run that passed, kept after a failure).
    #[arg(long, global = true)]
    work_dir: Option<PathBuf>,
    /// Seed of the simulator.
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
    /// Leave the BMV -> MPPT bridge out of the gateway's config (for comparison: the figures
    /// without it).
    #[arg(long, global = true)]
    no_bridge: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Rotating faults on every device; every published value checked against the simulator's
    /// ranges; every device must come back; gateway CPU and peak RSS within limits.
    Soak {
        /// Length of the fault schedule (then the last faults are cleared and the devices must
        /// come back, within 30 s).
        #[arg(long, default_value_t = 180)]
        seconds: u64,
        /// How long each fault lasts. Above about 20 s an unplug outlasts the gateway's reopen
        /// backoff steps (1, 2, 4 ... 60 s) so far that the 30 s recovery bound can be missed
        /// by design.
        #[arg(long, default_value_t = 10)]
        fault_seconds: u64,
        /// Quiet time after a device is back, before its next fault.
        #[arg(long, default_value_t = 4)]
        quiet_seconds: u64,
        /// Only these faults (comma-separated): corrupt_checksum, drop_rate, garbage_rate,
        /// silent, slow_ms, nak, pi18, night_silence, disconnect, lockup. Default: all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Gateway CPU with the BMV -> MPPT bridge while the BMV is unplugged, then while all its
    /// blocks fail their checksum (each phase: the settling time plus --seconds).
    CpuOffline {
        /// Length of each measured window.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sungate-soak: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    let bins = Binaries::locate(cli.bin_dir.as_deref())?;
    let (dir, fresh) = match cli.work_dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("sungate-soak-{}", std::process::id())),
            true,
        ),
    };
    if fresh {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let common = Common {
        bins,
        dir: dir.clone(),
        seed: cli.seed,
        bridge: !cli.no_bridge,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async {
        let work = async {
            match cli.mode {
                Mode::Soak {
                    seconds,
                    fault_seconds,
                    quiet_seconds,
                    only,
                } => {
                    let opts = SoakOptions {
                        seconds,
                        fault_seconds,
                        quiet_seconds,
                        only,
                    };
                    run::run(&common, &opts).await
                }
                Mode::CpuOffline { seconds } => {
                    cpu_offline::run(&common, &CpuOfflineOptions { seconds }).await
                }
            }
        };
        // Ctrl-C or SIGTERM: stop (dropping the site kills every child).
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            _ = term.recv() => Err(anyhow::anyhow!("terminated")),
        }
    });
    // The children were killed when the site was dropped; let the runtime reap them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match &outcome {
        Ok(true) if fresh => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        _ => eprintln!("logs and configs kept in {}", dir.display()),
    }
    outcome
}
