//! The PI18 driver: identify, poll the configured queries, execute validated setters verified by
//! read-back (PIRI). One request/response exchange per query over a borrowed [`Link`]:
//!
//! ```text
//! host:   ^P <nnn> <command> <crc> <CR>      e.g. ^P005GS \x58\x14 \r
//!         ^S <nnn> <setter> <crc> <CR>       e.g. ^S007POP1 \x0E\x10 \r
//! unit:   ^D <nnn> <payload> <crc> <CR>      or ^1 / ^0 / (NAK / an echo / a PI30 ( frame
//! ```
//! Before each request the input is flushed, so that bytes of an earlier (late or partial) reply
//! are never taken for the answer to this one. The same discipline as [`crate::pi30::driver`]:
//! a refused query is skipped after it was refused in two polls in a row while others answered,
//! setters are validated (format, then the unit's own MCHGCR/MUCHGCR lists) before anything is
//! sent, and an accepted setter is read back.

use std::time::Duration;

use async_trait::async_trait;

use crate::voltronic::{RefusedQueries, text};
use tokio::time::Instant;

use super::codec::{DecodeOptions, Reply, decode_reply};
use super::fields::decode_payload;
use super::queries::{Query, parse_current_options};
use super::setters::{Setter, UnitLimits, parse_setter};
use crate::driver::{Command, DeviceInfo, Driver, DriverError, FieldSpec, Outcome, Snapshot};
use crate::link::Link;
use crate::reading::{Field, Reading};

/// The longest reply we accept (GS is 111 bytes, PIRI ~95).
const MAX_REPLY: usize = 512;

/// The protocol name in [`DeviceInfo::protocol`].
pub const PROTOCOL: &str = "PI18";

/// Settings of one PI18 device.
#[derive(Debug, Clone)]
pub struct Pi18Options {
    /// Queries per poll, in order (GS, MOD, FWS by default; add PIRI for the settings).
    pub queries: Vec<Query>,
    /// Time allowed for one reply.
    pub reply_timeout: Duration,
    pub decode: DecodeOptions,
}

impl Default for Pi18Options {
    fn default() -> Self {
        Pi18Options {
            queries: vec![Query::Gs, Query::Mod, Query::Fws],
            reply_timeout: Duration::from_millis(1500),
            decode: DecodeOptions::default(),
        }
    }
}

#[derive(Debug)]
pub struct Pi18Driver {
    options: Pi18Options,
    limits: UnitLimits,
    /// Queries the unit refuses while it answers the others (skipped after two in a row).
    refused: RefusedQueries<Query>,
    /// FWS answered only with the computed length field (`^P006FWS`): use it from now on.
    fws_computed: bool,
}

/// The snapshot section that says which configured queries the unit refuses (as PI30's).
pub use crate::pi30::driver::STATUS_SECTION;

impl Pi18Driver {
    pub fn new(options: Pi18Options) -> Self {
        Pi18Driver {
            options,
            limits: UnitLimits::default(),
            refused: RefusedQueries::default(),
            fws_computed: false,
        }
    }

    /// Configured queries the unit refused since the last identify.
    pub fn unsupported_queries(&self) -> &[Query] {
        self.refused.unsupported()
    }

    pub fn limits(&self) -> &UnitLimits {
        &self.limits
    }

    /// One exchange: flush stale input, send, read one frame, check it.
    async fn transact(
        &self,
        io: &mut dyn Link,
        label: &str,
        request: &[u8],
    ) -> Result<Reply, DriverError> {
        io.discard_input().await?;
        io.write_frame(request).await?;
        let deadline = Instant::now() + self.options.reply_timeout;
        let frame = io.read_until(b'\r', MAX_REPLY, deadline).await?;
        decode_reply(&frame, self.options.decode).map_err(|e| DriverError::BadReply {
            request: label.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The data payload of a query, or the error its non-data reply stands for.
    async fn payload(&self, io: &mut dyn Link, query: Query) -> Result<String, DriverError> {
        let command = query.command();
        let request = if query == Query::Fws && self.fws_computed {
            query.request_computed()
        } else {
            query.request()
        };
        match self.transact(io, command, &request).await? {
            Reply::Data(payload) => Ok(payload),
            other => Err(non_data(command, other)),
        }
    }

    /// A query that must answer with data.
    pub async fn query(&mut self, io: &mut dyn Link, query: Query) -> Result<Reading, DriverError> {
        let command = query.command();
        let payload = match self.payload(io, query).await {
            // Some firmware answers FWS only with the rule's length field (`^P006FWS`).
            Err(DriverError::Refused { .. }) if query == Query::Fws && !self.fws_computed => {
                let payload = match self
                    .transact(io, command, &query.request_computed())
                    .await?
                {
                    Reply::Data(payload) => payload,
                    other => return Err(non_data(command, other)),
                };
                self.fws_computed = true;
                payload
            }
            other => other?,
        };
        decode_payload(command, &payload).map_err(|e| DriverError::BadReply {
            request: command.to_owned(),
            reason: e.to_string(),
        })
    }

    /// A query whose refusal is fine (older firmware lacks it): `None` on `^0` / NAK / echo.
    async fn optional_query(
        &mut self,
        io: &mut dyn Link,
        query: Query,
    ) -> Result<Option<Reading>, DriverError> {
        match self.query(io, query).await {
            Ok(r) => Ok(Some(r)),
            Err(DriverError::Refused { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// MCHGCR / MUCHGCR: the unit's list, empty (not checked) when refused or unreadable.
    async fn current_options(
        &self,
        io: &mut dyn Link,
        query: Query,
    ) -> Result<Vec<u32>, DriverError> {
        match self.payload(io, query).await {
            Ok(payload) => Ok(parse_current_options(query, &payload).unwrap_or_default()),
            Err(DriverError::Refused { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

fn non_data(request: &str, reply: Reply) -> DriverError {
    let refused = |reason: &str| DriverError::Refused {
        request: request.to_owned(),
        reason: reason.to_owned(),
    };
    match reply {
        Reply::Refused => refused("^0"),
        Reply::Nak => refused("NAK"),
        Reply::Echo(_) => {
            refused("the request came back as an echo (a second master on the line?)")
        }
        Reply::Pi30Frame(payload) => DriverError::ProtocolMismatch(format!(
            "the unit answered {request} with a PI30 frame ({payload:?}): it does not speak PI18"
        )),
        Reply::Accepted => DriverError::BadReply {
            request: request.to_owned(),
            reason: "^1 where data was expected".into(),
        },
        Reply::Data(_) => DriverError::BadReply {
            request: request.to_owned(),
            reason: "data where ^1/^0 was expected".into(),
        },
    }
}

#[async_trait]
impl Driver for Pi18Driver {
    fn fields(&self) -> &[FieldSpec] {
        PI18_FIELDS
    }

    async fn identify(&mut self, io: &mut dyn Link) -> Result<DeviceInfo, DriverError> {
        self.refused.clear();
        crate::voltronic::settle(io).await?;
        // Never decode a `^D` reply as PI18 unless PI said 18 (PI17 shares the framing).
        let pi = match self.query(io, Query::Pi).await {
            Ok(pi) => pi,
            Err(DriverError::Refused { reason, .. }) => {
                return Err(DriverError::ProtocolMismatch(format!(
                    "the unit refused ^P005PI ({reason}): it does not speak PI18"
                )));
            }
            Err(e) => return Err(e),
        };
        let protocol = pi
            .value("protocol_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        if protocol != PROTOCOL {
            return Err(DriverError::ProtocolMismatch(format!(
                "the unit says it speaks {protocol}, not {PROTOCOL}"
            )));
        }
        let serial = text(&self.optional_query(io, Query::Id).await?, "serial_number");
        let firmware = text(
            &self.optional_query(io, Query::Vfw).await?,
            "main_cpu_firmware_version",
        );
        self.limits = UnitLimits {
            max_charging_currents: self.current_options(io, Query::Mchgcr).await?,
            max_utility_charging_currents: self.current_options(io, Query::Muchgcr).await?,
        };
        Ok(DeviceInfo {
            protocol,
            model: None,
            serial,
            firmware,
            manufacturer: Some("Voltronic".into()),
        })
    }

    async fn poll(&mut self, io: &mut dyn Link) -> Result<Snapshot, DriverError> {
        let mut snapshot = Snapshot::default();
        let mut refused = Vec::new();
        let mut last_refusal = None;
        let queries = self.options.queries.clone();
        for query in queries {
            if self.refused.is_unsupported(&query) {
                continue;
            }
            match self.query(io, query).await {
                Ok(reading) => snapshot
                    .sections
                    .push((query.command().to_owned(), reading)),
                Err(err @ DriverError::Refused { .. }) => {
                    refused.push(query);
                    last_refusal = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        if snapshot.sections.is_empty() {
            return Err(last_refusal.unwrap_or_else(|| DriverError::Refused {
                request: self
                    .options
                    .queries
                    .iter()
                    .map(|q| q.command())
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: "the unit refused every configured query".into(),
            }));
        }
        self.refused.count(&refused);
        if !self.refused.unsupported().is_empty() {
            let names: Vec<&str> = self
                .refused
                .unsupported()
                .iter()
                .map(|q| q.command())
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
                "{cmd} is a VE.Direct command, not PI18"
            )));
        };
        let setter: Setter =
            parse_setter(name, value).map_err(|e| DriverError::Invalid(e.to_string()))?;
        setter
            .check_limits(&self.limits)
            .map_err(|e| DriverError::Invalid(e.to_string()))?;
        let command = setter.command();
        match self.transact(io, &command, &setter.request()).await? {
            Reply::Accepted => {}
            other => return Err(non_data(&command, other)),
        }
        let Some(readback) = setter.readback() else {
            return Ok(Outcome {
                sent: command,
                verified: false,
                detail: "accepted; the unit offers no read-back for this setting".into(),
                data: Vec::new(),
            });
        };
        let reading = self.query(io, readback.query).await?;
        crate::voltronic::readback_outcome(
            command,
            name,
            value,
            &readback.query.to_string(),
            readback.matches(&reading),
            &reading,
            readback.field,
            &readback.expected,
        )
    }
}

/// The GS fields with their Home Assistant classes (PI30's names where the meaning is the same).
static PI18_FIELDS: &[FieldSpec] = &[
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
    FieldSpec::measurement("battery_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_voltage_from_scc", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_voltage_from_scc2", Some("V"), Some("voltage")),
    FieldSpec::measurement("battery_discharge_current", Some("A"), Some("current")),
    FieldSpec::measurement("battery_charging_current", Some("A"), Some("current")),
    FieldSpec::measurement("battery_capacity", Some("%"), Some("battery")),
    FieldSpec::measurement(
        "inverter_heat_sink_temperature",
        Some("°C"),
        Some("temperature"),
    ),
    FieldSpec::measurement("mppt1_charger_temperature", Some("°C"), Some("temperature")),
    FieldSpec::measurement("mppt2_charger_temperature", Some("°C"), Some("temperature")),
    FieldSpec::measurement("pv1_input_power", Some("W"), Some("power")),
    FieldSpec::measurement("pv2_input_power", Some("W"), Some("power")),
    FieldSpec::measurement("pv1_input_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("pv2_input_voltage", Some("V"), Some("voltage")),
    FieldSpec::measurement("pv_input_power", Some("W"), Some("power")),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pi18::codec::{ACCEPT, REFUSE, encode_reply};
    use crate::testing::{ScriptedLink, pi18_vector};

    /// The reply of vector `id` when the request is the vector's request.
    fn vector_reply(ids: &[&str], request: &[u8]) -> Option<Vec<u8>> {
        ids.iter()
            .map(|id| pi18_vector(id))
            .find(|(req, _)| req == request)
            .map(|(_, reply)| reply)
    }

    /// An LV5048-like unit made of real frames: PI (V01), ID (V27), VFW (V26), GS (V08),
    /// PIRI (V12: SBU first, 70 A, AC 10 A), MOD (V15), FWS (V17), MCHGCR (V28), MUCHGCR (V29);
    /// setters are accepted (`^1`), anything else refused (`^0`).
    fn lv5048(request: &[u8]) -> Option<Vec<u8>> {
        const IDS: &[&str] = &[
            "V01", "V27", "V26", "V08", "V12", "V15", "V17", "V28", "V29",
        ];
        if request.starts_with(b"^S") {
            return Some(ACCEPT.to_vec());
        }
        Some(vector_reply(IDS, request).unwrap_or_else(|| REFUSE.to_vec()))
    }

    /// V12's PIRI payload with comma field `index` replaced.
    fn piri_with(index: usize, value: &str) -> Vec<u8> {
        let Reply::Data(payload) =
            decode_reply(&pi18_vector("V12").1, DecodeOptions::default()).unwrap()
        else {
            panic!("V12 is data")
        };
        let mut fields: Vec<&str> = payload.split(',').collect();
        fields[index] = value;
        encode_reply(&fields.join(",")).unwrap()
    }

    fn driver(queries: Vec<Query>) -> Pi18Driver {
        Pi18Driver::new(Pi18Options {
            queries,
            reply_timeout: Duration::from_millis(300),
            ..Pi18Options::default()
        })
    }

    fn set(name: &str, value: &str) -> Command {
        Command::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn identify_then_poll_real_frames() {
        let mut link = ScriptedLink::new(lv5048);
        let mut d = driver(vec![Query::Gs, Query::Mod, Query::Fws, Query::Piri]);
        let info = d.identify(&mut link).await.unwrap();
        assert_eq!(info.protocol, "PI18");
        assert_eq!(info.serial.as_deref(), Some("96161704100242"));
        assert_eq!(info.firmware.as_deref(), Some("05220"));
        assert_eq!(info.manufacturer.as_deref(), Some("Voltronic"));
        assert!(d.limits().max_charging_currents.contains(&60));
        assert!(!d.limits().max_utility_charging_currents.is_empty());

        let snap = d.poll(&mut link).await.unwrap();
        let names: Vec<&str> = snap.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["GS", "MOD", "FWS", "PIRI"]);
        let flat = snap.flatten();
        assert_eq!(
            flat.value("battery_voltage").and_then(|v| v.as_f64()),
            Some(52.6)
        );
        assert_eq!(
            flat.value("ac_output_active_power")
                .and_then(|v| v.as_i64()),
            Some(1458)
        );
        assert_eq!(
            flat.value("pv_input_power").and_then(|v| v.as_i64()),
            Some(1924)
        );
        assert!(flat.value("device_mode").is_some());
        assert_eq!(
            flat.value("piri_battery_voltage").and_then(|v| v.as_f64()),
            Some(48.0)
        );
        // Every request went out with PI18 framing; no setter during identify or poll.
        assert!(
            link.sent.iter().all(|f| f.starts_with(b"^P")),
            "{:?}",
            link.sent_text()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pi30_or_pi17_unit_is_a_protocol_mismatch() {
        // PI30 units answer ^P frames with (NAK; PI17 units refuse the CRC'd PI (V03).
        for reply in [b"(NAKss\r".to_vec(), REFUSE.to_vec(), pi18_vector("V02").1] {
            let mut link = ScriptedLink::new(move |_| Some(reply.clone()));
            let err = driver(vec![Query::Gs])
                .identify(&mut link)
                .await
                .unwrap_err();
            assert!(matches!(err, DriverError::ProtocolMismatch(_)), "{err}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn setter_outside_the_units_list_is_refused_before_sending() {
        let mut link = ScriptedLink::new(lv5048);
        let mut d = driver(vec![Query::Gs]);
        d.identify(&mut link).await.unwrap();
        let err = d
            .execute(&mut link, &set("max_charging_current", "65"))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{err}");
        let err = d
            .execute(&mut link, &set("output_source_priority", "utility_first"))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{err}");
        assert!(
            !link.sent.iter().any(|f| f.starts_with(b"^S")),
            "{:?}",
            link.sent_text()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn accepted_setting_that_does_not_read_back_is_an_error() {
        // The unit accepts POP0 but its PIRI (V12) still says SBU first (1).
        let mut link = ScriptedLink::new(lv5048);
        let mut d = driver(vec![Query::Gs]);
        let err = d
            .execute(&mut link, &set("output_source_priority", "solar_first"))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::NotVerified { .. }), "{err}");
        // The exact frame of vector V34 went out.
        assert_eq!(link.sent[0], pi18_vector("V34").0);
    }

    #[tokio::test(start_paused = true)]
    async fn setters_verified_by_piri_read_back() {
        // A unit that applies what it accepts: PIRI reflects the last accepted setter.
        let cases = [
            ("output_source_priority", "solar_first", "V34", 17, "0"),
            (
                "charger_source_priority",
                "solar_and_utility",
                "V36",
                18,
                "1",
            ),
            ("max_charging_current", "60", "V37", 15, "060"),
            ("max_utility_charging_current", "30", "V38", 14, "030"),
        ];
        for (name, value, vector, index, field) in cases {
            let expected_request = pi18_vector(vector).0;
            let applied = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = applied.clone();
            let field = field.to_owned();
            let mut link = ScriptedLink::new(move |req: &[u8]| {
                if req.starts_with(b"^S") {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    return Some(ACCEPT.to_vec());
                }
                if req == Query::Piri.request().as_slice()
                    && flag.load(std::sync::atomic::Ordering::SeqCst)
                {
                    return Some(piri_with(index, &field));
                }
                lv5048(req)
            });
            let mut d = driver(vec![Query::Gs]);
            d.identify(&mut link).await.unwrap();
            let outcome = d.execute(&mut link, &set(name, value)).await.unwrap();
            assert!(outcome.verified, "{name}: {outcome:?}");
            assert!(outcome.detail.contains("verified by PIRI"), "{outcome:?}");
            assert!(applied.load(std::sync::atomic::Ordering::SeqCst));
            let setters: Vec<&Vec<u8>> =
                link.sent.iter().filter(|f| f.starts_with(b"^S")).collect();
            assert_eq!(setters, [&expected_request], "{name}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_setter_is_reported() {
        // V38: MUCHGC0,030 refused with ^0.
        let mut link = ScriptedLink::new(|req: &[u8]| {
            if req.starts_with(b"^S") {
                Some(REFUSE.to_vec())
            } else {
                lv5048(req)
            }
        });
        let mut d = driver(vec![Query::Gs]);
        let err = d
            .execute(&mut link, &set("max_utility_charging_current", "30"))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Refused { .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_query_is_skipped_and_the_rest_is_published() {
        // V30: some units refuse GS with ^0; FLAG is not in this unit's script at all.
        let mut link = ScriptedLink::new(lv5048);
        let mut d = driver(vec![Query::Flag, Query::Mod]);
        let snap = d.poll(&mut link).await.unwrap();
        let names: Vec<&str> = snap.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["MOD"]);
        let snap = d.poll(&mut link).await.unwrap();
        let names: Vec<&str> = snap.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["MOD", STATUS_SECTION]);
        assert_eq!(d.unsupported_queries(), [Query::Flag]);
        d.identify(&mut link).await.unwrap();
        assert!(d.unsupported_queries().is_empty());

        let mut silent_gs = ScriptedLink::new(|_: &[u8]| Some(pi18_vector("V30").1));
        let err = driver(vec![Query::Gs])
            .poll(&mut silent_gs)
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Refused { .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn fws_falls_back_to_the_computed_length() {
        // A unit that answers only ^P006FWS (V17's reply).
        let fws = pi18_vector("V17").1;
        let mut link = ScriptedLink::new(move |req: &[u8]| {
            if req == Query::Fws.request_computed().as_slice() {
                Some(fws.clone())
            } else {
                Some(REFUSE.to_vec())
            }
        });
        let mut d = driver(vec![Query::Fws]);
        d.poll(&mut link).await.unwrap();
        d.poll(&mut link).await.unwrap();
        // Literal header once, then the computed one for good.
        let sent = link.sent_text();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(sent[0].starts_with("^P005FWS"));
        assert!(sent[1].starts_with("^P006FWS") && sent[2].starts_with("^P006FWS"));
    }

    #[tokio::test(start_paused = true)]
    async fn garbage_and_silence_are_communication_failures() {
        let mut link = ScriptedLink::new(|_: &[u8]| Some(b"^D005xx\x00\x00\r".to_vec()));
        let err = driver(vec![Query::Gs]).poll(&mut link).await.unwrap_err();
        assert!(matches!(err, DriverError::BadReply { .. }), "{err}");
        assert!(err.is_communication_failure());
        let mut link = ScriptedLink::new(|_: &[u8]| None);
        let err = driver(vec![Query::Gs]).poll(&mut link).await.unwrap_err();
        assert!(matches!(err, DriverError::Link(_)), "{err}");
    }
}
