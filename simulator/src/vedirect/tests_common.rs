//! Test helpers: run devices in memory and split their output into text blocks and HEX frames the
//! way a host does ("VE.Direct Protocol" 3.33 "Data integrity"; HEX frames between blocks).

use std::time::Duration;

use sungate_drivers::vedirect::hex::decode_frame;
use sungate_drivers::vedirect::text::{TextEvent, TextParser};
use sungate_drivers::vedirect::validate::TextValidator;

use super::VeDevice;

/// One unit of output, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A text block's fields (checksum verified).
    Block(Vec<(String, String)>),
    /// A HEX frame without its `\n`.
    Hex(String),
}

/// Split a device's output into whole blocks and whole HEX frames. Fails on anything else: a
/// block with a bad checksum (which is also what a HEX frame inside a block produces), stray
/// bytes, or a truncated unit.
pub(crate) fn segment(bytes: &[u8]) -> Result<Vec<Unit>, String> {
    segment_with(bytes, true)
}

/// [`segment`] without the gateway's value checks: for devices driven with absurd configurations
/// or environments on purpose (the output must still frame cleanly; its values need not be
/// physical).
pub(crate) fn segment_framing(bytes: &[u8]) -> Result<Vec<Unit>, String> {
    segment_with(bytes, false)
}

fn segment_with(bytes: &[u8], check_values: bool) -> Result<Vec<Unit>, String> {
    let units = segment_only(bytes)?;
    let codec = codec_units(bytes, check_values)?;
    if codec != units {
        return Err(format!("codec sees {codec:?}, segmenter {units:?}"));
    }
    Ok(units)
}

/// The same stream through the shared `TextParser` (one byte at a time, the worst chunking), with
/// every HEX frame also decoded by the shared HEX codec and every block checked by the gateway's
/// `TextValidator`. Fails on any checksum failure or skip, and on any block the checks find wrong
/// in itself (bad syntax, a value outside its physical range): the simulator must never send
/// what the gateway would drop. A change of the label set (a learnable rejection) is fine.
pub(crate) fn codec_units(bytes: &[u8], check_values: bool) -> Result<Vec<Unit>, String> {
    let mut parser = TextParser::new();
    let mut validator = TextValidator::new();
    let mut units = Vec::new();
    let mut bad = Vec::new();
    for b in bytes {
        parser.feed(std::slice::from_ref(b), |ev| match ev {
            TextEvent::Block(block) => {
                if let (true, Err(reason)) = (check_values, validator.validate(&block)) {
                    if !reason.is_learnable() {
                        bad.push(format!("rejected by the gateway: {reason}: {block:?}"));
                    }
                }
                units.push(Unit::Block(block.fields))
            }
            TextEvent::Hex(frame) => {
                if let Err(e) = decode_frame(&frame) {
                    bad.push(format!("{}: {e}", lossy(&frame)));
                }
                units.push(Unit::Hex(lossy(&frame)));
            }
            TextEvent::ChecksumFailed { len } => bad.push(format!("checksum failed ({len})")),
        });
    }
    let stats = parser.stats();
    if !bad.is_empty() || stats.checksum_failures != 0 || stats.bytes_skipped != 0 {
        return Err(format!("codec: {bad:?} {stats:?}"));
    }
    Ok(units)
}

fn segment_only(bytes: &[u8]) -> Result<Vec<Unit>, String> {
    let mut units = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        if bytes[p] == b':' {
            let end = bytes[p..]
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| format!("unterminated HEX frame at {p}"))?;
            let frame = String::from_utf8(bytes[p..p + end].to_vec())
                .map_err(|_| format!("non-ASCII HEX frame at {p}"))?;
            units.push(Unit::Hex(frame));
            p += end + 1;
        } else if bytes[p..].starts_with(b"\r\n") {
            let marker = b"\r\nChecksum\t";
            let rel = bytes[p..]
                .windows(marker.len())
                .position(|w| w == marker)
                .ok_or_else(|| format!("block without checksum at {p}"))?;
            let end = p + rel + marker.len() + 1;
            if end > bytes.len() {
                return Err(format!("truncated block at {p}"));
            }
            let block = &bytes[p..end];
            let sum = block.iter().fold(0u8, |a, b| a.wrapping_add(*b));
            if sum != 0 {
                return Err(format!(
                    "checksum failure in block at {p}: {:?}",
                    lossy(block)
                ));
            }
            units.push(Unit::Block(fields(
                &block[..block.len() - marker.len() - 1],
            )));
            p = end;
        } else {
            return Err(format!("stray byte {:#04x} at {p}", bytes[p]));
        }
    }
    Ok(units)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fields(body: &[u8]) -> Vec<(String, String)> {
    lossy(body)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('\t') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

pub(crate) fn blocks(units: &[Unit]) -> Vec<&Vec<(String, String)>> {
    units
        .iter()
        .filter_map(|u| match u {
            Unit::Block(b) => Some(b),
            Unit::Hex(_) => None,
        })
        .collect()
}

pub(crate) fn hex_frames(units: &[Unit]) -> Vec<&str> {
    units
        .iter()
        .filter_map(|u| match u {
            Unit::Hex(h) => Some(h.as_str()),
            Unit::Block(_) => None,
        })
        .collect()
}

pub(crate) fn get<'a>(block: &'a [(String, String)], label: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn labels(block: &[(String, String)]) -> Vec<&str> {
    block.iter().map(|(k, _)| k.as_str()).collect()
}

/// Send one request and return the HEX frames the device answers with right away.
pub(crate) fn ask(dev: &mut impl VeDevice, request: &str) -> Vec<String> {
    dev.take_output();
    dev.receive(request.as_bytes());
    let out = dev.take_output();
    let units = segment(&out).unwrap_or_else(|e| panic!("{e}"));
    hex_frames(&units).into_iter().map(str::to_owned).collect()
}

/// The single reply to a request.
pub(crate) fn ask1(dev: &mut impl VeDevice, request: &str) -> String {
    let replies = ask(dev, request);
    assert_eq!(replies.len(), 1, "request {request:?} got {replies:?}");
    replies[0].clone()
}

pub(crate) fn run(dev: &mut impl VeDevice, seconds: u64) -> Vec<Unit> {
    dev.advance(Duration::from_secs(seconds));
    let out = dev.take_output();
    segment(&out).unwrap_or_else(|e| panic!("{e}"))
}

/// Decode the value bytes of a `:7`/`:8`/`:A` frame (id, flags, value).
pub(crate) fn frame_value(frame: &str) -> (u16, u8, Vec<u8>) {
    let digits = &frame[2..];
    let bytes: Vec<u8> = (0..digits.len() / 2)
        .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let id = u16::from_le_bytes([bytes[0], bytes[1]]);
    (id, bytes[2], bytes[3..bytes.len() - 1].to_vec())
}

/// Run `dev` for `seconds` (in steps of `step` seconds, with `between` called before each step to
/// change its environment) and check every text block with the gateway's `TextValidator`, as one
/// running gateway would see the stream. Returns (blocks, rejected).
pub(crate) fn run_through_checks<D: VeDevice>(
    dev: &mut D,
    seconds: u64,
    step: u64,
    mut between: impl FnMut(&mut D, u64),
) -> (u64, Vec<String>) {
    let mut parser = TextParser::new();
    let mut validator = TextValidator::new();
    let mut rejected = Vec::new();
    let mut t = 0;
    while t < seconds {
        between(dev, t);
        dev.advance(Duration::from_secs(step));
        parser.feed(&dev.take_output(), |ev| {
            if let TextEvent::Block(block) = ev {
                if let Err(reason) = validator.validate(&block) {
                    rejected.push(format!("t={t}: {reason}: {block:?}"));
                }
            }
        });
        t += step;
    }
    (validator.stats().accepted, rejected)
}
