//! sungate-sim: emulates PI30 inverters and Victron VE.Direct devices so that sungate can be
//! tested end to end without hardware.
//!
//! The device models ([`inverter`], [`vedirect`]) are sans-IO state machines driven by simulated
//! time (`advance`) and by the bytes a client writes; the front ends ([`frontend`]: PTYs, TCP,
//! in-memory) move bytes between them and the world; [`device`] adds faults and the
//! multi-interface lockup; [`control`] is the HTTP control API. Every frame a model emits is built
//! with the codecs of `sungate-drivers`, which are held to golden vectors from real devices.

pub mod config;
pub mod control;
pub mod device;
pub mod energy;
pub mod faults;
pub mod frontend;
pub mod inverter;
pub mod ranges;
pub mod rng;
pub mod sim;
pub mod vedirect;

#[cfg(test)]
mod tests_ranges;

/// The devices the default setup emulates.
pub const DEFAULT_DEVICES: [&str; 3] = ["inverter", "bmv", "mppt"];
