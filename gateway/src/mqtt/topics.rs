//! Small helpers every MQTT part shares: the QoS of a config level, fixed topics.

use rumqttc::QoS;

use crate::config::MqttConfig;

pub fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

pub fn gateway_availability_topic(cfg: &MqttConfig) -> String {
    format!("{}/gateway/availability", cfg.prefix)
}
