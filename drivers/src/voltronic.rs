//! What the two Voltronic ASCII protocols, [`crate::pi30`] and [`crate::pi18`], have in common:
//! one place for the logic both codecs use, so a fix reaches both.
//!
//! - Frames: the trailer `<CRC hi> <CRC lo> <CR>` of both layouts (PI30 `<command>` / `(<payload>`,
//!   PI18 `^P<nnn><command>` / `^D<nnn><payload>`): CRC-16/XMODEM high byte first, a CRC byte equal
//!   to 0x28 `(`, 0x0D CR or 0x0A LF sent incremented by one; USB HID zero padding and a stray LF
//!   after the CR; the printable-ASCII rule for commands and payloads. Errors are PI30's
//!   [`FrameError`] (PI18's frame error converts from it).
//! - Fields: decoding tokens by position against a table of [`Spec`]s, enumeration lookups with
//!   `Unknown (<token>)` for an unknown code, the MCHGCR current lists, the plausibility check;
//!   errors are the [`DecodeError`] both protocols use.
//! - Setters: value words, digit strings, the `<unit>:` prefix, parallel ids and currents; errors
//!   are the [`ValidationError`] both protocols use.
//!
//! Each protocol keeps its own frame layout, number syntax, field tables and setter codes.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::link::{Link, LinkError};

use crate::pi30::error::{DecodeError, FrameError, ValidationError};
use crate::reading::{Field, Reading};

// ---- The line ---------------------------------------------------------------------------------

/// How long the line must stay silent before the first command after a (re)connect.
const SETTLE_QUIET: Duration = Duration::from_millis(150);
/// The longest wait for that silence.
const SETTLE_MAX: Duration = Duration::from_secs(2);

/// Wait until the line is quiet before the first command after a (re)connect (bounded by
/// [`SETTLE_MAX`]). A reply still in flight to whoever used the port before (another program,
/// `sungate init` a moment ago, the last transaction of a lost connection) carries a valid CRC:
/// read as the answer to our first query it would shift every reply by one (QPI's answer taken
/// for the serial number). Discarding what is buffered is not enough, since the rest is still
/// on its way.
pub(crate) async fn settle(io: &mut dyn Link) -> Result<(), LinkError> {
    let end = Instant::now() + SETTLE_MAX;
    loop {
        let quiet_until = (Instant::now() + SETTLE_QUIET).min(end);
        match io.read_chunk(quiet_until).await {
            Ok(stale) if Instant::now() < end => {
                tracing::debug!(
                    bytes = stale.len(),
                    "stale bytes before the first command, discarded"
                );
            }
            Ok(_) | Err(LinkError::Timeout { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

// ---- Frames ---------------------------------------------------------------------------------

/// CRC-16/XMODEM (the `crc` crate's catalogue entry): poly 0x1021, init 0x0000, no reflection,
/// no final xor.
const XMODEM: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// Queries a unit refuses while it answers the others: after [`RefusedQueries::AFTER`]
/// refusals in a row a query is skipped until the next reconnect (some firmwares lack a query;
/// asking it every poll would cost a timeout or a NAK each time). The same rule for every
/// Voltronic protocol.
#[derive(Debug, Clone)]
pub(crate) struct RefusedQueries<Q> {
    unsupported: Vec<Q>,
    /// Consecutive refusals per query.
    counts: Vec<(Q, u32)>,
}

impl<Q> Default for RefusedQueries<Q> {
    fn default() -> Self {
        RefusedQueries {
            unsupported: Vec::new(),
            counts: Vec::new(),
        }
    }
}

impl<Q: Copy + PartialEq + fmt::Display> RefusedQueries<Q> {
    pub(crate) const AFTER: u32 = 2;

    /// The queries skipped from now on.
    pub(crate) fn unsupported(&self) -> &[Q] {
        &self.unsupported
    }

    pub(crate) fn is_unsupported(&self, query: &Q) -> bool {
        self.unsupported.contains(query)
    }

    /// Forget everything (a reconnect: maybe another unit, or new firmware).
    pub(crate) fn clear(&mut self) {
        self.unsupported.clear();
        self.counts.clear();
    }

    /// Count this poll's refusals (others answered); said once when a query is given up.
    pub(crate) fn count(&mut self, refused: &[Q]) {
        self.counts.retain(|(q, _)| refused.contains(q));
        for &query in refused {
            let count = match self.counts.iter_mut().find(|(q, _)| *q == query) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    self.counts.push((query, 1));
                    1
                }
            };
            if count >= Self::AFTER {
                tracing::warn!(query = %query, refusals = count, "the unit refuses this query while it answers the others: skipped until the next reconnect");
                self.unsupported.push(query);
                self.counts.retain(|(q, _)| *q != query);
            }
        }
    }
}

/// A text field of an optional reading.
pub(crate) fn text(reading: &Option<Reading>, field: &str) -> Option<String> {
    reading
        .as_ref()
        .and_then(|r| r.value(field))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// A setter's outcome once the unit acknowledged it and `reading` (the answer to `query`) was
/// read back: verified when `matches`, else `NotVerified` with what the unit reports in
/// `field`. The same discipline for every Voltronic protocol.
#[allow(clippy::too_many_arguments)]
pub(crate) fn readback_outcome(
    sent: String,
    name: &str,
    value: &str,
    query: &str,
    matches: bool,
    reading: &Reading,
    field: &str,
    expected: &dyn fmt::Debug,
) -> Result<crate::driver::Outcome, crate::driver::DriverError> {
    if matches {
        return Ok(crate::driver::Outcome {
            sent,
            verified: true,
            detail: format!("{name} = {value}, verified by {query}"),
            data: Vec::new(),
        });
    }
    let got = reading
        .get(field)
        .map(|f| f.raw.clone().unwrap_or_else(|| format!("{:?}", f.value)))
        .unwrap_or_else(|| "nothing".into());
    Err(crate::driver::DriverError::NotVerified {
        setting: name.to_owned(),
        expected: format!("{expected:?}"),
        got,
    })
}

/// CRC-16/XMODEM of `data` (check value 0x31C3 for `123456789`).
pub fn crc_xmodem(data: &[u8]) -> u16 {
    XMODEM.checksum(data)
}

/// Is `byte` one of the CRC values that are sent incremented (0x28 `(`, 0x0D CR, 0x0A LF)?
pub(crate) fn is_reserved(byte: u8) -> bool {
    matches!(byte, 0x28 | 0x0D | 0x0A)
}

/// A CRC byte as it goes on the wire: a reserved byte is incremented by one, and 0x00 too when
/// `escape_zero` (mpp-solar's habit).
pub(crate) fn bump(byte: u8, escape_zero: bool) -> u8 {
    if is_reserved(byte) || (escape_zero && byte == 0) {
        byte + 1
    } else {
        byte
    }
}

/// The two CRC bytes of `data` as sent on the wire (high byte first, see [`bump`]).
pub(crate) fn wire_crc(data: &[u8], escape_zero: bool) -> [u8; 2] {
    let [hi, lo] = crc_xmodem(data).to_be_bytes();
    [bump(hi, escape_zero), bump(lo, escape_zero)]
}

/// The offset and value of the first byte of `bytes` that is not printable ASCII (0x20-0x7E).
pub(crate) fn first_unprintable(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .iter()
        .enumerate()
        .find(|(_, b)| !(0x20..=0x7E).contains(*b))
        .map(|(offset, &byte)| (offset, byte))
}

/// Printable ASCII check; `base` is the offset of `bytes` within the frame (for the message).
pub(crate) fn printable(bytes: &[u8], base: usize) -> Result<String, FrameError> {
    match first_unprintable(bytes) {
        Some((offset, byte)) => Err(FrameError::NonAscii {
            offset: base + offset,
            byte,
        }),
        // All bytes are ASCII, so this conversion is lossless.
        None => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// The frame before its CR, non-empty: HID zero padding and a stray LF after the CR (in any
/// order) are stripped first.
pub(crate) fn frame_body(frame: &[u8]) -> Result<&[u8], FrameError> {
    let mut end = frame.len();
    while end > 0 && matches!(frame.get(end - 1), Some(0x00 | b'\n')) {
        end -= 1;
    }
    let trimmed = frame.get(..end).unwrap_or_default();
    let Some((&last, body)) = trimmed.split_last() else {
        return Err(FrameError::Empty);
    };
    if last != b'\r' {
        return Err(FrameError::Unterminated);
    }
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    Ok(body)
}

/// Splits `body` (frame without CR) into content and CRC if the last two bytes are the CRC of
/// the rest; `matches(received, computed)` is the protocol's rule for one CRC byte.
pub(crate) fn split_valid_crc(
    body: &[u8],
    matches: impl Fn(u8, u8) -> bool,
) -> Result<&[u8], FrameError> {
    let Some((content, crc)) = body.split_last_chunk::<2>() else {
        return Err(FrameError::TooShort { len: body.len() });
    };
    let expected = crc_xmodem(content);
    let [hi, lo] = expected.to_be_bytes();
    if matches(crc[0], hi) && matches(crc[1], lo) {
        Ok(content)
    } else {
        Err(FrameError::Crc {
            expected,
            got: u16::from_be_bytes(*crc),
        })
    }
}

// ---- Fields ---------------------------------------------------------------------------------

/// Longest numeric token accepted. Real fields are at most 6 characters (`03749`, `103.8`,
/// `00.00`); 16 leaves room for any firmware while refusing a run of digits that can only be a
/// broken reply (a 401-digit field would otherwise parse to `inf` and be printed as `null`).
pub(crate) const MAX_NUMBER_LEN: usize = 16;

/// One positional field of a reply: its name, unit and how to decode it (`K`, the protocol's
/// kinds of field).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec<K> {
    pub name: &'static str,
    pub unit: Option<&'static str>,
    pub kind: K,
}

/// A field spec; an empty `unit` is none.
pub(crate) const fn spec<K>(name: &'static str, unit: &'static str, kind: K) -> Spec<K> {
    Spec {
        name,
        unit: if unit.is_empty() { None } else { Some(unit) },
        kind,
    }
}

impl<K> Spec<K> {
    /// The field `value` under this spec's name, with its unit.
    pub fn field(&self, value: impl Into<crate::reading::Value>) -> Field {
        let field = Field::new(self.name, value);
        match self.unit {
            Some(u) => field.with_unit(u),
            None => field,
        }
    }
}

/// The protocol's decoder of one token: `(query, spec, token, reading)`.
pub(crate) type DecodeToken<K> = fn(&str, &Spec<K>, &str, &mut Reading) -> Result<(), DecodeError>;

/// Decode `tokens` by position with `specs`: fewer than `required` is an error naming the first
/// missing field; tokens beyond the specs are kept as `unknown_<n>` (n = 1-based position).
pub(crate) fn positional<K>(
    query: &str,
    tokens: &[&str],
    specs: &[Spec<K>],
    required: usize,
    r: &mut Reading,
    decode: DecodeToken<K>,
) -> Result<(), DecodeError> {
    if tokens.len() < required {
        let field = specs.get(tokens.len()).map_or("?", |s| s.name);
        return Err(missing(query, tokens.len(), required, field));
    }
    for (i, tok) in tokens.iter().enumerate() {
        match specs.get(i) {
            Some(spec) => decode(query, spec, tok, r)?,
            None => r.push(Field::new(format!("unknown_{}", i + 1), *tok)),
        }
    }
    Ok(())
}

/// A reply with `got` fields where `required` are needed; `field` is the first missing one.
pub(crate) fn missing(
    query: &str,
    got: usize,
    required: usize,
    field: &'static str,
) -> DecodeError {
    DecodeError::MissingField {
        query: query.to_string(),
        field,
        position: got + 1,
        got,
        required,
    }
}

pub(crate) fn invalid_payload(query: &str, reason: String) -> DecodeError {
    DecodeError::InvalidPayload {
        query: query.to_string(),
        reason,
    }
}

pub(crate) fn invalid_number(query: &str, field: &'static str, token: &str) -> DecodeError {
    DecodeError::InvalidNumber {
        query: query.to_string(),
        field,
        token: token.to_string(),
    }
}

pub(crate) fn invalid_flags(query: &str, field: &'static str, token: &str) -> DecodeError {
    DecodeError::InvalidFlags {
        query: query.to_string(),
        field,
        token: token.to_string(),
    }
}

/// The protocol's syntax of a whole number.
pub(crate) type ParseInt = fn(&str) -> Option<i64>;

/// Enumeration by integer code: `table[code]`.
pub(crate) fn lookup_opt(table: &[&'static str], tok: &str, int: ParseInt) -> Option<&'static str> {
    let code = usize::try_from(int(tok)?).ok()?;
    table.get(code).copied()
}

/// Enumeration by exact token, or else by equal integer (`"5"` and `"05"` are the same code).
pub(crate) fn lookup_keyed(
    table: &[(&'static str, &'static str)],
    tok: &str,
    int: ParseInt,
) -> Option<&'static str> {
    if let Some((_, name)) = table.iter().find(|(k, _)| *k == tok) {
        return Some(name);
    }
    let n = int(tok)?;
    table
        .iter()
        .find(|(k, _)| int(k) == Some(n))
        .map(|(_, name)| *name)
}

/// An enumeration field: the looked-up text or `Unknown (<token>)`, the token kept as raw.
pub(crate) fn enum_field(name: &'static str, text: Option<&'static str>, tok: &str) -> Field {
    let text = text.map_or_else(|| format!("Unknown ({tok})"), str::to_string);
    Field::new(name, text).with_raw(tok)
}

/// A current list (MCHGCR / MUCHGCR payload split into `tokens`): whole amperes, at least one,
/// each at most 4 digits.
pub(crate) fn parse_current_list<'a>(
    query: &str,
    tokens: impl Iterator<Item = &'a str>,
) -> Result<Vec<u32>, DecodeError> {
    let not_a_number =
        |tok: &str| invalid_payload(query, format!("current option {tok:?} is not a number"));
    let options = tokens
        .map(|tok| {
            if tok.is_empty() || tok.len() > 4 || !tok.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number(tok));
            }
            tok.parse::<u32>().map_err(|_| not_a_number(tok))
        })
        .collect::<Result<Vec<u32>, DecodeError>>()?;
    if options.is_empty() {
        return Err(invalid_payload(
            query,
            "no current options in reply".to_string(),
        ));
    }
    Ok(options)
}

/// The field listing a current list (`"10 20 30"`, amperes), the payload kept as raw.
pub(crate) fn current_options_field(name: &'static str, options: &[u32], raw: &str) -> Field {
    let list: Vec<String> = options.iter().map(u32::to_string).collect();
    Field::new(name, list.join(" "))
        .with_unit("A")
        .with_raw(raw)
}

/// Physical limits ([`crate::plausible`]): a value no real unit can have is an error, never a
/// reading.
pub(crate) fn check_plausible(query: &str, r: &Reading) -> Result<(), DecodeError> {
    crate::plausible::check_reading(r).map_err(|e| DecodeError::Implausible {
        query: query.to_string(),
        field: e.field,
        value: e.value.to_string(),
        min: e.min.to_string(),
        max: e.max.to_string(),
    })
}

// ---- Setters --------------------------------------------------------------------------------

pub(crate) fn out_of_range(
    setting: &'static str,
    value: impl fmt::Display,
    allowed: &str,
) -> ValidationError {
    ValidationError::OutOfRange {
        setting,
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

/// A parallel unit id, 0-9.
pub(crate) fn check_unit(setting: &'static str, unit: u8) -> Result<(), ValidationError> {
    if unit > 9 {
        return Err(out_of_range(
            setting,
            format!("unit {unit}"),
            "parallel unit 0-9",
        ));
    }
    Ok(())
}

/// A charging current, 1-999 A (three digits on the wire).
pub(crate) fn check_current(setting: &'static str, amps: u16) -> Result<(), ValidationError> {
    if !(1..=999).contains(&amps) {
        return Err(out_of_range(setting, format!("{amps} A"), "1-999 A"));
    }
    Ok(())
}

/// A current the unit lists (MCHGCR / MUCHGCR); an empty list is unknown: not checked.
pub(crate) fn check_listed(
    setting: &'static str,
    amps: u16,
    list: &[u32],
) -> Result<(), ValidationError> {
    if list.is_empty() || list.contains(&u32::from(amps)) {
        Ok(())
    } else {
        let allowed: Vec<String> = list.iter().map(|a| format!("{a} A")).collect();
        Err(ValidationError::NotAllowedByUnit {
            setting,
            value: format!("{amps} A"),
            allowed: allowed.join(", "),
        })
    }
}

/// The value of the word `value` in an option table (case-insensitive, `-` and ` ` read as `_`).
pub(crate) fn pick<T: Copy>(
    setting: &'static str,
    value: &str,
    options: &[(&str, T)],
) -> Result<T, ValidationError> {
    let v = value.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    options
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| ValidationError::InvalidFormat {
            setting,
            value: value.to_string(),
            expected: format!(
                "one of {}",
                options
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join("|")
            ),
        })
}

/// Digits only (no sign, no exponent, no decimal), at most `max_len` of them.
pub(crate) fn parse_digits(
    setting: &'static str,
    value: &str,
    max_len: usize,
) -> Result<u16, ValidationError> {
    let v = value.trim();
    let bad = || ValidationError::InvalidFormat {
        setting,
        value: value.to_string(),
        expected: format!("a whole number (up to {max_len} digits)"),
    };
    if v.is_empty() || v.len() > max_len || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    v.parse().map_err(|_| bad())
}

/// Optional `<unit>:` prefix for parallel setters (`1:solar_only`); default unit 0.
pub(crate) fn split_unit<'a>(
    setting: &'static str,
    value: &'a str,
) -> Result<(u8, &'a str), ValidationError> {
    match value.split_once(':') {
        Some((u, rest)) => {
            let unit = parse_digits(setting, u, 1)?;
            Ok((unit as u8, rest))
        }
        None => Ok((0, value)),
    }
}

/// The words of an option table, the first one of each value (later ones are synonyms, such
/// as PI30MAX's or PI18's own names of the same priorities).
pub(crate) fn words<T: PartialEq>(options: &[(&'static str, T)]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (i, (name, value)) in options.iter().enumerate() {
        if !options[..i].iter().any(|(_, earlier)| earlier == value) {
            out.push(name);
        }
    }
    out
}

// ---- Test helpers ---------------------------------------------------------------------------

/// Expected decoded values, for the golden-vector tests of both protocols.
#[cfg(test)]
pub(crate) mod expect {
    use crate::reading::{Reading, Value};

    /// An expected value and its type.
    #[derive(Debug)]
    pub(crate) enum E {
        F(f64),
        I(i64),
        T(&'static str),
        B(bool),
    }

    /// Asserts each (name, value) with its type; floats to 1e-9. `context` leads the messages.
    pub(crate) fn check_fields(context: &str, r: &Reading, expected: &[(&str, E)]) {
        for (name, e) in expected {
            let v = r
                .value(name)
                .unwrap_or_else(|| panic!("{context}: missing field {name} in {r:?}"));
            let ok = match (e, v) {
                (E::F(x), Value::Float(y)) => (x - y).abs() < 1e-9,
                (E::I(x), Value::Int(y)) => x == y,
                (E::T(x), Value::Text(y)) => x == y,
                (E::B(x), Value::Bool(y)) => x == y,
                _ => false,
            };
            assert!(ok, "{context} {name}: expected {e:?}, got {v:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_crc_bytes_are_bumped() {
        for b in [0x28u8, 0x0D, 0x0A] {
            assert_eq!(bump(b, false), b + 1);
        }
        assert_eq!(bump(0x00, false), 0x00);
        assert_eq!(bump(0x00, true), 0x01);
        assert_eq!(bump(0x29, true), 0x29);
        // PI18's `^S007POP1`: raw CRC 0x0D10, sent as 0E 10.
        assert_eq!(crc_xmodem(b"^S007POP1"), 0x0D10);
        assert_eq!(wire_crc(b"^S007POP1", false), [0x0E, 0x10]);
    }

    #[test]
    fn frame_body_strips_padding_and_requires_the_cr() {
        assert_eq!(frame_body(b"(PI30\r\n\0\0"), Ok(&b"(PI30"[..]));
        assert_eq!(frame_body(b"^1\r\0\n"), Ok(&b"^1"[..]));
        assert_eq!(frame_body(b""), Err(FrameError::Empty));
        assert_eq!(frame_body(b"\r\0"), Err(FrameError::Empty));
        assert_eq!(frame_body(b"(PI30"), Err(FrameError::Unterminated));
        assert_eq!(first_unprintable(b"AB\x01C"), Some((2, 0x01)));
        assert_eq!(
            printable(b"AB\x7f", 5),
            Err(FrameError::NonAscii {
                offset: 7,
                byte: 0x7f
            })
        );
    }
}
