//! `[gateway]`: the site and how ports retry.
//!
//! ```toml
//! [gateway]
//! name = "cabin"          # MQTT client id and unique ids (default "gateway")
//! offline_after = 3       # failed polls in a row before a device is reported offline
//! reopen_after = 5        # failed transactions in a row before a port is closed and reopened
//! reconnect_min = 1.0     # seconds before reopening a port that could not be opened ...
//! reconnect_max = 60.0    # ... doubling up to this
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::source::{ConfigError, Source};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    offline_after: Option<Spanned<u32>>,
    #[serde(default)]
    reopen_after: Option<Spanned<u32>>,
    #[serde(default)]
    reconnect_min: Option<Spanned<f64>>,
    #[serde(default)]
    reconnect_max: Option<Spanned<f64>>,
}

/// When a port gives up and tries again. The defaults are the values used before they were
/// configurable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortTiming {
    /// Transient failures in a row before a device is reported offline.
    pub offline_after: u32,
    /// Failures in a row (of every device on the port) before the transport is reopened.
    pub reopen_after: u32,
    /// Wait before reopening a port that could not be opened, doubling up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A whole driver call may not take longer than this, whatever the driver does.
    pub transaction_limit: Duration,
}

impl Default for PortTiming {
    fn default() -> Self {
        PortTiming {
            offline_after: 3,
            reopen_after: 5,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            transaction_limit: Duration::from_secs(20),
        }
    }
}

/// A checked `[gateway]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayConfig {
    /// A name for this site (MQTT client id, topics).
    pub name: Option<String>,
    pub timing: PortTiming,
}

pub(super) fn parse(
    raw: Option<&Spanned<RawGateway>>,
    src: &Source,
) -> Result<GatewayConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(GatewayConfig::default());
    };
    let g = raw.get_ref();
    let name = match &g.name {
        Some(n) => Some(src.name(n, "gateway")?),
        None => None,
    };
    let defaults = PortTiming::default();
    let backoff_min = src.seconds(
        &g.reconnect_min,
        defaults.backoff_min.as_secs_f64(),
        0.1..=600.0,
        "reconnect_min",
    )?;
    let backoff_max = src.seconds(
        &g.reconnect_max,
        defaults.backoff_max.as_secs_f64(),
        1.0..=3600.0,
        "reconnect_max",
    )?;
    if backoff_max < backoff_min {
        return Err(src.at(
            raw.span(),
            format!("reconnect_max ({backoff_max:?}) is below reconnect_min ({backoff_min:?})"),
        ));
    }
    Ok(GatewayConfig {
        name,
        timing: PortTiming {
            offline_after: src.within(
                &g.offline_after,
                defaults.offline_after,
                1..=100,
                "offline_after",
            )?,
            reopen_after: src.within(
                &g.reopen_after,
                defaults.reopen_after,
                1..=100,
                "reopen_after",
            )?,
            backoff_min,
            backoff_max,
            transaction_limit: defaults.transaction_limit,
        },
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::time::Duration;

    const DEV: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"p\"\n";

    #[test]
    fn timing_keys_default_to_the_old_constants_and_are_checked() {
        let c = Config::parse(DEV, "t").unwrap();
        assert_eq!(c.gateway.timing, super::PortTiming::default());
        assert_eq!(c.gateway.timing.backoff_max, Duration::from_secs(60));
        let c = Config::parse(
            &format!(
                "{DEV}[gateway]\noffline_after = 5\nreconnect_min = 2.0\nreconnect_max = 30.0\n"
            ),
            "t",
        )
        .unwrap();
        assert_eq!(c.gateway.timing.offline_after, 5);
        assert_eq!(c.gateway.timing.backoff_min, Duration::from_secs(2));
        assert_eq!(c.gateway.timing.backoff_max, Duration::from_secs(30));
        for (extra, line, needle) in [
            (
                "offline_after = 0\n",
                9,
                "offline_after must be within 1..=100",
            ),
            ("reconnect_min = -1.0\n", 9, "reconnect_min"),
            (
                "reconnect_min = 10.0\nreconnect_max = 5.0\n",
                8,
                "below reconnect_min",
            ),
            ("name = \"a b\"\n", 9, "gateway name"),
        ] {
            let err = Config::parse(&format!("{DEV}[gateway]\n{extra}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra}: {err}");
            assert!(err.starts_with(&format!("t:{line}:")), "{extra}: {err}");
        }
    }
}
