//! Simulated Victron VE.Direct devices: a BMV-712 style battery monitor and a SmartSolar style MPPT
//! solar charger, as sans-IO state machines.
//!
//! Follows "VE.Direct Protocol" 3.33 (Text mode: one block per second, `Checksum` byte making the
//! block sum 0 mod 256, "older" and "newer" Text/HEX implementations), the "BMV700 Series HEX
//! protocol" Rev 6 and "VE.Direct Protocol - BlueSolar and SmartSolar MPPT chargers" Rev 10
//! (HEX frames, registers, remote sense 0x2002/0x2003 with the 60 s timeout, async messages).
//!
//! A front end moves bytes: it calls [`VeDevice::advance`] as simulated time passes, hands the
//! bytes the host wrote to [`VeDevice::receive`] and writes whatever [`VeDevice::take_output`]
//! returns to the wire. Output is a sequence of whole text blocks and whole HEX frames, so a HEX
//! reply never lands inside a text block.

mod battery;
mod bmv;
mod bmv_regs;
mod charger;
mod error;
mod hexcmd;
mod link;
mod mppt;
mod mppt_regs;
mod ranges;
mod remote;
mod wire;

#[cfg(test)]
mod tests_bmv;
#[cfg(test)]
mod tests_common;
#[cfg(test)]
mod tests_energy;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_mppt;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use bmv::{AuxInput, BmvConfig, BmvModel};
pub use error::SimError;
pub use mppt::{MpptConfig, MpptModel};

/// How the device mixes Text and HEX traffic ("VE.Direct Protocol" 3.33, Introduction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirmwareMode {
    /// Older implementations: Text output pauses while HEX frames arrive and resumes a few
    /// seconds after the last valid one.
    Old,
    /// Newer implementations: Text mode always active; HEX replies go between blocks.
    #[default]
    New,
}

/// What a front end needs from a simulated VE.Direct device.
pub trait VeDevice {
    /// Simulated time passes; text blocks become due once per simulated second.
    fn advance(&mut self, dt: Duration);
    /// Bytes the host wrote (HEX requests, possibly split across calls, possibly garbage).
    fn receive(&mut self, bytes: &[u8]);
    /// Bytes the device transmits now, in wire order.
    fn take_output(&mut self) -> Vec<u8>;
    /// Full state for the control API.
    fn snapshot(&self) -> serde_json::Value;
    /// Change the simulated environment (loads, temperatures, PV power ...).
    fn set_env(&mut self, key: &str, value: &serde_json::Value) -> Result<(), SimError>;
    /// Back to the state the device was created with (configuration and seed).
    fn reset(&mut self);
}
