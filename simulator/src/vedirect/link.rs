//! The serial side every device shares: simulated clock, once-per-second ticks, the transmit
//! queue and the Text/HEX interplay of "VE.Direct Protocol" 3.33 (Introduction: older
//! implementations pause Text mode while HEX messages arrive and resume "several seconds" after the
//! last one; newer ones always keep Text mode active).
//!
//! The queue holds whole text blocks and whole HEX frames, in the order they were produced, so a
//! HEX reply can follow a checksum byte directly (vectors T9, H33) but never splits a block.

use std::collections::VecDeque;
use std::time::Duration;

use super::FirmwareMode;
use super::wire::LineAssembler;

/// Bytes kept when nobody collects the output (a UART does not buffer; the oldest whole chunks go).
const MAX_QUEUED: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub now_ms: u64,
    next_tick_ms: u64,
    pub mode: FirmwareMode,
    resume_after_ms: u64,
    last_valid_hex_ms: Option<u64>,
    pub rx: LineAssembler,
    out: VecDeque<Vec<u8>>,
    queued: usize,
    pub dropped_bytes: u64,
}

impl Link {
    pub fn new(mode: FirmwareMode, resume_after_s: f64) -> Self {
        let resume = if resume_after_s.is_finite() && resume_after_s > 0.0 {
            (resume_after_s * 1000.0) as u64
        } else {
            0
        };
        Link {
            now_ms: 0,
            next_tick_ms: 1000,
            mode,
            resume_after_ms: resume,
            last_valid_hex_ms: None,
            rx: LineAssembler::default(),
            out: VecDeque::new(),
            queued: 0,
            dropped_bytes: 0,
        }
    }

    /// The clock value `dt` from now.
    pub fn target(&self, dt: Duration) -> u64 {
        let dt_ms = u64::try_from(dt.as_millis()).unwrap_or(u64::MAX);
        self.now_ms.saturating_add(dt_ms)
    }

    /// If a whole-second tick falls at or before `target`, move the clock to it and return it.
    pub fn next_tick(&mut self, target: u64) -> Option<u64> {
        if self.next_tick_ms > target {
            return None;
        }
        let t = self.next_tick_ms;
        self.now_ms = t;
        self.next_tick_ms = t.saturating_add(1000);
        Some(t)
    }

    /// End of an advance: the clock reaches `target`.
    pub fn finish(&mut self, target: u64) {
        self.now_ms = target;
    }

    /// A valid HEX frame arrived (older implementations pause Text mode).
    pub fn note_valid_hex(&mut self) {
        self.last_valid_hex_ms = Some(self.now_ms);
    }

    /// Milliseconds since the last valid HEX frame, if any arrived.
    pub fn since_last_hex_ms(&self) -> Option<u64> {
        self.last_valid_hex_ms
            .map(|t| self.now_ms.saturating_sub(t))
    }

    /// Whether text blocks are transmitted now.
    pub fn text_active(&self) -> bool {
        match self.mode {
            FirmwareMode::New => true,
            FirmwareMode::Old => match self.since_last_hex_ms() {
                None => true,
                Some(ms) => ms >= self.resume_after_ms,
            },
        }
    }

    pub fn push(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        self.queued += chunk.len();
        self.out.push_back(chunk);
        while self.queued > MAX_QUEUED {
            match self.out.pop_front() {
                Some(old) => {
                    self.queued -= old.len();
                    self.dropped_bytes += old.len() as u64;
                }
                None => {
                    self.queued = 0;
                    break;
                }
            }
        }
    }

    pub fn take(&mut self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.queued);
        for chunk in self.out.drain(..) {
            all.extend_from_slice(&chunk);
        }
        self.queued = 0;
        all
    }

    /// Device restart: the serial state starts over (the clock keeps running).
    pub fn restart(&mut self) {
        self.last_valid_hex_ms = None;
        self.rx.clear();
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "time_s": self.now_ms as f64 / 1000.0,
            "firmware_mode": self.mode,
            "text_active": self.text_active(),
            "last_hex_s_ago": self.since_last_hex_ms().map(|ms| ms as f64 / 1000.0),
            "queued_bytes": self.queued,
            "dropped_bytes": self.dropped_bytes,
        })
    }
}
