//! sungate: the gateway library behind the `sungate` binary.
//!
//! Today it holds the offline decoders used by `sungate decode`; the gateway core (config, port
//! tasks, scheduling, sinks) grows here in later milestones.

pub mod bridge;
pub mod bus;
pub mod config;
pub mod decode;
pub mod hexdump;
pub mod mqtt;
pub mod port;
pub mod portspec;
pub mod runtime;
pub mod scan;
pub mod setting;
