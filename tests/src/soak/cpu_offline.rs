//! `sungate-soak cpu-offline`: the gateway's CPU while the bridge's source (the BMV) is offline
//! (issue 11, finding 1: with a `[[bridge]]` BMV -> MPPT, an unplugged BMV or one whose blocks all
//! fail their checksum made the gateway spin a core until the BMV was back).
//!
//! Phases, each measured from /proc/<pid>/stat (utime + stime): the site in normal operation;
//! the BMV unplugged; the BMV sending only blocks with a wrong checksum. A fault phase is
//! measured over its first `MAX_SOURCE_AGE + 2` s (the bridge sees the source go offline or
//! stale) and over the `--seconds` after that (the bridge has given up on the source), and both
//! must stay under the limit.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use sungate_sim::faults::Faults;
use tokio::time::Instant;

use super::procstat::{self, CpuMeter, CpuUse};
use super::site::MAX_SOURCE_AGE_S;
use super::{Common, RECOVERY_BOUND, Session};

/// Gateway CPU while the bridge's source is offline, in % of one core. Normal operation of this
/// site is about 0.3-0.5 %; an offline device costs a reopen attempt now and then (backoff up to
/// 60 s) and a few log lines. 3 % leaves a wide margin for a loaded CI machine, while a busy loop
/// shows up as tens of percent.
pub const CPU_OFFLINE_LIMIT_PCT: f64 = 3.0;
/// Time after the fault for the bridge to notice: its max_source_age plus two polls.
const SETTLE_S: f64 = MAX_SOURCE_AGE_S + 2.0;

#[derive(Debug, Clone, Copy)]
pub struct CpuOfflineOptions {
    /// Length of each measured window.
    pub seconds: u64,
}

/// One measured phase.
#[derive(Debug)]
struct Phase {
    name: &'static str,
    settle: Option<CpuUse>,
    measured: CpuUse,
}

impl Phase {
    fn worst(&self) -> f64 {
        self.settle
            .map_or(0.0, |s| s.percent())
            .max(self.measured.percent())
    }
}

/// Measure the gateway while `s` keeps handling messages, for `secs`.
async fn measure(s: &mut Session, hz: f64, secs: f64) -> Result<CpuUse> {
    let meter = CpuMeter::start(s.site.gateway_pid, hz)?;
    s.pump(Instant::now() + Duration::from_secs_f64(secs))
        .await?;
    meter.read()
}

/// The BMV must be back (online and a fresh state) after a fault was cleared.
async fn wait_back(s: &mut Session, what: &str) -> Result<Duration> {
    s.monitor.watch_recovery("bmv");
    let back = s
        .pump_until(RECOVERY_BOUND, |m| m.recovered("bmv").is_some())
        .await?;
    let t = s.monitor.recovered("bmv");
    s.monitor.stop_watch("bmv");
    match (back, t) {
        (true, Some(t)) => Ok(t),
        _ => bail!(
            "the BMV did not come back within {} s after {what} was cleared",
            RECOVERY_BOUND.as_secs()
        ),
    }
}

/// Run the check; `Ok(true)` when the gateway stayed under the limit in every phase.
pub async fn run(common: &Common, opts: &CpuOfflineOptions) -> Result<bool> {
    let hz = procstat::ticks_per_second()?;
    let secs = opts.seconds as f64;
    println!(
        "cpu-offline: {secs} s per phase, limit {CPU_OFFLINE_LIMIT_PCT} % of one core, {}, work dir {}",
        if common.bridge {
            "with the BMV -> MPPT bridge"
        } else {
            "WITHOUT the bridge"
        },
        common.dir.display()
    );
    let mut s = Session::start(common).await?;
    let control = s.site.sim.control;
    // Let the bridge write its first values and the MQTT discovery go out.
    s.pump(Instant::now() + Duration::from_secs(5)).await?;

    let mut phases = Vec::new();
    println!("phase 1: normal operation");
    phases.push(Phase {
        name: "normal operation",
        settle: None,
        measured: measure(&mut s, hz, secs).await?,
    });

    println!("phase 2: BMV unplugged (POST /devices/bmv/disconnect)");
    control
        .call("POST", "/devices/bmv/disconnect", None)
        .await?;
    s.monitor.set_context("bmv", "unplugged".into());
    let settle = measure(&mut s, hz, SETTLE_S).await?;
    let measured = measure(&mut s, hz, secs).await?;
    phases.push(Phase {
        name: "BMV unplugged",
        settle: Some(settle),
        measured,
    });
    control.call("POST", "/devices/bmv/reconnect", None).await?;
    let t = wait_back(&mut s, "the unplug").await?;
    println!("BMV back after {:.1} s", t.as_secs_f64());
    s.monitor.set_context("bmv", "no fault".into());

    println!("phase 3: BMV corrupt_checksum");
    let body = serde_json::to_value(Faults {
        corrupt_checksum: true,
        ..Faults::default()
    })?;
    control
        .call("POST", "/devices/bmv/faults", Some(&body))
        .await?;
    s.monitor.set_context("bmv", "corrupt_checksum".into());
    let settle = measure(&mut s, hz, SETTLE_S).await?;
    let measured = measure(&mut s, hz, secs).await?;
    phases.push(Phase {
        name: "BMV corrupt_checksum",
        settle: Some(settle),
        measured,
    });
    control.call("DELETE", "/devices/bmv/faults", None).await?;
    let t = wait_back(&mut s, "corrupt_checksum").await?;
    println!("BMV back after {:.1} s", t.as_secs_f64());

    let mut table = String::new();
    let _ = writeln!(
        table,
        "\n== cpu-offline: gateway CPU, % of one core (limit {CPU_OFFLINE_LIMIT_PCT} %)"
    );
    let _ = writeln!(
        table,
        "{:<22} {:>22} {:>22}",
        "phase",
        format!("first {SETTLE_S:.0} s"),
        format!("next {secs:.0} s")
    );
    for p in &phases {
        let settle = p
            .settle
            .map(|c| format!("{:.2} % ({:.2} s)", c.percent(), c.cpu_s))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            table,
            "{:<22} {:>22} {:>22}",
            p.name,
            settle,
            format!("{:.2} % ({:.2} s)", p.measured.percent(), p.measured.cpu_s)
        );
    }
    print!("{table}");
    let failures = s.monitor.failure_count;
    for f in &s.monitor.failures {
        println!("  FAIL: {f}");
    }
    s.site.stop().await;

    let over: Vec<&Phase> = phases
        .iter()
        .filter(|p| p.worst() > CPU_OFFLINE_LIMIT_PCT)
        .collect();
    if over.is_empty() && failures == 0 {
        println!("CPU-OFFLINE PASSED");
        return Ok(true);
    }
    println!("CPU-OFFLINE FAILED:");
    for p in over {
        println!(
            "  - {}: the gateway used {:.1} % of a core (limit {CPU_OFFLINE_LIMIT_PCT} %)",
            p.name,
            p.worst()
        );
    }
    if failures > 0 {
        println!("  - {failures} published value check(s) failed (above)");
    }
    Ok(false)
}
