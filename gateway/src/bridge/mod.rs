//! The BMV -> MPPT remote-sense bridge (seed 003's job, done right).
//!
//! A BMV or SmartShunt knows the battery's real temperature and voltage; an MPPT charger that
//! gets them compensates its charge voltage for temperature and for cable losses. The bridge
//! reads the source from its text snapshots (`T` in °C, `V` in mV; or a HEX get of 0xEDEC when the
//! text has no `T`) and writes the MPPT's network registers through the MPPT's port task:
//!
//! ```text
//! 0x2003 battery temperature  sn16, 0.01 °C   N/A 0x7FFF   :8 0320 00 <lo hi> <check>
//! 0x2002 battery voltage      un16, 0.01 V    N/A 0xFFFF   :8 0220 00 <lo hi> <check>
//! ```
//! Register ids are little-endian on the wire (`03 20`); a byte-swapped id gets "Unknown Id".
//! After writing it reads 0x200F (where the firmware has it) to report whether the MPPT really
//! uses the remote values. Only these RAM registers are written.
//!
//! What to write and when is decided by [`logic::BridgeLogic`] (pure, unit-tested); this task
//! only follows the bus, carries the decisions out through the router and publishes the status.

pub mod logic;

use std::sync::Arc;
use std::time::SystemTime;

use sungate_drivers::driver::{Command, DriverError};
use sungate_drivers::vedirect::registers::{self, NetworkStatus};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::config::BridgeConfig;
use crate::core::bus::{Bus, Event};
use crate::core::health::Health;
use crate::core::router::Router;
use logic::{Action, BridgeLogic, SourceValues, StatusResult, WriteResult};

const REG_NETWORK_STATUS: u16 = 0x200F;
const REG_BMV_TEMPERATURE: u16 = 0xEDEC;

/// Run a bridge until the gateway stops.
pub async fn run(config: BridgeConfig, router: Arc<Router>, bus: Bus, health: Arc<Health>) {
    let name = config.name.clone();
    let source = config.source.clone();
    let mut logic = BridgeLogic::new(config, Instant::now());
    let mut events = bus.subscribe();
    // The bridge is there as long as the gateway runs; whether it forwards anything is in its
    // state (source_state, <target>_<value>_in_use).
    bus.publish(Event::Availability {
        device: name.clone(),
        online: true,
        reason: None,
    });
    loop {
        let wake = logic.next_wake(Instant::now());
        let actions = tokio::select! {
            event = events.recv() => match event {
                Ok(Event::Snapshot { device, reading, .. }) if device == source => {
                    let mut values = SourceValues::from_reading(&reading);
                    if logic.needs_hex_temperature(&values) {
                        values.temperature = source_temperature_by_hex(&router, &source).await;
                    }
                    logic.on_source(values, Instant::now())
                }
                Ok(Event::Availability { device, online, .. }) if device == source => {
                    logic.on_source_availability(online, Instant::now())
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(wake) => logic.on_wake(Instant::now()),
        };
        let Some(actions) = actions else {
            continue;
        };
        for action in actions {
            execute(&router, &mut logic, action, &health).await;
        }
        bus.publish(Event::Snapshot {
            device: name.clone(),
            at: SystemTime::now(),
            reading: Arc::new(logic.status()),
            sections: None,
        });
    }
}

async fn execute(router: &Router, logic: &mut BridgeLogic, action: Action, health: &Health) {
    match action {
        Action::Write {
            target,
            register,
            value,
            bytes,
        } => {
            let result = match router
                .execute(
                    &target,
                    Command::HexSet {
                        id: register,
                        value: bytes,
                    },
                )
                .await
            {
                Ok(_) => WriteResult::Acknowledged,
                // Unknown Id: this MPPT's firmware has no such register.
                Err(DriverError::Refused { reason, .. }) => WriteResult::Refused(reason),
                Err(err) => WriteResult::Failed(err.to_string()),
            };
            let counter = match result {
                WriteResult::Acknowledged => &health.bridge.writes_ok,
                _ => &health.bridge.writes_failed,
            };
            crate::core::health::add(counter, 1);
            logic.on_write(&target, register, value, result, SystemTime::now());
        }
        Action::ReadStatus { target } => {
            let result = match router
                .execute(
                    &target,
                    Command::HexGet {
                        id: REG_NETWORK_STATUS,
                    },
                )
                .await
            {
                Ok(o) => o.data.first().map_or(StatusResult::Failed, |&b| {
                    StatusResult::Value(NetworkStatus(b))
                }),
                Err(DriverError::Refused { .. }) => StatusResult::Unsupported,
                Err(_) => StatusResult::Failed,
            };
            logic.on_status(&target, result);
        }
    }
}

/// 0xEDEC of the source, in °C.
async fn source_temperature_by_hex(router: &Router, source: &str) -> Option<f64> {
    let outcome = router
        .execute(
            source,
            Command::HexGet {
                id: REG_BMV_TEMPERATURE,
            },
        )
        .await
        .ok()?;
    let spec = registers::lookup(REG_BMV_TEMPERATURE)?;
    spec.decode(&outcome.data)
        .ok()
        .flatten()
        .and_then(|v| v.as_f64())
}
