//! What the MQTT tasks know of each source of state: a configured device or a bridge.

use sungate_drivers::driver::{DeviceInfo, FieldSpec};

use crate::config::{BridgeConfig, DeviceConfig};
use crate::types::DriverKind;

/// What the MQTT tasks need to know about a source of state: a configured device, or a bridge.
#[derive(Debug, Clone)]
pub struct MqttDevice {
    pub name: String,
    /// The driver of a device (it takes commands); None for a bridge.
    pub driver: Option<DriverKind>,
    /// The driver's field metadata, for discovery.
    pub fields: Vec<FieldSpec>,
    /// What is known before the device identifies itself (a bridge never does).
    pub info: Option<DeviceInfo>,
}

impl MqttDevice {
    pub fn device(config: &DeviceConfig, fields: &[FieldSpec]) -> Self {
        MqttDevice {
            name: config.name.clone(),
            driver: Some(config.driver),
            fields: fields.to_vec(),
            info: None,
        }
    }

    /// A bridge is its own Home Assistant device: is the MPPT using the BMV's values, what was
    /// sent, when.
    pub fn bridge(config: &BridgeConfig) -> Self {
        MqttDevice {
            name: config.name.clone(),
            driver: None,
            fields: Vec::new(),
            info: Some(DeviceInfo {
                protocol: "bridge".into(),
                model: Some(format!(
                    "Remote sense: {} -> {}",
                    config.source,
                    config.targets.join(", ")
                )),
                serial: None,
                firmware: None,
                manufacturer: Some("sungate".into()),
            }),
        }
    }
}
