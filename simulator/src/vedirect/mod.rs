//! PLACEHOLDER with the model API, replaced by the real BMV/MPPT models.
use std::time::Duration;
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SimError(String);
pub trait VeDevice {
    fn advance(&mut self, dt: Duration);
    fn receive(&mut self, bytes: &[u8]);
    fn take_output(&mut self) -> Vec<u8>;
    fn snapshot(&self) -> serde_json::Value;
    fn set_env(&mut self, key: &str, value: &serde_json::Value) -> Result<(), SimError>;
    fn reset(&mut self);
}
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BmvConfig {}
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct MpptConfig {}
#[derive(Debug)]
pub struct BmvModel {
    t: Duration,
    out: Vec<u8>,
}
#[derive(Debug)]
pub struct MpptModel {
    t: Duration,
    out: Vec<u8>,
}
impl BmvModel {
    pub fn new(_c: BmvConfig, _s: u64) -> Self {
        BmvModel {
            t: Duration::ZERO,
            out: vec![],
        }
    }
}
impl MpptModel {
    pub fn new(_c: MpptConfig, _s: u64) -> Self {
        MpptModel {
            t: Duration::ZERO,
            out: vec![],
        }
    }
}
macro_rules! ph { ($t:ty) => { impl VeDevice for $t {
    fn advance(&mut self, dt: Duration) { let before = self.t.as_secs(); self.t += dt; if self.t.as_secs() != before { self.out.extend_from_slice(b"\r\nPID\t0xA042\r\nFW\t123\r\nSER#\tHQ1411MYIKN\r\nV\t12530\r\nI\t640\r\nVPV\t31390\r\nPPV\t8\r\nCS\t3\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t8272\r\nH20\t0\r\nH21\t11\r\nH22\t25\r\nH23\t119\r\nHSDS\t274\r\nChecksum\t\xB1"); } }
    fn receive(&mut self, b: &[u8]) { if b.starts_with(b":154") { self.out.extend_from_slice(b":51641F9\n"); } }
    fn take_output(&mut self) -> Vec<u8> { std::mem::take(&mut self.out) }
    fn snapshot(&self) -> serde_json::Value { serde_json::json!({"t": self.t.as_secs_f64()}) }
    fn set_env(&mut self, k: &str, _v: &serde_json::Value) -> Result<(), SimError> { Err(SimError(format!("unknown {k}"))) }
    fn reset(&mut self) {}
} } }
ph!(BmvModel);
ph!(MpptModel);
