//! TEMPORARY STUB (lead's compile check; replaced by the history helper's module).
#![allow(dead_code, unused_variables)]
use std::path::Path;
#[derive(Debug, thiserror::Error)]
#[error("history: {0}")]
pub struct HistoryError(String);
#[derive(Debug, Clone)]
pub struct HistoryReader;
#[derive(Debug, Clone)]
pub struct Series {
    pub field: String,
    pub unit: Option<String>,
    pub points: Vec<Point>,
}
#[derive(Debug, Clone)]
pub struct Point {
    pub t_ms: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub at_ms: i64,
    pub device: String,
    pub kind: String,
    pub message: String,
    pub detail: serde_json::Value,
}
impl HistoryReader {
    pub fn open(path: &Path) -> Result<HistoryReader, HistoryError> {
        Ok(HistoryReader)
    }
    pub fn query(
        &self,
        device: &str,
        fields: &[&str],
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Series>, HistoryError> {
        Ok(vec![])
    }
    pub fn daily_energy(
        &self,
        device: &str,
        power_field: &str,
        days: u32,
        now_ms: i64,
    ) -> Result<Vec<(String, f64)>, HistoryError> {
        Ok(vec![])
    }
    pub fn events(
        &self,
        device: Option<&str>,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<StoredEvent>, HistoryError> {
        Ok(vec![])
    }
}
