//! `sungate decode`: offline decoding of PI30 replies and VE.Direct byte streams into JSON.
//!
//! The decoding itself lives in `sungate-drivers`; this module only turns readings into JSON and
//! drives the streaming VE.Direct parser over a reader.

use std::fmt;
use std::io::{self, Read, Write};

use serde_json::{Map, Value as Json, json};
use sungate_drivers::Reading;
use sungate_drivers::pi30;
use sungate_drivers::pi30::codec::DecodeOptions;
use sungate_drivers::pi30::fields::Variant;
use sungate_drivers::vedirect::fields::decode_fields;
use sungate_drivers::vedirect::hex;
use sungate_drivers::vedirect::text::{TextBlock, TextEvent, TextParser, TextStats};
use thiserror::Error;

/// How fields are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// `"battery_voltage": 54.5`
    Plain,
    /// `"battery_voltage": {"value": 54.5, "unit": "V"}` (and `"raw"` for enumerations).
    WithUnits,
}

#[derive(Debug, Error)]
pub enum DecodeCmdError {
    #[error(transparent)]
    Pi30(#[from] pi30::fields::Pi30Error),
    #[error("cannot read the input: {0}")]
    Read(#[source] io::Error),
    #[error("cannot write the output: {0}")]
    Write(#[source] io::Error),
    #[error("no VE.Direct text block or HEX frame found in {bytes} bytes ({summary})")]
    NothingFound {
        bytes: u64,
        summary: VedirectSummary,
    },
}

/// A reading as one JSON object, field name -> value.
pub fn reading_json(reading: &Reading, style: JsonStyle) -> Json {
    let mut map = Map::with_capacity(reading.len());
    for field in reading.iter() {
        let value = serde_json::to_value(&field.value).unwrap_or(Json::Null);
        let rendered = match style {
            JsonStyle::Plain => value,
            JsonStyle::WithUnits => {
                let mut obj = Map::new();
                obj.insert("value".into(), value);
                if let Some(unit) = field.unit {
                    obj.insert("unit".into(), Json::from(unit));
                }
                if let Some(raw) = &field.raw {
                    obj.insert("raw".into(), Json::from(raw.as_str()));
                }
                Json::Object(obj)
            }
        };
        map.insert(field.name.to_string(), rendered);
    }
    Json::Object(map)
}

/// Decode one PI30 reply frame (the answer to `query`) into a JSON object.
pub fn pi30_json(
    query: &str,
    frame: &[u8],
    variant: Variant,
    opts: DecodeOptions,
    style: JsonStyle,
) -> Result<Json, DecodeCmdError> {
    let reading = pi30::fields::decode_frame(query, frame, variant, opts)?;
    Ok(reading_json(&reading, style))
}

/// Options of `sungate decode vedirect`.
#[derive(Debug, Clone, Copy)]
pub struct VedirectOptions {
    pub style: JsonStyle,
    /// Print raw labels and values instead of decoded fields.
    pub raw: bool,
}

/// What a VE.Direct decode run saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VedirectSummary {
    pub text: TextStats,
    /// HEX frames that were framed correctly but failed their check byte or layout.
    pub hex_invalid: u64,
    pub bytes_read: u64,
}

impl fmt::Display for VedirectSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocks ok: {}, checksum failures: {}, hex frames: {} ({} invalid), bytes skipped: {}, bytes read: {}",
            self.text.blocks_ok,
            self.text.checksum_failures,
            self.text.hex_frames,
            self.hex_invalid,
            self.text.bytes_skipped,
            self.bytes_read
        )
    }
}

/// One committed text block as JSON.
pub fn text_block_json(block: &TextBlock, options: VedirectOptions) -> Json {
    let fields = if options.raw {
        let mut map = Map::with_capacity(block.fields.len());
        for (label, value) in &block.fields {
            map.insert(label.clone(), Json::from(value.as_str()));
        }
        Json::Object(map)
    } else {
        reading_json(&decode_fields(&block.fields), options.style)
    };
    json!({ "kind": "text", "fields": fields })
}

/// One HEX frame (as framed by the text parser, without its `\n`) as JSON. Frames that fail to
/// decode are reported with the reason instead of being dropped silently.
pub fn hex_frame_json(line: &[u8], style: JsonStyle) -> (Json, bool) {
    let text = String::from_utf8_lossy(line).into_owned();
    match hex::decode_frame(line) {
        Ok(frame) => {
            let mut obj = Map::new();
            obj.insert("kind".into(), Json::from("hex"));
            obj.insert("frame".into(), Json::from(text));
            if let Ok(Json::Object(fields)) = serde_json::to_value(&frame) {
                obj.extend(fields);
            }
            if let Some(reading) = hex_register_reading(&frame) {
                obj.insert("decoded".into(), reading_json(&reading, style));
            }
            (Json::Object(obj), true)
        }
        Err(err) => (
            json!({ "kind": "hex", "frame": text, "error": err.to_string() }),
            false,
        ),
    }
}

/// The register value carried by a get/set/async frame, decoded with the register table.
fn hex_register_reading(frame: &hex::HexFrame) -> Option<Reading> {
    let reg = frame.as_register()?;
    let spec = sungate_drivers::vedirect::registers::lookup(reg.id)?;
    if reg.value.is_empty() {
        return None;
    }
    let mut reading = Reading::new();
    match spec.decode(&reg.value) {
        Ok(Some(value)) => {
            let mut field = sungate_drivers::Field::new(spec.name, value);
            field.unit = spec.unit;
            reading.push(field);
        }
        Ok(None) => reading.push(sungate_drivers::Field::new(spec.name, "not available")),
        Err(err) => reading.push(sungate_drivers::Field::new(
            spec.name,
            format!("invalid: {err}"),
        )),
    }
    Some(reading)
}

/// Decode a whole VE.Direct stream from `input`, writing JSON lines to `out`.
pub fn vedirect_stream(
    mut input: impl Read,
    out: &mut impl Write,
    options: VedirectOptions,
) -> Result<VedirectSummary, DecodeCmdError> {
    let mut parser = TextParser::new();
    let mut summary = VedirectSummary::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut write_error: Option<io::Error> = None;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(DecodeCmdError::Read(err)),
        };
        summary.bytes_read += n as u64;
        parser.feed(&buf[..n], |event| {
            let line = match event {
                TextEvent::Block(block) => Some(text_block_json(&block, options)),
                TextEvent::Hex(frame) => {
                    let (json, valid) = hex_frame_json(&frame, options.style);
                    if !valid {
                        summary.hex_invalid += 1;
                    }
                    Some(json)
                }
                TextEvent::ChecksumFailed { .. } => None,
            };
            if let (Some(line), None) = (line, &write_error) {
                if let Err(err) = writeln!(out, "{line}") {
                    write_error = Some(err);
                }
            }
        });
        if let Some(err) = write_error.take() {
            return Err(DecodeCmdError::Write(err));
        }
    }
    summary.text = parser.stats();
    if summary.text.blocks_ok == 0 && summary.text.hex_frames == 0 {
        return Err(DecodeCmdError::NothingFound {
            bytes: summary.bytes_read,
            summary,
        });
    }
    Ok(summary)
}
