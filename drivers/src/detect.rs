//! Protocol detection: which Voltronic protocol family a unit speaks, from how it answers a short
//! sequence of harmless queries (never a setter). Follows the probe order of
//! `../shared/reference/pi18/README.md` §4.4 (the families' answers are in its §4.2 table):
//!
//! ```text
//! 1. ^P005PI + CRC + CR   ^D005 "18" -> PI18 (done)      "17" -> PI17 (done)
//! 2. QPI + CRC + CR       (PInn      -> PI30 (3.), PI16, PI15, PI41 … (done)
//!                         ^0         -> a ^-family unit that refused 1.: go on
//! 3. QPIGS2 + CRC + CR    only after (PI30: data -> PI30 MAX, anything else -> PI30 (done)
//! 4. ^P003PI + CR         ^D005 "17" -> PI17 (done; PI17 requests carry no CRC)
//! 5. QPI + CR             (PI16 / (PI15 -> PI16 / PI15 (done; PI16 requests carry no CRC)
//! otherwise               unknown, with what was heard (never a guess)
//! ```
//!
//! The sans-IO part is [`Detector`]: ask it for the next [`Probe`], feed it the answer (the frame
//! up to CR, or `None` for silence), read the [`Verdict`] when it has no more probes. [`detect`]
//! runs it over a [`Link`], asking each probe a second time when the first got silence or
//! garbage.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::link::{Link, LinkError};
use crate::{pi18, pi30};

/// One probe request. Every probe is a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `^P005PI` + CRC: the PI18 protocol-id query.
    Pi18Pi,
    /// `QPI` + CRC: the PI30 protocol-id query.
    Qpi,
    /// `QPIGS2` + CRC: PV2 status, answered by PI30 MAX-family units only.
    Qpigs2,
    /// `^P003PI` + CR, no CRC: the PI17 protocol-id query.
    Pi17Pi,
    /// `QPI` + CR, no CRC: the PI16/PI15 protocol-id query.
    QpiNoCrc,
}

impl Probe {
    /// The bytes to send.
    pub fn request(self) -> Vec<u8> {
        let crc = pi30::EncodeOptions::default();
        match self {
            Probe::Pi18Pi => pi18::Query::Pi.request(),
            Probe::Qpi => pi30::encode_command("QPI", crc),
            Probe::Qpigs2 => pi30::encode_command("QPIGS2", crc),
            Probe::Pi17Pi => b"^P003PI\r".to_vec(),
            Probe::QpiNoCrc => b"QPI\r".to_vec(),
        }
    }

    /// A short name for transcripts, e.g. `^P005PI`.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Pi18Pi => "^P005PI",
            Probe::Qpi => "QPI",
            Probe::Qpigs2 => "QPIGS2",
            Probe::Pi17Pi => "^P003PI (no CRC)",
            Probe::QpiNoCrc => "QPI (no CRC)",
        }
    }
}

/// A protocol family a unit was identified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    Pi30,
    Pi30Max,
    Pi18,
    Pi17,
    Pi16,
    /// Another `PInn` a unit names itself (PI15, PI34, PI41 …).
    Other(String),
}

impl Family {
    /// Whether sungate has a driver for it.
    pub fn is_supported(&self) -> bool {
        matches!(self, Family::Pi30 | Family::Pi30Max | Family::Pi18)
    }

    /// The name sungate's drivers use (`DeviceInfo::protocol`), e.g. `PI30 MAX`.
    pub fn name(&self) -> &str {
        match self {
            Family::Pi30 => "PI30",
            Family::Pi30Max => "PI30 MAX",
            Family::Pi18 => "PI18",
            Family::Pi17 => "PI17",
            Family::Pi16 => "PI16",
            Family::Other(name) => name,
        }
    }

    /// The gateway's `driver = "…"` for a supported family.
    pub fn driver(&self) -> Option<&'static str> {
        match self {
            Family::Pi30 | Family::Pi30Max => Some("pi30"),
            Family::Pi18 => Some("pi18"),
            _ => None,
        }
    }

    fn from_id(id: &str) -> Family {
        match id {
            "30" => Family::Pi30,
            "18" => Family::Pi18,
            "17" => Family::Pi17,
            "16" => Family::Pi16,
            other => Family::Other(format!("PI{other}")),
        }
    }
}

/// The outcome of a detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The unit named its protocol.
    Speaks(Family),
    /// Nothing conclusive: what was heard, in words.
    Unknown(String),
}

impl Verdict {
    pub fn family(&self) -> Option<&Family> {
        match self {
            Verdict::Speaks(f) => Some(f),
            Verdict::Unknown(_) => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Speaks(family) if family.is_supported() => {
                write!(f, "this unit speaks {}: supported", family.name())
            }
            Verdict::Speaks(family) => {
                write!(f, "this unit speaks {}: not supported yet", family.name())
            }
            Verdict::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

/// What one answer was, as far as detection cares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Silence,
    /// `^Dnnn` data with a valid CRC.
    CaretData(String),
    /// `^0` (or `^1`, which no query should get).
    CaretRefusal,
    /// A `(` data frame with a valid CRC.
    ParenData(String),
    Nak,
    /// The request came back.
    Echo,
    Garbage,
}

impl Heard {
    fn of(answer: Option<&[u8]>) -> Heard {
        let Some(frame) = answer else {
            return Heard::Silence;
        };
        let caret = pi18::DecodeOptions::default();
        match frame.iter().find(|b| **b != 0) {
            Some(b'^') => match pi18::decode_reply(frame, caret) {
                Ok(pi18::Reply::Data(d)) => Heard::CaretData(d),
                Ok(pi18::Reply::Refused | pi18::Reply::Accepted) => Heard::CaretRefusal,
                Ok(pi18::Reply::Echo(_)) => Heard::Echo,
                Ok(_) | Err(_) => Heard::Garbage,
            },
            Some(_) => match pi30::decode_reply(frame, pi30::DecodeOptions::default()) {
                Ok(pi30::Reply::Data(d)) => Heard::ParenData(d),
                Ok(pi30::Reply::Nak) => Heard::Nak,
                Ok(pi30::Reply::Echo(_)) => Heard::Echo,
                Ok(_) | Err(_) => Heard::Garbage,
            },
            // Nothing but HID padding, or an overlong line without CR.
            None => Heard::Garbage,
        }
    }

    /// Worth asking the same probe again.
    fn is_retryable(&self) -> bool {
        matches!(self, Heard::Silence | Heard::Garbage)
    }

    fn describe(&self) -> &'static str {
        match self {
            Heard::Silence => "silence",
            Heard::CaretData(_) => "^D data",
            Heard::CaretRefusal => "^0",
            Heard::ParenData(_) => "( data",
            Heard::Nak => "NAK",
            Heard::Echo => "an echo of the request",
            Heard::Garbage => "bytes that are no valid frame",
        }
    }
}

/// `nn` of a two-digit PI18/PI17 `PI` answer.
fn caret_id(data: &str) -> Option<&str> {
    (data.len() == 2 && data.bytes().all(|b| b.is_ascii_digit())).then_some(data)
}

/// `nn` of a `(PInn` answer.
fn paren_id(data: &str) -> Option<&str> {
    data.strip_prefix("PI")
        .filter(|id| id.len() == 2 && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The sans-IO probe sequence (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Detector {
    heard: Vec<(Probe, Heard)>,
    verdict: Option<Verdict>,
}

impl Detector {
    pub fn new() -> Self {
        Detector::default()
    }

    /// The next probe to send, or `None` when the verdict is in.
    pub fn next_probe(&self) -> Option<Probe> {
        if self.verdict.is_some() {
            return None;
        }
        let asked = |p: Probe| self.heard.iter().any(|(q, _)| *q == p);
        let pi30 = self
            .heard
            .iter()
            .any(|(_, h)| matches!(h, Heard::ParenData(d) if paren_id(d) == Some("30")));
        if pi30 {
            // A PI30 unit: only the MAX question is left.
            return (!asked(Probe::Qpigs2)).then_some(Probe::Qpigs2);
        }
        [Probe::Pi18Pi, Probe::Qpi, Probe::Pi17Pi, Probe::QpiNoCrc]
            .into_iter()
            .find(|p| !asked(*p))
    }

    /// Feed the answer to `probe`: the frame read up to CR, or `None` for silence.
    pub fn feed(&mut self, probe: Probe, answer: Option<&[u8]>) {
        let heard = Heard::of(answer);
        self.verdict = match (probe, &heard) {
            (Probe::Pi18Pi | Probe::Pi17Pi, Heard::CaretData(d)) => {
                caret_id(d).map(|id| Verdict::Speaks(Family::from_id(id)))
            }
            (Probe::Qpi | Probe::QpiNoCrc, Heard::ParenData(d)) => match paren_id(d) {
                // PI30 is refined by the QPIGS2 probe.
                Some("30") => None,
                Some(id) => Some(Verdict::Speaks(Family::from_id(id))),
                None => None,
            },
            (Probe::Qpigs2, Heard::ParenData(_)) => Some(Verdict::Speaks(Family::Pi30Max)),
            (Probe::Qpigs2, _) => Some(Verdict::Speaks(Family::Pi30)),
            _ => None,
        };
        self.heard.push((probe, heard));
    }

    /// The verdict once [`Detector::next_probe`] returns `None`.
    pub fn verdict(&self) -> Verdict {
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        if self.heard.iter().all(|(_, h)| *h == Heard::Silence) {
            return Verdict::Unknown(
                "no answer to any probe (not a PI-family unit, a Modbus-only unit, the wrong \
                 baud rate or a broken cable)"
                    .into(),
            );
        }
        let heard: Vec<String> = self
            .heard
            .iter()
            .map(|(p, h)| format!("{} -> {}", p.name(), h.describe()))
            .collect();
        Verdict::Unknown(format!(
            "no probe was answered with a protocol id ({})",
            heard.join(", ")
        ))
    }
}

/// A finished detection: the verdict and every probe with its raw answer (`None` = silence).
#[derive(Debug, Clone)]
pub struct Detection {
    pub verdict: Verdict,
    pub transcript: Vec<(Probe, Option<Vec<u8>>)>,
}

/// The longest answer read (a PI30 QPIGS2 is ~100 bytes).
const MAX_ANSWER: usize = 512;

/// How often a probe is asked when it gets silence or garbage.
const ATTEMPTS: usize = 2;

/// Run the probe sequence over `io`, `reply_timeout` per answer. Only a fatal link error (the
/// port is gone) is an error; silence and garbage are answers.
pub async fn detect(io: &mut dyn Link, reply_timeout: Duration) -> Result<Detection, LinkError> {
    let mut detector = Detector::new();
    let mut transcript = Vec::new();
    while let Some(probe) = detector.next_probe() {
        let mut answer = None;
        for _ in 0..ATTEMPTS {
            answer = ask(io, probe, reply_timeout).await?;
            if !Heard::of(answer.as_deref()).is_retryable() {
                break;
            }
        }
        detector.feed(probe, answer.as_deref());
        transcript.push((probe, answer));
    }
    Ok(Detection {
        verdict: detector.verdict(),
        transcript,
    })
}

async fn ask(
    io: &mut dyn Link,
    probe: Probe,
    reply_timeout: Duration,
) -> Result<Option<Vec<u8>>, LinkError> {
    io.discard_input().await?;
    io.write_frame(&probe.request()).await?;
    match io
        .read_until(b'\r', MAX_ANSWER, Instant::now() + reply_timeout)
        .await
    {
        Ok(frame) => Ok(Some(frame)),
        Err(LinkError::Timeout { .. }) => Ok(None),
        // A line without CR: no frame.
        Err(LinkError::Overflow(_)) => Ok(Some(Vec::new())),
        Err(e) if !e.is_fatal() => Ok(Some(Vec::new())),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ScriptedLink, pi18_vector};

    fn paren(payload: &str) -> Vec<u8> {
        pi30::codec::encode_frame(
            format!("({payload}").as_bytes(),
            pi30::EncodeOptions::default(),
        )
    }

    const NAK: &[u8] = b"(NAKss\r";
    const REFUSE: &[u8] = pi18::codec::REFUSE;

    /// A unit per family, as README §4.2 says each answers each probe.
    fn unit(family: &'static str) -> impl FnMut(&[u8]) -> Option<Vec<u8>> + Send + 'static {
        move |req: &[u8]| {
            let probe = [
                Probe::Pi18Pi,
                Probe::Qpi,
                Probe::Qpigs2,
                Probe::Pi17Pi,
                Probe::QpiNoCrc,
            ]
            .into_iter()
            .find(|p| p.request() == req)?;
            match (family, probe) {
                // PI30: NAK to ^ frames, (PI30 to QPI (V04's request), QPIGS2 only on MAX.
                ("pi30" | "pi30max", Probe::Qpi | Probe::QpiNoCrc) => Some(paren("PI30")),
                ("pi30max", Probe::Qpigs2) => Some(paren(
                    "03.1 000.0 00000 0 0 0 0 0 0 00000 0000 0000 0000 00",
                )),
                ("pi30" | "pi30max", _) => Some(NAK.to_vec()),
                // PI18: V01 to ^P005PI, ^0 to the rest.
                ("pi18", Probe::Pi18Pi) => Some(pi18_vector("V01").1),
                ("pi18", _) => Some(REFUSE.to_vec()),
                // PI17: ^0 to CRC'd frames (V03/V04), V02 to ^P003PI.
                ("pi17", Probe::Pi17Pi) => Some(pi18_vector("V02").1),
                ("pi17", _) => Some(REFUSE.to_vec()),
                // PI16: (PI16 (V06) to QPI without CRC, NAK to the rest.
                ("pi16", Probe::QpiNoCrc) => Some(pi18_vector("V06").1),
                ("pi16", _) => Some(NAK.to_vec()),
                ("pi41", Probe::Qpi) => Some(paren("PI41")),
                ("pi41", _) => Some(NAK.to_vec()),
                ("silent", _) => None,
                ("garbage", _) => Some(b"\x13\x9f(PI30 noise\xff\r".to_vec()),
                ("nak", _) => Some(NAK.to_vec()),
                ("echo", _) => Some(req.to_vec()),
                _ => None,
            }
        }
    }

    async fn run(family: &'static str) -> (Detection, Vec<Vec<u8>>) {
        let mut link = ScriptedLink::new(unit(family));
        let d = detect(&mut link, Duration::from_millis(100)).await.unwrap();
        (d, link.sent)
    }

    #[tokio::test(start_paused = true)]
    async fn each_family_is_named() {
        let cases = [
            ("pi30", "this unit speaks PI30: supported", Some("pi30")),
            (
                "pi30max",
                "this unit speaks PI30 MAX: supported",
                Some("pi30"),
            ),
            ("pi18", "this unit speaks PI18: supported", Some("pi18")),
            ("pi17", "this unit speaks PI17: not supported yet", None),
            ("pi16", "this unit speaks PI16: not supported yet", None),
            ("pi41", "this unit speaks PI41: not supported yet", None),
        ];
        for (family, says, driver) in cases {
            let (d, sent) = run(family).await;
            assert_eq!(d.verdict.to_string(), says, "{family}: {:?}", d.transcript);
            assert_eq!(d.verdict.family().and_then(Family::driver), driver);
            // Never a setter: only ^P queries and Q… queries went out.
            for frame in &sent {
                assert!(
                    frame.starts_with(b"^P") || frame.starts_with(b"Q"),
                    "{family}: {frame:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pi18_takes_one_round_trip() {
        let (d, sent) = run("pi18").await;
        assert_eq!(d.transcript.len(), 1);
        assert_eq!(sent, [pi18_vector("V01").0]);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_garbage_nak_and_echo_are_unknown() {
        for family in ["silent", "garbage", "nak", "echo"] {
            let (d, sent) = run(family).await;
            let Verdict::Unknown(why) = &d.verdict else {
                panic!("{family}: {}", d.verdict)
            };
            assert!(d.verdict.to_string().starts_with("unknown: "));
            assert_eq!(d.transcript.len(), 4, "{family}");
            match family {
                "silent" => {
                    assert!(why.contains("no answer"), "{why}");
                    // Each probe asked twice.
                    assert_eq!(sent.len(), 8);
                }
                "garbage" => {
                    assert!(why.contains("no valid frame"), "{why}");
                    assert_eq!(sent.len(), 8);
                }
                "nak" => {
                    assert!(why.contains("NAK"), "{why}");
                    assert_eq!(sent.len(), 4);
                }
                _ => assert!(why.contains("echo"), "{why}"),
            }
        }
    }

    #[test]
    fn a_pi_answer_that_is_no_id_is_not_a_guess() {
        let mut d = Detector::new();
        d.feed(Probe::Pi18Pi, Some(&pi18::encode_reply("1X").unwrap()));
        assert_eq!(d.next_probe(), Some(Probe::Qpi));
        d.feed(Probe::Qpi, Some(&paren("PIXX")));
        d.feed(Probe::Pi17Pi, None);
        d.feed(Probe::QpiNoCrc, None);
        assert_eq!(d.next_probe(), None);
        assert!(matches!(d.verdict(), Verdict::Unknown(_)));
    }
}
