//! The PI30 driver: identify, poll the configured queries, execute validated setters verified by
//! read-back. One request/response exchange per query over a borrowed [`Link`]:
//!
//! ```text
//! host:   <command> <crc> <CR>           e.g. QPIGS \xB7\xA9 \r
//! unit:   ( <payload> <crc> <CR>         or (NAK / (ACK / ^0 (PI17/PI18) / an echo
//! ```
//! Before each request the input is flushed, so that bytes of an earlier (late or partial) reply
//! are never taken for the answer to this one.

use std::time::Duration;

use async_trait::async_trait;

use crate::voltronic::{RefusedQueries, text};
use tokio::time::Instant;

use super::codec::{DecodeOptions, EncodeOptions, Reply, decode_reply, encode_command};
use super::fields::{Variant, decode_payload};
use super::queries::{Query, parse_current_options};
use super::setters::{Setter, UnitLimits, parse_setter};
use crate::driver::{Command, DeviceInfo, Driver, DriverError, FieldSpec, Outcome, Snapshot};
use crate::link::Link;
/// `PI30`, `PI18`, ...: what QPI answers.
fn is_protocol_id(text: &str) -> bool {
    text.len() == 4 && text.starts_with("PI") && text[2..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
use crate::link::LinkError;
use crate::reading::{Field, Reading};

/// The longest reply we accept (QPIGS of MAX units is ~120 bytes, QPGSn ~145).
const MAX_REPLY: usize = 512;

/// Settings of one PI30 device.
#[derive(Debug, Clone)]
pub struct Pi30Options {
    /// Queries per poll, in order.
    pub queries: Vec<Query>,
    /// Time allowed for one reply (2400 baud: ~0.5 s for QPIGS on the wire, plus firmware time).
    pub reply_timeout: Duration,
    pub encode: EncodeOptions,
    pub decode: DecodeOptions,
    /// Force a variant instead of detecting it.
    pub variant: Option<Variant>,
}

impl Default for Pi30Options {
    fn default() -> Self {
        Pi30Options {
            queries: vec![Query::Qpigs, Query::Qmod, Query::Qpiws],
            reply_timeout: Duration::from_millis(1500),
            encode: EncodeOptions::default(),
            decode: DecodeOptions::default(),
            variant: None,
        }
    }
}

#[derive(Debug)]
pub struct Pi30Driver {
    options: Pi30Options,
    variant: Variant,
    limits: UnitLimits,
    /// Queries the unit refuses while it answers the others (skipped after two in a row).
    refused: RefusedQueries<Query>,
}

/// The snapshot section that says which configured queries the unit refuses.
pub const STATUS_SECTION: &str = "status";

impl Pi30Driver {
    pub fn new(options: Pi30Options) -> Self {
        Pi30Driver {
            variant: options.variant.unwrap_or_default(),
            options,
            limits: UnitLimits::default(),
            refused: RefusedQueries::default(),
        }
    }

    /// Configured queries the unit refused since the last identify.
    pub fn unsupported_queries(&self) -> &[Query] {
        self.refused.unsupported()
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    pub fn limits(&self) -> &UnitLimits {
        &self.limits
    }

    /// One exchange: flush stale input, send, read one frame, check it.
    async fn transact(&self, io: &mut dyn Link, command: &str) -> Result<Reply, DriverError> {
        io.discard_input().await?;
        io.write_frame(&encode_command(command, self.options.encode))
            .await?;
        let deadline = Instant::now() + self.options.reply_timeout;
        let frame = io.read_until(b'\r', MAX_REPLY, deadline).await?;
        // A HID report may carry zero padding after the CR; the codec strips it.
        decode_reply(&frame, self.options.decode).map_err(|e| DriverError::BadReply {
            request: command.to_owned(),
            reason: e.to_string(),
        })
    }

    /// A query that must answer with data.
    pub async fn query(&self, io: &mut dyn Link, query: Query) -> Result<Reading, DriverError> {
        let command = query.command();
        let payload = match self.transact(io, &command).await? {
            Reply::Data(payload) => payload,
            other => return Err(non_data(&command, other)),
        };
        decode_payload(&command, &payload, self.variant).map_err(|e| DriverError::BadReply {
            request: command,
            reason: e.to_string(),
        })
    }

    /// A query whose refusal is fine (older firmware lacks it): `None` on NAK / echo.
    async fn optional_query(
        &self,
        io: &mut dyn Link,
        query: Query,
    ) -> Result<Option<Reading>, DriverError> {
        match self.query(io, query).await {
            Ok(r) => Ok(Some(r)),
            Err(DriverError::Refused { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn current_options(
        &self,
        io: &mut dyn Link,
        query: Query,
    ) -> Result<Vec<u32>, DriverError> {
        let command = query.command();
        match self.transact(io, &command).await? {
            Reply::Data(payload) => Ok(parse_current_options(&payload).unwrap_or_default()),
            Reply::Nak | Reply::Echo(_) => Ok(Vec::new()),
            other => Err(non_data(&command, other)),
        }
    }
}

fn non_data(request: &str, reply: Reply) -> DriverError {
    match reply {
        Reply::Nak => DriverError::Refused {
            request: request.to_owned(),
            reason: "NAK".into(),
        },
        Reply::Echo(_) => DriverError::Refused {
            request: request.to_owned(),
            reason: "the unit echoed the command: not supported".into(),
        },
        Reply::ProtocolMismatch(token) => DriverError::ProtocolMismatch(format!(
            "the unit answered {request} with {token:?}: it speaks PI17/PI18, not PI30"
        )),
        Reply::Ack => DriverError::BadReply {
            request: request.to_owned(),
            reason: "ACK where data was expected".into(),
        },
        Reply::Data(_) => DriverError::BadReply {
            request: request.to_owned(),
            reason: "data where ACK/NAK was expected".into(),
        },
    }
}

#[async_trait]
impl Driver for Pi30Driver {
    fn fields(&self) -> &[FieldSpec] {
        PI30_FIELDS
    }

    async fn identify(&mut self, io: &mut dyn Link) -> Result<DeviceInfo, DriverError> {
        // A (re)connect may be to another unit or firmware: every configured query gets another
        // chance.
        self.refused.clear();
        crate::voltronic::settle(io).await?;
        let qpi = self.query(io, Query::Qpi).await?;
        let protocol = qpi
            .value("protocol_id")
            .and_then(|v| v.as_str())
            .unwrap_or("PI30")
            .to_owned();
        // `PI30`: anything else is another query's reply (a line out of step), not an answer.
        if !is_protocol_id(&protocol) {
            return Err(DriverError::BadReply {
                request: Query::Qpi.command(),
                reason: format!("{protocol:?} is not a protocol id (PInn)"),
            });
        }
        let id = self.optional_query(io, Query::Qid).await?;
        let serial = match text(&id, "serial_number") {
            Some(s) => Some(s),
            None => text(
                &self.optional_query(io, Query::Qsid).await?,
                "serial_number",
            ),
        };
        // "VERFW:00072.70": the version is what follows the label.
        let firmware = text(
            &self.optional_query(io, Query::Qvfw).await?,
            "main_cpu_firmware_version",
        )
        .map(|v| match v.split_once(':') {
            Some((_, version)) if !version.trim().is_empty() => version.trim().to_owned(),
            _ => v,
        });
        let model = text(&self.optional_query(io, Query::Qmn).await?, "model_name");
        if self.options.variant.is_none() {
            // MAX-family units answer QPIGS2 (PV2); others refuse it.
            self.variant = match self.optional_query(io, Query::Qpigs2).await {
                Ok(Some(_)) => Variant::Pi30Max,
                _ => Variant::Pi30,
            };
        }
        let rated = self.optional_query(io, Query::Qpiri).await?;
        self.limits = UnitLimits {
            max_charging_currents: self.current_options(io, Query::Qmchgcr).await?,
            max_utility_charging_currents: self.current_options(io, Query::Qmuchgcr).await?,
            nominal_battery_voltage: rated
                .as_ref()
                .and_then(|r| r.value("battery_voltage"))
                .and_then(|v| v.as_f64()),
        };
        Ok(DeviceInfo {
            protocol: match self.variant {
                Variant::Pi30Max => format!("{protocol} MAX"),
                Variant::Pi30 => protocol,
            },
            model,
            serial,
            firmware,
            manufacturer: Some("Voltronic".into()),
        })
    }

    async fn poll(&mut self, io: &mut dyn Link) -> Result<Snapshot, DriverError> {
        let mut snapshot = Snapshot::default();
        let mut refused = Vec::new();
        let mut last_refusal = None;
        for &query in &self.options.queries {
            if self.refused.is_unsupported(&query) {
                continue;
            }
            match self.query(io, query).await {
                Ok(reading) => snapshot.sections.push((query.command(), reading)),
                // A refusal may be the firmware lacking the query (users copy query lists
                // from forums): the other queries still answer.
                Err(err @ DriverError::Refused { .. }) => {
                    refused.push(query);
                    last_refusal = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        if snapshot.sections.is_empty() {
            // Not one query answered: that is no reading at all (and says nothing about which
            // query the unit lacks).
            return Err(last_refusal.unwrap_or_else(|| DriverError::Refused {
                request: self
                    .options
                    .queries
                    .iter()
                    .map(Query::command)
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: "the unit refused every configured query".into(),
            }));
        }
        self.refused.count(&refused);
        if !self.refused.unsupported().is_empty() {
            let names: Vec<String> = self
                .refused
                .unsupported()
                .iter()
                .map(Query::command)
                .collect();
            let mut status = Reading::new();
            status.push(Field::new("unsupported_queries", names.join(" ")));
            snapshot.sections.push((STATUS_SECTION.to_owned(), status));
        }
        Ok(snapshot)
    }

    async fn execute(&mut self, io: &mut dyn Link, cmd: &Command) -> Result<Outcome, DriverError> {
        let Command::Set { name, value } = cmd else {
            return Err(DriverError::Invalid(format!(
                "{cmd} is a VE.Direct command, not PI30"
            )));
        };
        let setter: Setter =
            parse_setter(name, value).map_err(|e| DriverError::Invalid(e.to_string()))?;
        setter
            .check_limits(&self.limits)
            .map_err(|e| DriverError::Invalid(e.to_string()))?;
        let command = setter.command();
        match self.transact(io, &command).await? {
            Reply::Ack => {}
            other => return Err(non_data(&command, other)),
        }
        let Some(readback) = setter.readback() else {
            return Ok(Outcome {
                sent: command,
                verified: false,
                detail: "acknowledged; the unit offers no read-back for this setting".into(),
                data: Vec::new(),
            });
        };
        let reading = self.query(io, readback.query).await?;
        crate::voltronic::readback_outcome(
            command,
            name,
            value,
            &readback.query.command().to_string(),
            readback.matches(&reading),
            &reading,
            readback.field,
            &readback.expected,
        )
    }
}

/// The QPIGS fields and the QET/QLT energy counters with their Home Assistant classes (the other
/// queries' fields are published with the unit their decoder gives them).
static PI30_FIELDS: &[FieldSpec] = &[
    FieldSpec::measurement("ac_input_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("ac_input_frequency", Some("Hz"), Some("frequency")),
    FieldSpec::measurement("ac_output_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("ac_output_frequency", Some("Hz"), Some("frequency")),
    FieldSpec::measurement(
        "ac_output_apparent_power",
        Some("VA"),
        Some("apparent_power"),
    ),
    FieldSpec::measurement("ac_output_active_power", Some("W"), Some("power")),
    FieldSpec::measurement("ac_output_load", Some("%"), None),
    FieldSpec::measurement("bus_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_charging_current", Some("A"), Some("current")),
    FieldSpec::measurement("battery_capacity", Some("%"), Some("battery")),
    FieldSpec::measurement(
        "inverter_heat_sink_temperature",
        Some("°C"),
        Some("temperature"),
    ),
    FieldSpec::measurement("pv_input_current_for_battery", Some("A"), Some("current")),
    FieldSpec::measurement("pv_input_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_voltage_from_scc", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_discharge_current", Some("A"), Some("current")),
    FieldSpec::measurement("pv_input_power", Some("W"), Some("power")),
    super::energy::FIELD_SPECS[0],
    super::energy::FIELD_SPECS[1],
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::StreamLink;
    use crate::pi30::codec::encode_frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// A scripted unit: answers each request with `answer(command)`; `None` = silence.
    fn fake_unit(
        mut dev: DuplexStream,
        answer: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static,
    ) -> tokio::task::JoinHandle<Vec<String>> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = dev.read(&mut byte).await {
                buf.push(byte[0]);
                if byte[0] != b'\r' {
                    continue;
                }
                let frame = std::mem::take(&mut buf);
                let command =
                    String::from_utf8_lossy(&frame[..frame.len().saturating_sub(3)]).into_owned();
                seen.push(command.clone());
                if let Some(reply) = answer(&command) {
                    if dev.write_all(&reply).await.is_err() {
                        break;
                    }
                }
            }
            seen
        })
    }

    fn data(payload: &str) -> Option<Vec<u8>> {
        Some(encode_frame(
            format!("({payload}").as_bytes(),
            EncodeOptions::default(),
        ))
    }

    // Payloads of vectors V02, V04, V06, V10, V16 (PI30 vectors.md).
    fn axpert(command: &str) -> Option<Vec<u8>> {
        match command {
            "QPI" => data("PI30"),
            "QID" => data("9293333010501"),
            "QVFW" => data("VERFW:00072.70"),
            "QMN" => data("MKS2-8000"),
            "QPIGS" => data(
                "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010",
            ),
            "QPIRI" => data(
                "230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1",
            ),
            "QMCHGCR" => data("010 020 030 040 050 060"),
            "QMUCHGCR" => data("002 010 020 030"),
            "QMOD" => data("B"),
            c if c.starts_with("MCHGC") || c.starts_with("POP") => Some(b"(ACK9 \r".to_vec()),
            _ => Some(b"(NAKss\r".to_vec()),
        }
    }

    fn driver() -> Pi30Driver {
        Pi30Driver::new(Pi30Options {
            queries: vec![Query::Qpigs, Query::Qmod],
            reply_timeout: Duration::from_millis(300),
            ..Pi30Options::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_reply_to_someone_else_is_not_taken_for_the_first_answer() {
        // The line still carries the answer to a QID another program sent before we opened
        // the port: it arrives in pieces after we connected, and only then does the unit
        // listen to us.
        let (host, mut dev) = tokio::io::duplex(1024);
        let stale = data("9293333010999").unwrap();
        let unit = tokio::spawn(async move {
            for piece in stale.chunks(4) {
                tokio::time::sleep(Duration::from_millis(30)).await;
                dev.write_all(piece).await.unwrap();
            }
            fake_unit(dev, axpert).await.unwrap()
        });
        let mut link = StreamLink::new(host);
        let info = driver().identify(&mut link).await.unwrap();
        assert_eq!(info.protocol, "PI30");
        assert_eq!(info.serial.as_deref(), Some("9293333010501"));
        drop(link);
        assert_eq!(unit.await.unwrap().first().map(String::as_str), Some("QPI"));
    }

    #[test]
    fn only_pinn_is_a_protocol_id() {
        assert!(is_protocol_id("PI30") && is_protocol_id("PI18"));
        for other in ["92932309100999", "PI3", "PIxx", "NAK", ""] {
            assert!(!is_protocol_id(other), "{other}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn identify_then_poll() {
        let (host, dev) = tokio::io::duplex(1024);
        let _unit = fake_unit(dev, axpert);
        let mut link = StreamLink::new(host);
        let mut d = driver();
        let info = d.identify(&mut link).await.unwrap();
        assert_eq!(info.serial.as_deref(), Some("9293333010501"));
        assert_eq!(info.firmware.as_deref(), Some("00072.70"));
        assert_eq!(info.model.as_deref(), Some("MKS2-8000"));
        assert_eq!(d.variant(), Variant::Pi30, "QPIGS2 was refused");
        assert_eq!(d.limits().nominal_battery_voltage, Some(48.0));
        assert_eq!(d.limits().max_charging_currents, [10, 20, 30, 40, 50, 60]);

        let flat = d.poll(&mut link).await.unwrap().flatten();
        assert_eq!(
            flat.value("battery_voltage").and_then(|v| v.as_f64()),
            Some(57.5)
        );
        assert_eq!(
            flat.value("pv_input_power").and_then(|v| v.as_i64()),
            Some(856)
        );
        assert_eq!(
            flat.value("device_mode").and_then(|v| v.as_str()),
            Some("Battery")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn implausible_value_with_a_valid_crc_is_a_bad_reply() {
        // V10 with a battery voltage of 999.9 V: the CRC is right, the value is not.
        fn unit(command: &str) -> Option<Vec<u8>> {
            match command {
                "QPIGS" => data(
                    "000.0 00.0 230.0 49.9 0161 0119 003 460 999.9 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010",
                ),
                other => axpert(other),
            }
        }
        let (host, dev) = tokio::io::duplex(1024);
        let _unit = fake_unit(dev, unit);
        let mut link = StreamLink::new(host);
        let err = driver().poll(&mut link).await.unwrap_err();
        let DriverError::BadReply { request, reason } = &err else {
            panic!("{err}")
        };
        assert_eq!(request, "QPIGS");
        assert!(reason.contains("battery_voltage = 999.9"), "{reason}");
    }

    #[tokio::test(start_paused = true)]
    async fn setter_outside_the_units_limits_is_refused_before_sending() {
        let (host, dev) = tokio::io::duplex(1024);
        let unit = fake_unit(dev, axpert);
        let mut link = StreamLink::new(host);
        let mut d = driver();
        d.identify(&mut link).await.unwrap();
        let cmd = Command::Set {
            name: "max_charging_current".into(),
            value: "70".into(),
        };
        let err = d.execute(&mut link, &cmd).await.unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{err}");
        drop(link);
        let seen = unit.await.unwrap();
        assert!(!seen.iter().any(|c| c.starts_with("MCHGC")), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn acknowledged_setting_that_does_not_read_back_is_an_error() {
        // The fake unit ACKs POP02 but its QPIRI still says utility first (raw 0).
        let (host, dev) = tokio::io::duplex(1024);
        let _unit = fake_unit(dev, axpert);
        let mut link = StreamLink::new(host);
        let mut d = driver();
        let cmd = Command::Set {
            name: "output_source_priority".into(),
            value: "sbu_first".into(),
        };
        let err = d.execute(&mut link, &cmd).await.unwrap_err();
        assert!(matches!(err, DriverError::NotVerified { .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn stale_bytes_never_become_the_next_answer() {
        // The unit answers QPIGS 2 s late, after the driver gave up. When the driver then asks
        // QMOD, the late QPIGS frame is already waiting in the input: it must be discarded, not
        // taken for the QMOD answer.
        let (host, mut dev) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = dev.read(&mut byte).await {
                buf.push(byte[0]);
                if byte[0] != b'\r' {
                    continue;
                }
                let frame = std::mem::take(&mut buf);
                let command = String::from_utf8_lossy(&frame[..frame.len() - 3]).into_owned();
                if command == "QPIGS" {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                if let Some(reply) = axpert(&command) {
                    let _ = dev.write_all(&reply).await;
                }
            }
        });
        let mut link = StreamLink::new(host);
        let d = driver();
        let err = d.query(&mut link, Query::Qpigs).await.unwrap_err();
        assert!(
            matches!(err, DriverError::Link(LinkError::Timeout { .. })),
            "{err}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let reading = d.query(&mut link, Query::Qmod).await.unwrap();
        assert_eq!(
            reading.value("device_mode").and_then(|v| v.as_str()),
            Some("Battery")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_query_is_skipped_and_the_rest_is_published() {
        // The fake unit NAKs QPIGS2 (non-MAX firmware), as most real units do.
        let (host, dev) = tokio::io::duplex(4096);
        let unit = fake_unit(dev, axpert);
        let mut link = StreamLink::new(host);
        let mut d = Pi30Driver::new(Pi30Options {
            queries: vec![Query::Qpigs, Query::Qpigs2, Query::Qmod],
            reply_timeout: Duration::from_millis(300),
            ..Pi30Options::default()
        });
        // Refused once: that poll goes without it, nothing is decided yet.
        let snap = d.poll(&mut link).await.unwrap();
        let names: Vec<&str> = snap.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["QPIGS", "QMOD"]);
        for _ in 0..3 {
            let snap = d.poll(&mut link).await.unwrap();
            let names: Vec<&str> = snap.sections.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["QPIGS", "QMOD", STATUS_SECTION]);
            let flat = snap.flatten();
            assert_eq!(
                flat.value("battery_voltage").and_then(|v| v.as_f64()),
                Some(57.5)
            );
            assert_eq!(
                flat.value("unsupported_queries").and_then(|v| v.as_str()),
                Some("QPIGS2")
            );
        }
        assert_eq!(d.unsupported_queries(), [Query::Qpigs2]);
        // A reconnect (identify) tries it again, once.
        d.identify(&mut link).await.unwrap();
        assert!(d.unsupported_queries().is_empty());
        d.poll(&mut link).await.unwrap();
        drop(link);
        let seen = unit.await.unwrap();
        // QPIGS2 asked in the first two polls, by identify's variant probe, and after identify.
        assert_eq!(
            seen.iter().filter(|c| *c == "QPIGS2").count(),
            4,
            "{seen:?}"
        );
        assert_eq!(seen.iter().filter(|c| *c == "QPIGS").count(), 5, "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn energy_counters_of_a_max_unit_and_their_refusal_by_plain_pi30() {
        let queries = vec![Query::Qpigs, Query::Qet, Query::Qlt];
        let options = || Pi30Options {
            queries: queries.clone(),
            reply_timeout: Duration::from_millis(300),
            ..Pi30Options::default()
        };
        // A MAX unit: both counters in kWh next to QPIGS.
        fn max_unit(command: &str) -> Option<Vec<u8>> {
            match command {
                "QET" => data("01523456"),
                "QLT" => data("00238800"),
                other => axpert(other),
            }
        }
        let (host, dev) = tokio::io::duplex(4096);
        let _unit = fake_unit(dev, max_unit);
        let mut link = StreamLink::new(host);
        let mut d = Pi30Driver::new(options());
        let snap = d.poll(&mut link).await.unwrap();
        let names: Vec<&str> = snap.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["QPIGS", "QET", "QLT"]);
        let flat = snap.flatten();
        let pv = flat.get("pv_energy_total").unwrap();
        assert_eq!(pv.value.as_f64(), Some(1523.456));
        assert_eq!(pv.unit, Some("kWh"));
        assert_eq!(
            flat.value("load_energy_total").and_then(|v| v.as_f64()),
            Some(238.8)
        );
        let spec = d
            .fields()
            .iter()
            .find(|f| f.name == "pv_energy_total")
            .unwrap();
        assert_eq!(
            (spec.unit, spec.device_class, spec.state_class),
            (Some("kWh"), Some("energy"), Some("total_increasing"))
        );

        // Plain PI30 firmware NAKs both (the `axpert` unit NAKs what it does not know): the
        // rest is published, and after two refusals in a row they are no longer asked.
        let (host, dev) = tokio::io::duplex(4096);
        let unit = fake_unit(dev, axpert);
        let mut link = StreamLink::new(host);
        let mut d = Pi30Driver::new(options());
        for poll in 0..4 {
            let flat = d.poll(&mut link).await.unwrap().flatten();
            assert_eq!(
                flat.value("battery_voltage").and_then(|v| v.as_f64()),
                Some(57.5)
            );
            assert!(flat.get("pv_energy_total").is_none());
            if poll >= 1 {
                assert_eq!(
                    flat.value("unsupported_queries").and_then(|v| v.as_str()),
                    Some("QET QLT")
                );
            }
        }
        assert_eq!(d.unsupported_queries(), [Query::Qet, Query::Qlt]);
        drop(link);
        let seen = unit.await.unwrap();
        assert_eq!(seen.iter().filter(|c| *c == "QET").count(), 2, "{seen:?}");
        assert_eq!(seen.iter().filter(|c| *c == "QLT").count(), 2, "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_unit_that_refuses_every_query_gives_no_snapshot() {
        let (host, dev) = tokio::io::duplex(4096);
        let _unit = fake_unit(dev, axpert);
        let mut link = StreamLink::new(host);
        let mut d = Pi30Driver::new(Pi30Options {
            queries: vec![Query::Qpigs2, Query::Qboot],
            reply_timeout: Duration::from_millis(300),
            ..Pi30Options::default()
        });
        for _ in 0..4 {
            let err = d.poll(&mut link).await.unwrap_err();
            assert!(matches!(err, DriverError::Refused { .. }), "{err}");
        }
        // A unit that refuses everything (a NAK fault) is not missing one query: nothing is
        // switched off, so it comes back as soon as it answers again.
        assert!(d.unsupported_queries().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn pi18_unit_is_reported_as_a_protocol_mismatch() {
        let (host, dev) = tokio::io::duplex(1024);
        let _unit = fake_unit(dev, |_| Some(b"^0\x1b\xe3\r".to_vec()));
        let mut link = StreamLink::new(host);
        let err = driver().identify(&mut link).await.unwrap_err();
        assert!(matches!(err, DriverError::ProtocolMismatch(_)), "{err}");
        assert!(err.to_string().contains("PI17/PI18"), "{err}");
    }
}
