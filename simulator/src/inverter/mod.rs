//! PLACEHOLDER with the model API, replaced by the real inverter model.
use std::time::Duration;
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct InverterConfig {}
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SimError(String);
#[derive(Debug, Clone, Copy)]
pub enum ProtocolFault {
    Nak,
    Pi18,
    Silence,
}
#[derive(Debug)]
pub enum Response {
    Reply(Vec<u8>),
    Silence,
}
#[derive(Debug)]
pub struct InverterModel {}
impl InverterModel {
    pub fn new(_c: InverterConfig, _seed: u64) -> Self {
        InverterModel {}
    }
    pub fn advance(&mut self, _dt: Duration) {}
    pub fn handle_request(&mut self, r: &[u8]) -> Response {
        if r.starts_with(b"QPI") {
            Response::Reply(b"(PI30\x9a\x0b\r".to_vec())
        } else {
            Response::Reply(b"(NAKss\r".to_vec())
        }
    }
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    pub fn set_env(&mut self, k: &str, _v: &serde_json::Value) -> Result<(), SimError> {
        Err(SimError(format!("unknown {k}")))
    }
    pub fn set_fault(&mut self, _f: ProtocolFault, _on: bool) {}
    pub fn reset(&mut self) {}
}
