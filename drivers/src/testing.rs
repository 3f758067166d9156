//! Test helpers shared by the drivers' unit tests: a scripted in-memory [`Link`] that answers
//! each written frame with whatever a closure returns (or stays silent), and the PI18 golden
//! frames of `tests/fixtures/pi18/frames.tsv` (request bytes -> reply bytes, by vector id).

use async_trait::async_trait;
use tokio::time::Instant;

use crate::link::{Link, LinkError};

type Answer = Box<dyn FnMut(&[u8]) -> Option<Vec<u8>> + Send>;

/// A unit on the other end of a link: `answer(request frame)` is what it sends back, `None` is
/// silence. Every request is recorded in `sent`.
pub struct ScriptedLink {
    answer: Answer,
    pending: Vec<u8>,
    pub sent: Vec<Vec<u8>>,
}

impl ScriptedLink {
    pub fn new(answer: impl FnMut(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> Self {
        ScriptedLink {
            answer: Box::new(answer),
            pending: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// The requests sent so far, as lossy text (CRC bytes included).
    pub fn sent_text(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }
}

#[async_trait]
impl Link for ScriptedLink {
    async fn write_frame(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.sent.push(frame.to_vec());
        if let Some(reply) = (self.answer)(frame) {
            self.pending.extend_from_slice(&reply);
        }
        Ok(())
    }

    async fn read_until(
        &mut self,
        delimiter: u8,
        max: usize,
        _deadline: Instant,
    ) -> Result<Vec<u8>, LinkError> {
        match self.pending.iter().position(|&b| b == delimiter) {
            Some(end) if end < max => Ok(self.pending.drain(..=end).collect()),
            Some(_) => Err(LinkError::Overflow(max)),
            None => Err(LinkError::Timeout {
                received: std::mem::take(&mut self.pending).len(),
            }),
        }
    }

    async fn read_chunk(&mut self, _deadline: Instant) -> Result<Vec<u8>, LinkError> {
        if self.pending.is_empty() {
            return Err(LinkError::Timeout { received: 0 });
        }
        Ok(std::mem::take(&mut self.pending))
    }

    async fn discard_input(&mut self) -> Result<usize, LinkError> {
        Ok(std::mem::take(&mut self.pending).len())
    }
}

const PI18_FRAMES: &str = include_str!("../../tests/fixtures/pi18/frames.tsv");

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// (request, reply) of PI18 golden vector `id` (e.g. `V08`).
pub fn pi18_vector(id: &str) -> (Vec<u8>, Vec<u8>) {
    PI18_FRAMES
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&id))
        .map(|cols| (hex(cols[3]), hex(cols[4])))
        .unwrap_or_else(|| panic!("no vector {id}"))
}
