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
use sungate_drivers::vedirect::text::{TextBlock, TextEvent, TextParser, TextStats};
use sungate_drivers::vedirect::validate::{TextValidator, ValidatorStats};
use sungate_drivers::vedirect::{hex, registers};
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
    #[error("cannot read the input")]
    Read(#[source] io::Error),
    #[error("cannot write the output")]
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
    /// The parser's counters: `blocks_ok` counts blocks whose checksum matched.
    pub text: TextStats,
    /// The structural checks' counters: of the checksum-valid blocks, how many were committed
    /// (`accepted`) and how many dropped (`rejected`).
    pub checks: ValidatorStats,
    /// HEX frames that were framed correctly but failed their check byte or layout.
    pub hex_invalid: u64,
    pub bytes_read: u64,
}

impl fmt::Display for VedirectSummary {
    /// `blocks ok` counts the committed blocks (checksum and checks passed); `rejected` the
    /// checksum-valid blocks the checks dropped. It comes last so that tools matching the
    /// earlier parts (.ci/run) keep working.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocks ok: {}, checksum failures: {}, hex frames: {} ({} invalid), bytes skipped: {}, bytes read: {}, rejected: {}",
            self.checks.accepted,
            self.text.checksum_failures,
            self.text.hex_frames,
            self.hex_invalid,
            self.text.bytes_skipped,
            self.bytes_read,
            self.checks.rejected
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

/// One HEX frame (as framed by the text parser, without its `\n`) as JSON:
/// `{"kind":"hex","frame":":A0102000543","command":"async","register":"0x0201",
/// "name":"device_state","flags":0,"value":5}`. Frames that fail to decode are reported with the
/// reason instead of being dropped silently; the bool says whether the frame was valid.
pub fn hex_frame_json(line: &[u8], style: JsonStyle) -> (Json, bool) {
    let text = String::from_utf8_lossy(line).into_owned();
    let frame = match hex::decode_frame(line) {
        Ok(frame) => frame,
        Err(err) => {
            return (
                json!({ "kind": "hex", "frame": text, "error": err.to_string() }),
                false,
            );
        }
    };
    let mut obj = Map::new();
    obj.insert("kind".into(), Json::from("hex"));
    obj.insert("frame".into(), Json::from(text));
    obj.insert("command".into(), Json::from(command_name(frame.command)));
    match frame.as_register() {
        Some(reg) => {
            obj.insert("register".into(), Json::from(format!("0x{:04X}", reg.id)));
            obj.insert("flags".into(), Json::from(reg.flags.0));
            if let Some(spec) = registers::lookup(reg.id) {
                obj.insert("name".into(), Json::from(spec.name));
                if !reg.value.is_empty() {
                    let value = match history_json(reg.id, &reg.value) {
                        Some(history) => history,
                        None => match spec.decode(&reg.value) {
                            Ok(Some(v)) => serde_json::to_value(&v).unwrap_or(Json::Null),
                            Ok(None) => Json::from("not available"),
                            Err(err) => Json::from(format!("invalid: {err}")),
                        },
                    };
                    let value = match (style, spec.unit) {
                        (JsonStyle::WithUnits, Some(unit)) => {
                            json!({ "value": value, "unit": unit })
                        }
                        _ => value,
                    };
                    obj.insert("value".into(), value);
                }
            }
            if !reg.value.is_empty() {
                obj.insert("raw".into(), Json::from(hex_string(&reg.value)));
            }
        }
        None => {
            if !frame.payload.is_empty() {
                obj.insert("raw".into(), Json::from(hex_string(&frame.payload)));
            }
        }
    }
    (Json::Object(obj), true)
}

/// MPPT history records (0x104F total, 0x1050.. days) decoded into their fields.
fn history_json(id: u16, value: &[u8]) -> Option<Json> {
    let decoded = match id {
        0x104F => serde_json::to_value(registers::HistoryTotal::decode(value).ok()?),
        0x1050..=0x106E => serde_json::to_value(registers::HistoryDay::decode(value).ok()?),
        _ => return None,
    };
    decoded.ok()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A HEX command nibble's name; nibbles that mean different things by direction name both.
fn command_name(command: hex::HexCommand) -> &'static str {
    use hex::HexCommand as C;
    match command {
        C::EnterBoot => "enter_boot",
        C::PingOrDone => "ping_or_done",
        C::AppVersionOrUnknown => "app_version_or_unknown",
        C::ProductIdOrError => "product_id_or_error",
        C::PingReply => "ping_reply",
        C::Restart => "restart",
        C::Get => "get",
        C::Set => "set",
        C::Async => "async",
        _ => "reserved",
    }
}

/// Decode a whole VE.Direct stream from `input`, writing JSON lines to `out`. Text blocks go
/// through the same [`TextValidator`] as the gateway's driver: a block it rejects is counted and
/// not printed, like one that failed its checksum (`RUST_LOG=sungate_drivers=debug` shows why).
pub fn vedirect_stream(
    mut input: impl Read,
    out: &mut impl Write,
    options: VedirectOptions,
) -> Result<VedirectSummary, DecodeCmdError> {
    let mut parser = TextParser::new();
    let mut validator = TextValidator::new();
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
                TextEvent::Block(block) => validator
                    .validate(&block)
                    .ok()
                    .map(|()| text_block_json(&block, options)),
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
        // Flush per chunk so that a live stream (`cat /dev/ttyUSB0 | sungate decode vedirect -`)
        // shows each block as it arrives; files are read in 64 KiB chunks, so this costs nothing.
        if write_error.is_none() {
            write_error = out.flush().err();
        }
        if let Some(err) = write_error.take() {
            // A closed pipe (`| head`) is the reader saying it has enough: stop quietly.
            if err.kind() == io::ErrorKind::BrokenPipe {
                break;
            }
            return Err(DecodeCmdError::Write(err));
        }
    }
    summary.text = parser.stats();
    summary.checks = validator.stats();
    if summary.checks.accepted == 0 && summary.text.hex_frames == 0 {
        return Err(DecodeCmdError::NothingFound {
            bytes: summary.bytes_read,
            summary,
        });
    }
    Ok(summary)
}
