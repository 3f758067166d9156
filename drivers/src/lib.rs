//! sungate-drivers: sans-IO protocol codecs for Voltronic "PI30" and "PI18" inverters and Victron
//! VE.Direct devices, and the drivers and transports built on them.
//!
//! Everything under [`pi30`], [`pi18`] and [`vedirect`] is a pure function over bytes or a small state
//! machine fed with bytes: no I/O, no async runtime, no clock. The gateway, the simulator, the
//! fuzz targets and the benchmarks all share these codecs. What the two Voltronic codecs have in
//! common (CRC and frame checks, positional field decoding, setter-value parsing) is written once,
//! in the crate-private `voltronic` module.

pub mod detect;
pub mod driver;
pub mod link;
pub mod pi18;
pub mod pi30;
pub mod plausible;
pub mod reading;
#[cfg(test)]
mod testing;
pub mod transport;
pub mod vedirect;
mod voltronic;
pub mod wire;

pub use reading::{Field, Reading, Value};
