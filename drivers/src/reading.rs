//! Decoded values as every codec hands them out: an ordered list of named, typed fields.
//!
//! Field names are snake_case and stable (for PI30 they follow mpp-solar's names so that users can
//! migrate dashboards). Enumerations keep both their human name (`value`) and the raw token the
//! device sent (`raw`), so nothing the device said is lost.

use serde::Serialize;
use std::borrow::Cow;

/// One decoded value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Value {
    /// The value as a float, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(_) | Value::Text(_) => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

/// One named field of a reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// snake_case name, e.g. `battery_voltage`.
    pub name: Cow<'static, str>,
    pub value: Value,
    /// Unit symbol (`V`, `A`, `W`, `VA`, `Hz`, `%`, `°C`, `Ah`, `kWh`, `min`, `s` ...), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    /// The raw token the device sent, kept for enumerations and flags whose `value` is a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl Field {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        Field {
            name: name.into(),
            value: value.into(),
            unit: None,
            raw: None,
        }
    }

    pub fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = Some(unit);
        self
    }

    pub fn with_raw(mut self, raw: impl Into<String>) -> Self {
        self.raw = Some(raw.into());
        self
    }
}

/// An ordered set of decoded fields (the order is the order on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Reading {
    pub fields: Vec<Field>,
}

impl Reading {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: Field) {
        self.fields.push(field);
    }

    /// The first field with this name.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The value of the first field with this name.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.get(name).map(|f| &f.value)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter()
    }
}
