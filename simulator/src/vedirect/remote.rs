//! Remote sense values written by a network master (MPPT HEX protocol Rev 10, "Remote control
//! registers" 0x2002 battery voltage sense un16 0.01 V and 0x2003 battery temperature sense sn16
//! 0.01 °C; "Remote sensor data": a timeout of 60 s after which the charger stops using them;
//! 0xFFFF / 0x7FFF = not available, the charger switches back to internal behaviour at once).

use serde::Serialize;

/// Remote values are dropped this long after the last write.
pub(crate) const REMOTE_TIMEOUT_MS: u64 = 60_000;

/// "Not available" raw values.
pub(crate) const VSENSE_NA: u16 = 0xFFFF;
pub(crate) const TSENSE_NA: i16 = 0x7FFF;

/// One remote value with the time of its last write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct RemoteValue {
    /// Raw register value while fresh.
    pub raw: Option<i32>,
    pub written_at_ms: u64,
}

impl RemoteValue {
    /// A write; `None` = the "not available" value, dropped at once.
    pub fn write(&mut self, raw: Option<i32>, now_ms: u64) {
        self.raw = raw;
        self.written_at_ms = now_ms;
    }

    /// Drop the value once the timeout has passed; true if it expired just now.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        if self.raw.is_some() && now_ms.saturating_sub(self.written_at_ms) >= REMOTE_TIMEOUT_MS {
            self.raw = None;
            return true;
        }
        false
    }

    /// Seconds left before the value times out.
    /// Seconds since the last write, while the value is fresh.
    pub fn age_s(&self, now_ms: u64) -> Option<f64> {
        self.raw
            .map(|_| now_ms.saturating_sub(self.written_at_ms) as f64 / 1000.0)
    }

    pub fn remaining_s(&self, now_ms: u64) -> Option<f64> {
        self.raw.map(|_| {
            let deadline = self.written_at_ms.saturating_add(REMOTE_TIMEOUT_MS);
            deadline.saturating_sub(now_ms) as f64 / 1000.0
        })
    }
}

/// Remote voltage and temperature sense.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct RemoteSense {
    pub voltage: RemoteValue,
    pub temperature: RemoteValue,
}

impl RemoteSense {
    pub fn voltage_v(&self) -> Option<f64> {
        self.voltage.raw.map(|r| f64::from(r) / 100.0)
    }

    pub fn temperature_c(&self) -> Option<f64> {
        self.temperature.raw.map(|r| f64::from(r) / 100.0)
    }

    /// Raw 0x2002 as read back: the value in use or 0xFFFF.
    pub fn voltage_raw(&self) -> u16 {
        self.voltage
            .raw
            .and_then(|r| u16::try_from(r).ok())
            .unwrap_or(VSENSE_NA)
    }

    /// Raw 0x2003 as read back: the value in use or 0x7FFF.
    pub fn temperature_raw(&self) -> i16 {
        self.temperature
            .raw
            .and_then(|r| i16::try_from(r).ok())
            .unwrap_or(TSENSE_NA)
    }
}
