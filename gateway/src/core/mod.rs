//! The gateway's core: everything between the configuration and the sinks. It knows ports,
//! devices and drivers, never a sink (MQTT, later HTTP and history) or the bridge: those
//! depend on the core (the [`bus`] to follow, the [`router`] to send commands), not the other
//! way round.
//!
//! - [`port_task`]: one task per physical port owns its transport and runs one transaction at a
//!   time; lock groups serialize the interfaces of one unit; commands before polls; reopening
//!   with backoff; availability.
//! - [`opener`]: turns a port's configured transport into a link, and a device's config into
//!   its driver.
//! - [`router`]: sends a command to the port task of a device.
//! - [`bus`]: the broadcast every sink and the bridge follow.
//! - [`health`]: the gateway's own counters (polls, latency, sinks), for `/metrics`.

pub mod bus;
pub mod energy;
pub mod health;
pub mod opener;
pub mod port_task;
pub mod router;
