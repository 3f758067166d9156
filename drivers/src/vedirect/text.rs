//! VE.Direct Text protocol: streaming block parser and record assembly.
//!
//! Spec: "VE.Direct Protocol" 3.33 (Victron, "Data communication with Victron Energy products"),
//! "Message format" and "Data integrity".
//!
//! Block layout (the device sends one or more blocks about once a second):
//!
//! ```text
//! "\r\n" LABEL "\t" VALUE  "\r\n" LABEL "\t" VALUE ...  "\r\n" "Checksum" "\t" <one byte>
//! ```
//!
//! The byte sum of a block, from its leading `\r\n` through the checksum byte, is 0 mod 256. The
//! checksum byte can be anything (`:` 0x3A, `\r`, >= 0x80 ...), so it is taken blindly after
//! `Checksum\t`. HEX frames (`:` ... `\n`, see [`super::hex`]) can arrive between blocks, right after
//! a checksum byte and even between two records of a block; they are not part of the text sum.
//!
//! The parser is a byte-at-a-time state machine (any chunking gives the same events), modelled on
//! Victron's reference frame handler: a `:` outside the checksum position switches to HEX
//! collection and the frame's `\n` switches back to where the text left off. Fields are held in a
//! temporary block and only handed out when the checksum is right (spec "Implementation
//! guidelines"). Anything malformed (bytes that cannot be in a label or value, over-long labels,
//! values or blocks, a HEX frame cut short inside a block) abandons the block and resynchronises at
//! the next `\r\n`; its bytes are counted in [`TextStats::bytes_skipped`]. A stream that starts in
//! the middle of a block therefore costs at most one checksum failure (the tail of that block).

use serde::Serialize;

/// Longest label accepted (the spec's reference buffer holds 8 characters + NUL).
pub const MAX_LABEL: usize = 32;
/// Longest value accepted (the spec's reference buffer holds 32 characters + NUL).
pub const MAX_VALUE: usize = 64;
/// Most records in a block, Checksum excluded (the spec says 22).
pub const MAX_FIELDS: usize = 64;
/// Most text bytes in a block.
pub const MAX_BLOCK: usize = 2048;
/// Longest HEX frame, in characters including the ':' (real frames stay below 100).
pub const MAX_HEX: usize = 1024;

/// One checksum-verified block: its records in wire order, the Checksum record excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextBlock {
    pub fields: Vec<(String, String)>,
}

impl TextBlock {
    /// The value of the first record with this label.
    pub fn get(&self, label: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.as_str())
    }

    /// The label of the last record, if any.
    pub fn last_label(&self) -> Option<&str> {
        self.fields.last().map(|(l, _)| l.as_str())
    }
}

/// What the parser reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextEvent {
    /// A block whose checksum was right.
    Block(TextBlock),
    /// One HEX frame, from ':' up to but excluding '\n' (not checked: use
    /// [`decode_frame`](super::hex::decode_frame)).
    Hex(Vec<u8>),
    /// A complete block (`len` text bytes) that failed its checksum, or was damaged on the way;
    /// its fields were dropped.
    ChecksumFailed { len: usize },
}

/// Running counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TextStats {
    pub blocks_ok: u64,
    pub checksum_failures: u64,
    pub hex_frames: u64,
    /// Bytes that belonged to no committed or failed block and no HEX frame: noise before the
    /// first `\r\n`, abandoned partial blocks, broken HEX frames.
    pub bytes_skipped: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside a block, waiting for `\r`.
    #[default]
    Idle,
    /// Outside a block, `\r` seen, waiting for `\n`.
    IdleCr,
    /// In a block, reading a label up to `\t`.
    Label,
    /// In a block, reading a value up to `\r`.
    Value,
    /// In a block, `\r` after a value seen, waiting for `\n`.
    RecordCr,
    /// `Checksum\t` seen: the next byte, whatever it is, is the checksum.
    ChecksumByte,
    /// Inside a HEX frame; the text state to return to is in `hex_return`.
    Hex,
}

impl State {
    fn in_block(self) -> bool {
        matches!(
            self,
            State::Label | State::Value | State::RecordCr | State::ChecksumByte
        )
    }
}

const CHECKSUM_LABEL: &[u8] = b"Checksum";

/// Streaming Text-protocol parser. Feed it bytes as they come; it calls back with events.
#[derive(Debug, Default)]
pub struct TextParser {
    state: State,
    hex_return: State,
    /// Byte sum of the block so far (text bytes only).
    sum: u8,
    /// Text bytes of the block so far.
    block_len: usize,
    /// Set when a HEX frame inside the block was cut short: the block can no longer be trusted,
    /// whatever its sum says.
    poisoned: bool,
    label: Vec<u8>,
    value: Vec<u8>,
    fields: Vec<(String, String)>,
    hex: Vec<u8>,
    stats: TextStats,
}

/// Labels and values are validated ASCII, so this never takes the lossy path in practice.
fn ascii_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

impl TextParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> TextStats {
        self.stats
    }

    /// Feed a chunk (any size, split anywhere) and receive the events it completes.
    pub fn feed(&mut self, chunk: &[u8], mut on_event: impl FnMut(TextEvent)) {
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            // Fast path: the bulk of a block is label/value characters; take runs of them
            // without going through the general state machine.
            if self.state == State::Value || self.state == State::Label {
                let run = self.take_run(&chunk[i..]);
                if run > 0 {
                    i += run;
                    continue;
                }
            }
            let mut byte = Some(b);
            // A byte that ends something (an aborted HEX frame, an abandoned block) is looked at
            // again in the state it led to, so that e.g. the `\r` that broke a block can start
            // the next one. At most three rounds: Hex -> block state -> Idle.
            while let Some(b) = byte {
                byte = self.step(b, &mut on_event);
            }
            i += 1;
        }
    }

    /// Consume a run of plain label/value characters; returns how many were taken.
    fn take_run(&mut self, bytes: &[u8]) -> usize {
        let (buf, max, is_value) = match self.state {
            State::Value => (&mut self.value, MAX_VALUE, true),
            _ => (&mut self.label, MAX_LABEL, false),
        };
        let room = max
            .saturating_sub(buf.len())
            .min(MAX_BLOCK.saturating_sub(self.block_len));
        let mut n = 0;
        let mut sum = self.sum;
        for &b in bytes.iter().take(room) {
            // Values may contain spaces ("712 Smart"); labels may not. ':' starts a HEX frame and
            // is left to the state machine, as are the record terminators.
            let plain = match b {
                b':' => false,
                b' ' => is_value,
                0x21..=0x7E => true,
                _ => false,
            };
            if !plain {
                break;
            }
            sum = sum.wrapping_add(b);
            n += 1;
        }
        if let Some(run) = bytes.get(..n) {
            buf.extend_from_slice(run);
        }
        self.sum = sum;
        self.block_len += n;
        n
    }

    /// Process one byte; returns a byte to be processed again in the new state.
    fn step(&mut self, b: u8, on_event: &mut impl FnMut(TextEvent)) -> Option<u8> {
        match self.state {
            State::Hex => return self.step_hex(b, on_event),
            State::Idle => match b {
                b'\r' => self.state = State::IdleCr,
                b':' => self.start_hex(),
                _ => self.stats.bytes_skipped += 1,
            },
            State::IdleCr => match b {
                b'\n' => self.begin_block(),
                b'\r' => self.stats.bytes_skipped += 1,
                _ => {
                    self.stats.bytes_skipped += 1;
                    self.state = State::Idle;
                    return Some(b);
                }
            },
            State::Label => match b {
                b':' => self.start_hex(),
                b'\t' if !self.label.is_empty() => {
                    if !self.add(b) {
                        return self.abandon(b);
                    }
                    if self.label == CHECKSUM_LABEL {
                        self.state = State::ChecksumByte;
                    } else {
                        self.value.clear();
                        self.state = State::Value;
                    }
                }
                0x21..=0x7E if self.label.len() < MAX_LABEL => {
                    if !self.add(b) {
                        return self.abandon(b);
                    }
                    self.label.push(b);
                }
                _ => return self.abandon(b),
            },
            State::Value => match b {
                b':' => self.start_hex(),
                b'\r' => {
                    if !self.add(b) {
                        return self.abandon(b);
                    }
                    if self.fields.len() >= MAX_FIELDS {
                        return self.abandon(b);
                    }
                    let field = (ascii_string(&self.label), ascii_string(&self.value));
                    self.fields.push(field);
                    self.label.clear();
                    self.value.clear();
                    self.state = State::RecordCr;
                }
                0x20..=0x7E if self.value.len() < MAX_VALUE => {
                    if !self.add(b) {
                        return self.abandon(b);
                    }
                    self.value.push(b);
                }
                _ => return self.abandon(b),
            },
            State::RecordCr => match b {
                b':' => self.start_hex(),
                b'\n' => {
                    if !self.add(b) {
                        return self.abandon(b);
                    }
                    self.state = State::Label;
                }
                _ => return self.abandon(b),
            },
            State::ChecksumByte => {
                self.sum = self.sum.wrapping_add(b);
                self.block_len += 1;
                self.finish_block(on_event);
            }
        }
        None
    }

    fn step_hex(&mut self, b: u8, on_event: &mut impl FnMut(TextEvent)) -> Option<u8> {
        match b {
            b'\n' => {
                self.stats.hex_frames += 1;
                on_event(TextEvent::Hex(std::mem::take(&mut self.hex)));
                self.state = self.hex_return;
                None
            }
            b'0'..=b'9' | b'A'..=b'F' | b'a'..=b'f' if self.hex.len() < MAX_HEX => {
                self.hex.push(b);
                None
            }
            b':' => {
                // A new frame starts before the old one ended: the old one lost its '\n'.
                self.abort_hex();
                self.hex.push(b);
                None
            }
            _ => {
                self.abort_hex();
                self.state = self.hex_return;
                Some(b)
            }
        }
    }

    fn start_hex(&mut self) {
        self.hex_return = self.state;
        self.hex.clear();
        self.hex.push(b':');
        self.state = State::Hex;
    }

    /// Drop a HEX frame that never saw its '\n'. If it interrupted a block, the block is
    /// poisoned: a real frame always ends in '\n', so this is corruption (e.g. a damaged byte
    /// that became ':' and swallowed the digits after it, which could leave the sum intact).
    fn abort_hex(&mut self) {
        self.stats.bytes_skipped += self.hex.len() as u64;
        self.hex.clear();
        if self.hex_return.in_block() {
            self.poisoned = true;
        }
    }

    fn begin_block(&mut self) {
        self.sum = b'\r'.wrapping_add(b'\n');
        self.block_len = 2;
        self.poisoned = false;
        self.label.clear();
        self.value.clear();
        self.fields.clear();
        self.state = State::Label;
    }

    /// Add a text byte to the block; false when the block would grow too long.
    fn add(&mut self, b: u8) -> bool {
        if self.block_len >= MAX_BLOCK {
            return false;
        }
        self.sum = self.sum.wrapping_add(b);
        self.block_len += 1;
        true
    }

    /// Give up on the current block and look at `b` again from Idle (it may start the next one).
    fn abandon(&mut self, b: u8) -> Option<u8> {
        self.stats.bytes_skipped += self.block_len as u64;
        self.block_len = 0;
        self.fields.clear();
        self.label.clear();
        self.value.clear();
        self.state = State::Idle;
        Some(b)
    }

    fn finish_block(&mut self, on_event: &mut impl FnMut(TextEvent)) {
        self.state = State::Idle;
        let len = self.block_len;
        self.block_len = 0;
        if self.sum == 0 && !self.poisoned {
            self.stats.blocks_ok += 1;
            on_event(TextEvent::Block(TextBlock {
                fields: std::mem::take(&mut self.fields),
            }));
        } else {
            self.fields.clear();
            self.stats.checksum_failures += 1;
            on_event(TextEvent::ChecksumFailed { len });
        }
        self.label.clear();
    }
}

/// Encode one block: `\r\n LABEL \t VALUE` per record, then the `Checksum` record with the
/// byte that makes the block's sum 0 mod 256. What a device sends; the simulator and tests
/// build their blocks with it.
pub fn encode_block<L: AsRef<str>, V: AsRef<str>>(records: &[(L, V)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 12 + 16);
    for (label, value) in records {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(label.as_ref().as_bytes());
        out.push(b'\t');
        out.extend_from_slice(value.as_ref().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(CHECKSUM_LABEL);
    out.push(b'\t');
    let sum = out.iter().fold(0u8, |acc, b| acc.wrapping_add(*b));
    out.push(0u8.wrapping_sub(sum));
    out
}

/// Labels that end a device's record: `HSDS` is the last field of every MPPT record (sent as one
/// block or split in two), `H18` the last field of the BMV-70x / BMV-71x / SmartShunt history
/// block.
pub const TERMINAL_LABELS: &[&str] = &["HSDS", "H18"];

/// Merges the blocks of one device record into one [`TextBlock`].
///
/// Devices spread a record over several blocks: a BMV sends `PID..FW` then `H1..H18`; most MPPTs
/// send one `PID..HSDS` block; some SmartSolars split it into `PID..OR` and `ERR..HSDS` (H35b).
///
/// Rule:
/// 1. A block containing `PID` starts a new record. A record still open at that point is complete
///    and is returned (its end was not recognised by rule 3, e.g. an unknown device family).
/// 2. A block without `PID` is appended to the open record. If no record is open (the stream
///    started mid-record, or the `PID` block failed its checksum) the block is discarded: without
///    the `PID` block there is no telling which record it belongs to.
/// 3. A record is complete, and returned at once, as soon as its latest block ends with a
///    [`TERMINAL_LABELS`] label. So BMV pairs, single-block MPPTs and split MPPTs all come out
///    with no extra delay; other devices come out one block period late (rule 1).
///
/// If a record's blocks repeat a label, both copies are kept ([`TextBlock::get`] returns the
/// first). [`RecordAssembler::flush`] hands out an open record, e.g. when the link goes quiet.
#[derive(Debug, Default)]
pub struct RecordAssembler {
    open: Option<TextBlock>,
}

impl RecordAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a verified block; returns a record when one is complete.
    pub fn push(&mut self, block: TextBlock) -> Option<TextBlock> {
        let starts_record = block.get("PID").is_some();
        let ends_record = block
            .last_label()
            .is_some_and(|l| TERMINAL_LABELS.contains(&l));
        if starts_record {
            let previous = self.open.take();
            if previous.is_none() && ends_record {
                return Some(block);
            }
            // If both the previous record and this block are complete (previous ended in an
            // unknown way and this one is terminal), the previous is returned now and this one
            // waits for the next push or flush: nothing is lost, only delayed.
            self.open = Some(block);
            return previous;
        }
        let record = self.open.as_mut()?;
        record.fields.extend(block.fields);
        if ends_record { self.open.take() } else { None }
    }

    /// Take the open (possibly incomplete) record.
    pub fn flush(&mut self) -> Option<TextBlock> {
        self.open.take()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    // ---- golden blocks from the karioja captures (tests/fixtures/vedirect) ----

    /// T1: BlueSolar MPPT 75/15 (PID 0xA042, FW 1.23), karioja bluesolar_1.23.dump offset 165.
    pub(crate) const T1: &[u8] = b"\r\nPID\t0xA042\r\nFW\t123\r\nSER#\tHQ1411MYIKN\r\nV\t12530\r\nI\t640\r\nVPV\t31390\r\nPPV\t8\r\nCS\t3\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t8272\r\nH20\t0\r\nH21\t11\r\nH22\t25\r\nH23\t119\r\nHSDS\t274\r\nChecksum\t\xB1";
    /// T2: same device, offset 8529: async HEX frame (0x1050 day record) before the block.
    pub(crate) const T2_HEX: &[u8] =
        b":A501000000000000000000000ED04C6040000000000C200000000000B0000000900C80D120172";
    pub(crate) const T2: &[u8] = b"\r\nPID\t0xA042\r\nFW\t123\r\nSER#\tHQ1411MYIKN\r\nV\t12540\r\nI\t620\r\nVPV\t34890\r\nPPV\t8\r\nCS\t3\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t8272\r\nH20\t0\r\nH21\t11\r\nH22\t25\r\nH23\t119\r\nHSDS\t274\r\nChecksum\t\xAA";
    /// T3: BMV-700 (PID 0x203, FW 3.08), karioja bvm702.dump offset 262, the PID half.
    pub(crate) const T3: &[u8] = b"\r\nPID\t0x203\r\nV\t12065\r\nI\t-7626\r\nP\t-92\r\nCE\t-65476\r\nSOC\t839\r\nTTG\t942\r\nAlarm\tOFF\r\nRelay\tOFF\r\nAR\t0\r\nBMV\t700\r\nFW\t0308\r\nChecksum\tm";
    /// T4: same device, offset 123, the history half.
    pub(crate) const T4: &[u8] = b"\r\nH1\t-149322\r\nH2\t-82854\r\nH3\t0\r\nH4\t0\r\nH5\t0\r\nH6\t-5526294\r\nH7\t11733\r\nH8\t16161\r\nH9\t368003\r\nH10\t26\r\nH11\t0\r\nH12\t0\r\nH17\t6843\r\nH18\t8527\r\nChecksum\t\xBC";
    /// T5: same device, offset 67159: checksum byte ':' (0x3A).
    pub(crate) const T5: &[u8] = b"\r\nPID\t0x203\r\nV\t12164\r\nI\t-2674\r\nP\t-33\r\nCE\t-65887\r\nSOC\t837\r\nTTG\t2199\r\nAlarm\tOFF\r\nRelay\tOFF\r\nAR\t0\r\nBMV\t700\r\nFW\t0308\r\nChecksum\t:";
    /// T6: SmartSolar MPPT 100/20 (PID 0xA05F, FW 1.39), karioja smartsolar_1.39.dump offset 157.
    pub(crate) const T6: &[u8] = b"\r\nPID\t0xA05F\r\nFW\t139\r\nSER#\tHQ18486U2B4\r\nV\t12810\r\nI\t-10\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t0\r\nH20\t0\r\nH21\t0\r\nH22\t0\r\nH23\t0\r\nHSDS\t0\r\nChecksum\t\xE4";
    /// T7: same device, offset 72157: two async HEX frames (0x1050, 0x104F) before the block.
    pub(crate) const T7_HEX1: &[u8] =
        b":A5010000000000000000000000D05F904000000000000000000000000000000000001000000DB";
    pub(crate) const T7_HEX2: &[u8] =
        b":A4F1000010000000000000000000000000001000D0500F904FFFFFFFFFFFFFFFFFFFFFFFFFFE8";
    pub(crate) const T7: &[u8] = b"\r\nPID\t0xA05F\r\nFW\t139\r\nSER#\tHQ18486U2B4\r\nV\t12730\r\nI\t-10\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t0\r\nH20\t0\r\nH21\t0\r\nH22\t0\r\nH23\t0\r\nHSDS\t0\r\nChecksum\t\xE3";
    /// T8: SmartSolar MPPT 75/15 (PID 0xA053, FW 1.56), KinDR007/VictronMPPT-ESPHOME log.
    pub(crate) const T8: &[u8] = b"\r\nPID\t0xA053\r\nFW\t156\r\nSER#\tHQ1942K7LJ8\r\nV\t12450\r\nI\t0\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nOR\t0x00000001\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t3\r\nH20\t0\r\nH21\t24\r\nH22\t1\r\nH23\t15\r\nHSDS\t3\r\nChecksum\t\xE1";
    /// T9: SmartSolar MPPT 100/30 (PID 0xA056, FW 1.61), go-victron: checksum ')' then at once the
    /// HEX reply to "get 0xEDD0" (H23).
    pub(crate) const T9: &[u8] = b"\r\nPID\t0xA056\r\nFW\t161\r\nSER#\tHQ19499RHC5\r\nV\t11880\r\nI\t0\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nOR\t0x00000001\r\nERR\t0\r\nLOAD\tON\r\nH19\t4803\r\nH20\t0\r\nH21\t0\r\nH22\t0\r\nH23\t0\r\nHSDS\t280\r\nChecksum\t):7D0ED00000091\n";
    /// T10: BMV-712 Smart (PID 0xA381, FW 4.03), dbr/vedirect-rs test_partial_stream: two blocks
    /// back to back (checksums 0x7E and 0x03).
    pub(crate) const T10: &[u8] = b"\r\nPID\t0xA381\r\nV\t12282\r\nVS\t29\r\nI\t-2288\r\nP\t-28\r\nCE\t-74900\r\nSOC\t916\r\nTTG\t10350\r\nAlarm\tOFF\r\nRelay\tOFF\r\nAR\t0\r\nBMV\t712 Smart\r\nFW\t0403\r\nChecksum\t~\r\nH1\t-76138\r\nH2\t-76138\r\nH3\t0\r\nH4\t0\r\nH5\t0\r\nH6\t-1876218\r\nH7\t12171\r\nH8\t20418\r\nH9\t1199744\r\nH10\t0\r\nH11\t0\r\nH12\t0\r\nH15\t20\r\nH16\t21033\r\nH17\t2404\r\nH18\t2415\r\nChecksum\t\x03";
    /// H32 (emonhub #160): two async frames arriving inside a SmartSolar block, before `\r\nERR`.
    /// The block around them is built here from T8 (COMPUTED: the text bytes are T8's).
    pub(crate) const H32_FRAMES: &[u8] = b":ADBED001A0D5C\n:A0202000200000045\n";

    fn parse(stream: &[u8]) -> (Vec<TextEvent>, TextStats) {
        let mut p = TextParser::new();
        let mut events = Vec::new();
        p.feed(stream, |e| events.push(e));
        (events, p.stats())
    }

    fn blocks(stream: &[u8]) -> Vec<TextBlock> {
        parse(stream)
            .0
            .into_iter()
            .filter_map(|e| match e {
                TextEvent::Block(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn one_block(stream: &[u8]) -> TextBlock {
        let (events, stats) = parse(stream);
        assert_eq!(stats.blocks_ok, 1, "{events:?}");
        assert_eq!(stats.checksum_failures, 0);
        blocks(stream).remove(0)
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
    }

    #[test]
    fn encoding_a_blocks_records_gives_the_devices_bytes() {
        // T3 and T4 as the BMV sent them, checksum byte included (T3's is 'm').
        for golden in [T3, T4] {
            let mut p = TextParser::new();
            let mut records = Vec::new();
            p.feed(golden, |e| {
                if let TextEvent::Block(b) = e {
                    records = b.fields;
                }
            });
            assert!(!records.is_empty());
            assert_eq!(encode_block(&records), golden);
        }
    }

    #[test]
    fn golden_blocks_sum_to_zero() {
        for b in [T1, T2, T3, T4, T5, T6, T7, T8] {
            assert_eq!(sum(b), 0);
        }
        assert_eq!(sum(&T9[..T9.len() - 15]), 0);
    }

    #[test]
    fn t1_bluesolar() {
        let b = one_block(T1);
        assert_eq!(b.fields.len(), 17);
        assert_eq!(b.fields[0], ("PID".into(), "0xA042".into()));
        assert_eq!(b.get("V"), Some("12530"));
        assert_eq!(b.get("LOAD"), Some("ON"));
        assert_eq!(b.get("HSDS"), Some("274"));
        assert_eq!(b.get("Checksum"), None);
    }

    #[test]
    fn t2_hex_before_block() {
        let stream = cat(&[T1, T2_HEX, b"\n", T2]);
        let (events, stats) = parse(&stream);
        assert_eq!(stats.blocks_ok, 2);
        assert_eq!(stats.hex_frames, 1);
        assert_eq!(stats.checksum_failures, 0);
        assert_eq!(stats.bytes_skipped, 0);
        assert_eq!(events[1], TextEvent::Hex(T2_HEX.to_vec()));
        let TextEvent::Block(b) = &events[2] else {
            panic!()
        };
        assert_eq!(b.get("V"), Some("12540"));
        assert_eq!(b.get("VPV"), Some("34890"));
        // with the HEX bytes included the sum would be wrong: they must not be summed
        assert_ne!(sum(&cat(&[T2_HEX, b"\n", T2])), 0);
    }

    #[test]
    fn t3_t4_bmv_pair() {
        let b = blocks(&cat(&[T3, T4]));
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].get("CE"), Some("-65476"));
        assert_eq!(b[0].get("FW"), Some("0308"));
        assert_eq!(b[1].get("H9"), Some("368003"));
        assert_eq!(b[1].last_label(), Some("H18"));
    }

    #[test]
    fn t5_colon_checksum_is_not_hex() {
        // T5 then T4: the ':' checksum must not swallow the next block.
        let (events, stats) = parse(&cat(&[T5, T4, T5]));
        assert_eq!(
            (stats.blocks_ok, stats.hex_frames, stats.checksum_failures),
            (3, 0, 0)
        );
        let TextEvent::Block(b) = &events[0] else {
            panic!()
        };
        assert_eq!(b.get("TTG"), Some("2199"));
    }

    #[test]
    fn t6_t8_smartsolar() {
        assert_eq!(one_block(T6).get("MPPT"), Some("0"));
        assert_eq!(one_block(T8).get("OR"), Some("0x00000001"));
    }

    #[test]
    fn t7_two_hex_frames_before_block() {
        let stream = cat(&[T6, T7_HEX1, b"\n", T7_HEX2, b"\n", T7]);
        let (events, stats) = parse(&stream);
        assert_eq!((stats.blocks_ok, stats.hex_frames), (2, 2));
        assert_eq!(events[1], TextEvent::Hex(T7_HEX1.to_vec()));
        assert_eq!(events[2], TextEvent::Hex(T7_HEX2.to_vec()));
        let TextEvent::Block(b) = &events[3] else {
            panic!()
        };
        assert_eq!(b.get("V"), Some("12730"));
    }

    #[test]
    fn t9_hex_right_after_checksum() {
        let (events, stats) = parse(&cat(&[T9, T8]));
        assert_eq!(
            (stats.blocks_ok, stats.hex_frames, stats.checksum_failures),
            (2, 1, 0)
        );
        let TextEvent::Block(b) = &events[0] else {
            panic!()
        };
        assert_eq!(b.get("H19"), Some("4803"));
        assert_eq!(events[1], TextEvent::Hex(b":7D0ED00000091".to_vec()));
        assert!(matches!(events[2], TextEvent::Block(_)));
    }

    #[test]
    fn t10_bmv712_two_blocks_assemble() {
        let b = blocks(T10);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].get("BMV"), Some("712 Smart"));
        assert_eq!(b[1].get("H16"), Some("21033"));
        let mut asm = RecordAssembler::new();
        assert_eq!(asm.push(b[0].clone()), None);
        let rec = asm.push(b[1].clone()).unwrap();
        assert_eq!(rec.fields.len(), b[0].fields.len() + b[1].fields.len());
        assert_eq!(rec.get("PID"), Some("0xA381"));
        assert_eq!(rec.get("H18"), Some("2415"));
        assert_eq!(asm.flush(), None);
    }

    #[test]
    fn h32_hex_inside_block() {
        // Insert the two frames before "\r\nERR" of T8.
        let at = T8.windows(5).position(|w| w == b"\r\nERR").unwrap();
        let stream = cat(&[&T8[..at], H32_FRAMES, &T8[at..]]);
        let (events, stats) = parse(&stream);
        assert_eq!(
            (stats.blocks_ok, stats.hex_frames, stats.checksum_failures),
            (1, 2, 0)
        );
        assert_eq!(events[0], TextEvent::Hex(b":ADBED001A0D5C".to_vec()));
        assert_eq!(events[1], TextEvent::Hex(b":A0202000200000045".to_vec()));
        let TextEvent::Block(b) = &events[2] else {
            panic!()
        };
        assert_eq!(b, &one_block(T8));
        // also in the middle of a value and between '\r' and '\n'
        for needle in [&b"0x0000"[..], b"\r\nLOAD"] {
            let at = T8.windows(needle.len()).position(|w| w == needle).unwrap() + 2;
            let stream = cat(&[&T8[..at], H32_FRAMES, &T8[at..]]);
            assert_eq!(blocks(&stream), vec![one_block(T8)]);
        }
    }

    #[test]
    fn bad_checksum_not_committed() {
        let mut bad = T1.to_vec();
        let i = bad.windows(5).position(|w| w == b"12530").unwrap();
        bad[i] = b'2';
        let (events, stats) = parse(&cat(&[&bad, T6]));
        assert_eq!(stats.checksum_failures, 1);
        assert_eq!(stats.blocks_ok, 1);
        assert_eq!(events[0], TextEvent::ChecksumFailed { len: T1.len() });
    }

    #[test]
    fn stream_starting_mid_block() {
        for start in 0..T1.len() {
            let stream = cat(&[&T1[start..], T6, T8]);
            let (_, stats) = parse(&stream);
            assert!(stats.checksum_failures <= 1, "start {start}: {stats:?}");
            let b = blocks(&stream);
            assert!(b.len() >= 2, "start {start}");
            assert_eq!(b[b.len() - 2..], [one_block(T6), one_block(T8)]);
        }
    }

    #[test]
    fn garbage_and_truncation_resync() {
        let stream = cat(&[
            b"\x00\xFF garbage \t\r\r",
            &T1[..50],
            b"\x01\x02",
            T6,
            &T3[..30],
            T8,
            b":ZZ\n:A01",
            T4,
        ]);
        let (events, stats) = parse(&stream);
        let b = blocks(&stream);
        // T6 and T4 survive. T3 is cut inside a label, so the `\r` that starts T8 cannot continue
        // it: the fragment is abandoned and T8 survives too. Nothing else commits.
        let genuine = [one_block(T6), one_block(T8), one_block(T4)];
        assert_eq!(b, genuine);
        assert!(stats.bytes_skipped > 0);
        assert!(
            events
                .iter()
                .all(|e| !matches!(e, TextEvent::Hex(h) if h.len() < 3))
        );
    }

    #[test]
    fn over_long_label_value_and_block() {
        let long_value = cat(&[b"\r\nV\t", &[b'1'; MAX_VALUE + 1], b"\r\nChecksum\t\x00"]);
        let long_label = cat(&[b"\r\n", &[b'A'; MAX_LABEL + 1], b"\t1\r\nChecksum\t\x00"]);
        let mut many = Vec::new();
        for _ in 0..MAX_FIELDS + 1 {
            many.extend_from_slice(b"\r\nA\t1");
        }
        many.extend_from_slice(b"\r\nChecksum\t\x00");
        for junk in [long_value, long_label, many] {
            let (_, stats) = parse(&cat(&[&junk, T1]));
            assert_eq!(stats.blocks_ok, 1, "{stats:?}");
            assert_eq!(blocks(&cat(&[&junk, T1])), vec![one_block(T1)]);
        }
        // an endless HEX frame is dropped too
        let mut hex = vec![b':'];
        hex.extend(std::iter::repeat_n(b'A', MAX_HEX * 2));
        let (_, stats) = parse(&cat(&[&hex, T1]));
        assert_eq!((stats.blocks_ok, stats.hex_frames), (1, 0));
    }

    #[test]
    fn checksum_byte_can_be_cr_or_high() {
        // Build a block whose checksum byte is '\r' and one whose checksum is '\n'.
        for want in [b'\r', b'\n', 0x80, 0xFF, b'\t'] {
            for pad in 0..=255u8 {
                let mut b = b"\r\nX\t".to_vec();
                b.push(b'0' + pad % 10);
                b.extend_from_slice(b"\r\nY\t");
                b.push(b'A' + pad % 26);
                b.extend_from_slice(b"\r\nChecksum\t");
                let c = 0u8.wrapping_sub(sum(&b));
                if c == want {
                    b.push(c);
                    let s = cat(&[&b, T1]);
                    assert_eq!(blocks(&s).len(), 2, "checksum {want:#x}");
                    break;
                }
            }
        }
    }

    #[test]
    fn assembler_single_and_split_mppt() {
        let mut asm = RecordAssembler::new();
        // single-block MPPT: every PID..HSDS block is a record at once
        assert_eq!(asm.push(one_block(T1)), Some(one_block(T1)));
        assert_eq!(asm.push(one_block(T6)), Some(one_block(T6)));
        // split MPPT (H35b): PID..OR, then ERR..HSDS
        let full = one_block(T8);
        let at = full.fields.iter().position(|(l, _)| l == "ERR").unwrap();
        let first = TextBlock {
            fields: full.fields[..at].to_vec(),
        };
        let second = TextBlock {
            fields: full.fields[at..].to_vec(),
        };
        assert_eq!(asm.push(first.clone()), None);
        assert_eq!(asm.push(second.clone()), Some(full.clone()));
        // orphan continuation block (no PID block before it) is dropped
        assert_eq!(asm.push(second), None);
        // BMV pair
        assert_eq!(asm.push(one_block(T3)), None);
        let rec = asm.push(one_block(T4)).unwrap();
        assert_eq!(
            (rec.get("PID"), rec.get("H18")),
            (Some("0x203"), Some("8527"))
        );
        // unknown device: PID blocks without a terminal label come out on the next PID block
        let inv = TextBlock {
            fields: vec![("PID".into(), "0xA231".into()), ("MODE".into(), "2".into())],
        };
        assert_eq!(asm.push(inv.clone()), None);
        assert_eq!(asm.push(inv.clone()), Some(inv.clone()));
        assert_eq!(asm.flush(), Some(inv));
    }

    #[test]
    fn throughput_smoke() {
        // Not a benchmark (see benches/), just a guard against accidental quadratic behaviour.
        let mut stream = Vec::new();
        for _ in 0..2000 {
            stream.extend_from_slice(T1);
            stream.extend_from_slice(T10);
        }
        let mut secs = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let mut p = TextParser::new();
            let mut n = 0;
            p.feed(&stream, |e| {
                n += usize::from(matches!(e, TextEvent::Block(_)))
            });
            secs = secs.min(t.elapsed().as_secs_f64());
            assert_eq!(n, 6000);
        }
        eprintln!(
            "text parser: {:.1} MB/s ({} bytes)",
            stream.len() as f64 / secs / 1e6,
            stream.len()
        );
    }

    fn stream_for_chunking() -> Vec<u8> {
        cat(&[
            b"junk\r\n",
            T1,
            T2_HEX,
            b"\n",
            T2,
            T5,
            T4,
            T9,
            T7_HEX1,
            b"\n",
            T10,
            &T3[..40],
            T8,
            H32_FRAMES,
            T6,
        ])
    }

    #[test]
    fn one_byte_chunks_equal_whole() {
        let stream = stream_for_chunking();
        let whole = parse(&stream);
        let mut p = TextParser::new();
        let mut events = Vec::new();
        for b in &stream {
            p.feed(std::slice::from_ref(b), |e| events.push(e));
        }
        assert_eq!((events, p.stats()), whole);
    }

    proptest! {
        #[test]
        fn any_chunking_equal_whole(cuts in proptest::collection::vec(0usize..4000, 0..40)) {
            let stream = stream_for_chunking();
            let whole = parse(&stream);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut p = TextParser::new();
            let mut events = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                p.feed(&stream[last..c], |e| events.push(e));
                last = c;
            }
            prop_assert_eq!((events, p.stats()), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let (events, stats) = parse(&bytes);
            let n = events.iter().filter(|e| matches!(e, TextEvent::Block(_))).count() as u64;
            prop_assert_eq!(n, stats.blocks_ok);
        }

        #[test]
        fn arbitrary_bytes_with_structure_never_panic(
            parts in proptest::collection::vec(prop::sample::select(vec![
                &b"\r\n"[..], b"\t", b":", b"\n", b"Checksum\t", b"PID", b"0", b"A", b"\xFF", b"\r",
            ]), 0..400)
        ) {
            let bytes = parts.concat();
            let _ = parse(&bytes);
        }

        #[test]
        fn corrupted_byte_never_commits(which in 0usize..4, pos in any::<prop::sample::Index>(), to: u8) {
            let block = [T1, T3, T8, T10][which];
            let i = pos.index(block.len());
            prop_assume!(block[i] != to);
            let mut bad = block.to_vec();
            bad[i] = to;
            let good = blocks(block);
            for b in blocks(&bad) {
                // Whatever commits must be a genuine block of the original stream.
                prop_assert!(good.contains(&b), "committed corrupted block {:?}", b);
            }
        }

        #[test]
        fn corrupted_byte_with_hex_inside_never_commits(pos in any::<prop::sample::Index>(), to: u8) {
            let at = T8.windows(5).position(|w| w == b"\r\nERR").unwrap();
            let stream = cat(&[&T8[..at], H32_FRAMES, &T8[at..]]);
            let i = pos.index(stream.len());
            prop_assume!(stream[i] != to);
            let mut bad = stream.clone();
            bad[i] = to;
            for b in blocks(&bad) {
                prop_assert_eq!(&b, &one_block(T8));
            }
        }
    }
}
