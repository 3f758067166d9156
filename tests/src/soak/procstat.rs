//! CPU time and peak memory of a process, from /proc (as bench/gateway.sh measures them).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use tokio::time::Instant;

/// `utime + stime` of `pid` in clock ticks (fields 14 and 15 of /proc/<pid>/stat): CPU time of
/// all its threads, user and kernel.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_stat_ticks(&text).ok_or_else(|| anyhow!("{path}: unexpected layout: {text}"))
}

fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces: count from the last
    // ')'. The fields after it start with field 3 (state), so utime (14) is the 12th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set size of `pid` (VmHWM in /proc/<pid>/status), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("{path} has no VmHWM line"))
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn ticks_per_second() -> Result<f64> {
    let getconf = ["/usr/bin/getconf", "/bin/getconf"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("getconf");
    let out = std::process::Command::new(getconf)
        .arg("CLK_TCK")
        .output()
        .context("cannot run getconf CLK_TCK")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hz: f64 = text
        .trim()
        .parse()
        .with_context(|| format!("getconf CLK_TCK printed {text:?}"))?;
    if hz.is_nan() || hz <= 0.0 {
        bail!("getconf CLK_TCK printed {hz}");
    }
    Ok(hz)
}

/// CPU use of one process over a stretch of wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: u32,
    hz: f64,
    ticks: u64,
    at: Instant,
}

/// What a [`CpuMeter`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    /// CPU seconds (user + system, all threads).
    pub cpu_s: f64,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

impl CpuUse {
    /// Percent of one core.
    pub fn percent(&self) -> f64 {
        if self.wall_s > 0.0 {
            100.0 * self.cpu_s / self.wall_s
        } else {
            0.0
        }
    }
}

impl CpuMeter {
    /// Start measuring `pid` now.
    pub fn start(pid: u32, hz: f64) -> Result<CpuMeter> {
        Ok(CpuMeter {
            pid,
            hz,
            ticks: cpu_ticks(pid)?,
            at: Instant::now(),
        })
    }

    /// CPU use since the start.
    pub fn read(&self) -> Result<CpuUse> {
        let ticks = cpu_ticks(self.pid)?;
        Ok(CpuUse {
            cpu_s: ticks.saturating_sub(self.ticks) as f64 / self.hz,
            wall_s: self.at.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_name_with_spaces() {
        let stat = "1234 (tokio runtime) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 \
                    3 0 5000 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(281));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_ok());
        assert!(peak_rss_kib(pid).unwrap() > 0);
        assert!(ticks_per_second().unwrap() > 0.0);
    }
}
