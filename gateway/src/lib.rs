//! sungate: the gateway library behind the `sungate` binary.
//!
//! Dependencies go one way, top to bottom (no module imports one above it):
//!
//! ```text
//! cli (binary)  ->  app (assembles a running gateway)
//!                    -> sinks: mqtt (later http, history)  and  bridge
//!                       -> core (port tasks, lock groups, router, opener, bus)
//!                          -> config (one parser per section)  -> setting, types
//!                             -> sungate-drivers (codecs, drivers, transports)
//! ```
//! `decode`, `hexdump` and `scan` are offline helpers of the command line.

pub mod app;
pub mod bridge;
pub mod config;
pub mod core;
pub mod decode;
pub mod hexdump;
pub mod history;
pub mod http;
pub mod mqtt;
pub mod scan;
pub mod setting;
pub mod types;
