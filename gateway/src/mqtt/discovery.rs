//! Home Assistant MQTT discovery: one retained config per field, grouped into one HA device per
//! gateway device (parallel inverters are separate devices because each has its own serial).

use serde_json::{Map, Value as Json, json};
use sungate_drivers::Value;
use sungate_drivers::driver::{DeviceInfo, FieldSpec};
use sungate_drivers::reading::Field;

use crate::config::MqttConfig;
use crate::core::energy;

/// HA classes of a field: the driver's [`FieldSpec`] where it has them, else derived from the
/// unit so that fields without a spec (flattened `qpiri_*` names, new decoders) still land in the
/// right HA graphs and the energy dashboard.
pub fn classes(
    field: &Field,
    spec: Option<&FieldSpec>,
) -> (Option<&'static str>, Option<&'static str>) {
    let numeric = matches!(field.value, Value::Int(_) | Value::Float(_));
    let unit = spec.and_then(|s| s.unit).or(field.unit);
    let derived_device = match unit {
        Some("V") => Some("voltage"),
        Some("A") => Some("current"),
        Some("W") => Some("power"),
        Some("VA") => Some("apparent_power"),
        Some("Hz") => Some("frequency"),
        Some("°C") => Some("temperature"),
        Some("kWh" | "Wh") => Some("energy"),
        Some("%")
            if ["soc", "state_of_charge", "battery_capacity"]
                .iter()
                .any(|k| field.name.contains(k)) =>
        {
            Some("battery")
        }
        _ => None,
    };
    let device_class = spec.and_then(|s| s.device_class).or(derived_device);
    let derived_state = match (numeric, device_class) {
        (false, _) => None,
        // Energy counters only go up (until a reset), which is what the energy dashboard wants.
        (true, Some("energy")) => Some("total_increasing"),
        (true, _) => Some("measurement"),
    };
    let state_class = spec.and_then(|s| s.state_class).or(derived_state);
    (device_class, state_class)
}

/// `battery_voltage` -> `Battery voltage`.
fn human(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// Lowercase letters, digits and `_` only: what HA accepts in node and object ids.
pub fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The HA device identifier: the serial number when the device told us one (so that the HA device
/// survives a renamed port or a moved USB cable), else gateway + device name.
pub fn identifier(cfg: &MqttConfig, device: &str, info: Option<&DeviceInfo>) -> String {
    match info
        .and_then(|i| i.serial.as_deref())
        .filter(|s| !s.is_empty())
    {
        Some(serial) => format!("sungate_{}", id_part(serial)),
        None => format!("sungate_{}_{}", id_part(&cfg.gateway_name), id_part(device)),
    }
}

/// The state topic of a device, or of unit `n` of its parallel stack.
pub fn state_topic(cfg: &MqttConfig, device: &str, unit: Option<u8>) -> String {
    match unit {
        None => format!("{}/{device}/state", cfg.prefix),
        Some(n) => format!("{}/{device}/unit{n}/state", cfg.prefix),
    }
}

/// The HA device a group of fields belongs to: a gateway device, or one unit of a parallel
/// inverter stack (its own serial, so its own HA device, linked to the gateway device).
#[derive(Debug, Clone)]
pub struct HaDevice {
    /// The gateway device (for its availability topic).
    pub device: String,
    /// Object-id part: the device name, or `<device>_unit<n>`.
    pub key: String,
    pub state_topic: String,
    pub name: String,
    pub identifier: String,
    /// Prefix of the entities' unique ids: stable across renames where a serial is known.
    pub unique_base: String,
    pub info: Option<DeviceInfo>,
    /// The identifier of the gateway device a unit belongs to.
    pub via: Option<String>,
}

impl HaDevice {
    /// A gateway device.
    pub fn main(cfg: &MqttConfig, device: &str, info: Option<&DeviceInfo>) -> Self {
        HaDevice {
            device: device.to_owned(),
            key: device.to_owned(),
            state_topic: state_topic(cfg, device, None),
            name: device.to_owned(),
            identifier: identifier(cfg, device, info),
            unique_base: identifier(cfg, device, info),
            info: info.cloned(),
            via: None,
        }
    }

    /// Unit `n` of a parallel stack polled through `device` (QPGSn), with the serial it reported.
    pub fn unit(
        cfg: &MqttConfig,
        device: &str,
        info: Option<&DeviceInfo>,
        n: u8,
        serial: Option<&str>,
    ) -> Self {
        let main = identifier(cfg, device, info);
        let identifier = match serial.filter(|s| !s.is_empty()) {
            Some(serial) => format!("sungate_{}", id_part(serial)),
            None => format!("{main}_unit{n}"),
        };
        HaDevice {
            device: device.to_owned(),
            key: format!("{device}_unit{n}"),
            state_topic: state_topic(cfg, device, Some(n)),
            name: format!("{device} unit {n}"),
            // Same family and firmware as the unit we talk to; its own serial.
            info: info.map(|i| DeviceInfo {
                serial: serial.map(str::to_owned),
                ..i.clone()
            }),
            // The unit may be the very inverter we talk to (same serial): its entities still
            // need ids of their own.
            unique_base: format!("{identifier}_unit{n}"),
            via: (identifier != main).then_some(main),
            identifier,
        }
    }
}

/// One discovery message: (topic, retained payload).
pub fn config_for(
    cfg: &MqttConfig,
    target: &HaDevice,
    field: &Field,
    spec: Option<&FieldSpec>,
) -> (String, Vec<u8>) {
    let binary = matches!(field.value, Value::Bool(_));
    let component = if binary { "binary_sensor" } else { "sensor" };
    let ident = &target.identifier;
    let node = format!(
        "sungate_{}_{}",
        id_part(&cfg.gateway_name),
        id_part(&target.key)
    );
    let object = id_part(&field.name);
    let topic = format!(
        "{}/{component}/{node}/{object}/config",
        cfg.discovery_prefix
    );
    let name = &field.name;
    let mut c = Map::new();
    c.insert("name".into(), json!(human(name)));
    c.insert(
        "unique_id".into(),
        json!(format!("{}_{object}", target.unique_base)),
    );
    // The entity id HA gives it (`sensor.inverter_battery_voltage`); HA 2026.4 dropped the older
    // `object_id` for this.
    c.insert(
        "default_entity_id".into(),
        json!(format!("{component}.{}_{object}", id_part(&target.key))),
    );
    c.insert("state_topic".into(), json!(target.state_topic));
    let template = if binary {
        format!("{{{{ 'ON' if value_json['{name}'] else 'OFF' }}}}")
    } else {
        format!("{{{{ value_json['{name}'] }}}}")
    };
    c.insert("value_template".into(), json!(template));
    if energy::is_counter(name) {
        // Where the counter comes from (`device` or `integrated`), as an attribute of the
        // entity, from the same state message.
        c.insert("json_attributes_topic".into(), json!(target.state_topic));
        c.insert(
            "json_attributes_template".into(),
            json!(format!(
                "{{{{ {{'source': value_json['{}']}} | tojson }}}}",
                energy::source_field(name)
            )),
        );
    }
    if let Some(unit) = spec.and_then(|s| s.unit).or(field.unit) {
        c.insert("unit_of_measurement".into(), json!(unit));
    }
    let (device_class, state_class) = classes(field, spec);
    // binary_sensor has its own device classes; a sensor class there would be refused by HA.
    if !binary {
        if let Some(dc) = device_class {
            c.insert("device_class".into(), json!(dc));
        }
        if let Some(sc) = state_class {
            c.insert("state_class".into(), json!(sc));
        }
    }
    c.insert(
        "availability".into(),
        json!([
            {"topic": format!("{}/gateway/availability", cfg.prefix)},
            {"topic": format!("{}/{}/availability", cfg.prefix, target.device)},
        ]),
    );
    c.insert("availability_mode".into(), json!("all"));
    let mut d = Map::new();
    d.insert("identifiers".into(), json!([ident]));
    d.insert("name".into(), json!(target.name));
    if let Some(info) = &target.info {
        let model = info.model.clone().unwrap_or_else(|| info.protocol.clone());
        d.insert("model".into(), json!(model));
        for (key, v) in [
            ("sw_version", &info.firmware),
            ("manufacturer", &info.manufacturer),
            ("serial_number", &info.serial),
        ] {
            if let Some(v) = v {
                d.insert(key.into(), json!(v));
            }
        }
    }
    if let Some(via) = &target.via {
        d.insert("via_device".into(), json!(via));
    }
    c.insert("device".into(), Json::Object(d));
    let payload = serde_json::to_vec(&Json::Object(c)).unwrap_or_default();
    (topic, payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classes_from_units_and_specs() {
        let f = Field::new("pv_energy", 12.5).with_unit("kWh");
        assert_eq!(
            classes(&f, None),
            (Some("energy"), Some("total_increasing"))
        );
        let f = Field::new("battery_capacity", 80i64).with_unit("%");
        assert_eq!(classes(&f, None), (Some("battery"), Some("measurement")));
        let f = Field::new("state_of_charge", 85.0).with_unit("%");
        assert_eq!(classes(&f, None), (Some("battery"), Some("measurement")));
        let f = Field::new("load_percentage", 8i64).with_unit("%");
        assert_eq!(classes(&f, None), (None, Some("measurement")));
        let f = Field::new("device_mode", "Battery");
        assert_eq!(classes(&f, None), (None, None));
        let spec = FieldSpec {
            name: "x",
            unit: Some("W"),
            device_class: Some("power"),
            state_class: Some("total"),
        };
        assert_eq!(
            classes(&Field::new("x", 1i64), Some(&spec)),
            (Some("power"), Some("total"))
        );
        assert_eq!(human("battery_voltage"), "Battery voltage");
    }
}
