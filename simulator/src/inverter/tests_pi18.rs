//! Protocol personalities: the PI18 model decoded with `sungate_drivers::pi18` (values equal the
//! model's state, setters read back through PIRI) and the probe answers of every personality
//! (`../shared/reference/pi18/README.md` §4.2).

use std::time::Duration;

use sungate_drivers::Reading;
use sungate_drivers::pi18::codec::{DecodeOptions, Reply, decode_reply};
use sungate_drivers::pi18::{Query, decode_frame, parse_command};

use super::*;

fn unit(protocol: Protocol, variant: Variant) -> InverterModel {
    let mut m = InverterModel::new(
        InverterConfig {
            protocol,
            variant,
            start_time_of_day_h: 12.0,
            start_soc_percent: 60.0,
            ..InverterConfig::default()
        },
        7,
    );
    m.advance(Duration::from_secs(30));
    m
}

fn send(m: &mut InverterModel, frame: &[u8]) -> Vec<u8> {
    match m.handle_request(frame) {
        Response::Reply(r) => r,
        Response::Silence => panic!("no reply to {:?}", String::from_utf8_lossy(frame)),
    }
}

fn read(m: &mut InverterModel, q: Query) -> Reading {
    let frame = send(m, &q.request());
    decode_frame(q.command(), &frame, DecodeOptions::default()).unwrap_or_else(|e| {
        panic!("{q}: {e}: {:?}", String::from_utf8_lossy(&frame));
    })
}

fn f(r: &Reading, name: &str) -> f64 {
    r.value(name)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("{name} missing or not a number in {r:?}"))
}

fn raw(r: &Reading, name: &str) -> String {
    r.get(name)
        .and_then(|f| f.raw.clone())
        .unwrap_or_else(|| panic!("{name} has no raw token in {r:?}"))
}

fn tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[test]
fn every_pi18_reply_decodes_with_the_driver_codec() {
    for variant in [Variant::Pi30, Variant::Max] {
        let mut m = unit(Protocol::Pi18, variant);
        for &q in Query::ALL {
            read(&mut m, q);
        }
        // FWS with the computed length (`^P006FWS`) is answered too.
        let frame = send(&mut m, &Query::Fws.request_computed());
        decode_frame("FWS", &frame, DecodeOptions::default()).unwrap();
    }
}

#[test]
fn pi18_replies_carry_the_model_state() {
    let mut m = unit(Protocol::Pi18, Variant::Max);
    let gs = read(&mut m, Query::Gs);
    let ctx = m.ctx();
    let u = m.units()[0].clone();
    let p = &m.phys;
    assert_eq!(f(&gs, "battery_voltage"), tenth(ctx.shown_battery_v()));
    assert_eq!(f(&gs, "battery_capacity"), (p.soc * 100.0).round());
    assert_eq!(f(&gs, "ac_input_voltage"), tenth(p.grid_v));
    assert_eq!(f(&gs, "ac_input_frequency"), tenth(p.grid_hz));
    assert_eq!(f(&gs, "ac_output_voltage"), tenth(p.output_v));
    assert_eq!(f(&gs, "ac_output_frequency"), tenth(p.output_hz));
    let (w, va) = ctx.unit_power(0);
    assert_eq!(f(&gs, "ac_output_active_power"), w as f64);
    assert_eq!(f(&gs, "ac_output_apparent_power"), va as f64);
    assert_eq!(f(&gs, "pv1_input_power"), u.pv1_w.round());
    assert_eq!(f(&gs, "pv2_input_power"), u.pv2_w.round());
    assert!(
        u.pv1_w > 100.0 && u.pv2_w > 100.0,
        "noon on a MAX: two strings"
    );
    assert_eq!(f(&gs, "pv1_input_voltage"), tenth(u.pv1_v));
    assert_eq!(f(&gs, "pv2_input_voltage"), tenth(u.pv2_v));
    assert_eq!(
        f(&gs, "battery_charging_current"),
        ctx.unit_charge_a(0) as f64
    );
    assert_eq!(
        f(&gs, "battery_discharge_current"),
        u.discharge_a.round().max(0.0)
    );
    assert_eq!(
        f(&gs, "inverter_heat_sink_temperature"),
        u.heat_sink_c.round()
    );
    assert_eq!(gs.value("is_load_on").and_then(|v| v.as_bool()), Some(true));

    let md = read(&mut m, Query::Mod);
    assert_eq!(raw(&md, "device_mode"), pi18::mode_code(m.mode()));

    let s = m.settings().clone();
    let u0 = s.unit0();
    let piri = read(&mut m, Query::Piri);
    assert_eq!(f(&piri, "ac_output_voltage"), m.config().rated_output_v);
    assert_eq!(f(&piri, "battery_voltage"), 48.0);
    assert_eq!(
        f(&piri, "battery_bulk_charge_voltage"),
        Settings::volts(s.bulk_dv)
    );
    assert_eq!(
        f(&piri, "battery_float_charge_voltage"),
        Settings::volts(s.float_dv)
    );
    assert_eq!(
        f(&piri, "battery_under_voltage"),
        Settings::volts(s.under_dv)
    );
    assert_eq!(
        f(&piri, "battery_recharge_voltage"),
        Settings::volts(s.recharge_dv)
    );
    assert_eq!(f(&piri, "max_charging_current"), f64::from(u0.max_charge_a));
    assert_eq!(
        f(&piri, "max_ac_charging_current"),
        f64::from(u0.max_ac_charge_a)
    );
    assert_eq!(f(&piri, "ac_output_apparent_power"), 5000.0);
    // Factory defaults of a PI18 unit: solar first (POP0), solar + utility (PCP 1).
    assert_eq!(raw(&piri, "output_source_priority"), "0");
    assert_eq!(raw(&piri, "charger_source_priority"), "1");
    assert_eq!(f(&piri, "mppt_strings"), 2.0);

    let id = read(&mut m, Query::Id);
    assert_eq!(
        id.value("serial_number").and_then(|v| v.as_str()),
        Some(m.config().serial.as_str())
    );
    let pi = read(&mut m, Query::Pi);
    assert_eq!(
        pi.value("protocol_id").and_then(|v| v.as_str()),
        Some("PI18")
    );
    let vfw = read(&mut m, Query::Vfw);
    assert_eq!(
        vfw.value("main_cpu_firmware_version")
            .and_then(|v| v.as_str()),
        Some("00072")
    );
    let mchgcr = read(&mut m, Query::Mchgcr);
    assert_eq!(
        raw(&mchgcr, "max_charging_current_options"),
        "010,020,030,040,050,060,070,080,090,100,110,120"
    );
    let muchgcr = read(&mut m, Query::Muchgcr);
    assert_eq!(
        raw(&muchgcr, "max_utility_charging_current_options"),
        "002,010,020,030,040,050,060"
    );
}

#[test]
fn pi18_flags_and_warnings_follow_the_model() {
    let mut m = unit(Protocol::Pi18, Variant::Pi30);
    let flag = read(&mut m, Query::Flag);
    assert_eq!(
        flag.value("buzzer").and_then(|v| v.as_str()),
        Some("enabled")
    );
    assert_eq!(
        flag.value("overload_bypass").and_then(|v| v.as_str()),
        Some("disabled")
    );
    let fws = read(&mut m, Query::Fws);
    assert_eq!(
        fws.value("line_fail_warning").and_then(|v| v.as_bool()),
        Some(false)
    );
    m.set_env("grid_available", &serde_json::json!(false))
        .unwrap();
    m.advance(Duration::from_secs(5));
    let fws = read(&mut m, Query::Fws);
    assert_eq!(
        fws.value("line_fail_warning").and_then(|v| v.as_bool()),
        Some(true)
    );
    let md = read(&mut m, Query::Mod);
    assert_eq!(raw(&md, "device_mode"), "03", "battery mode without grid");
}

#[test]
fn pi18_setters_change_the_pi30_settings_and_read_back_through_piri() {
    let mut m = unit(Protocol::Pi18, Variant::Pi30);
    let setters = [
        parse_command("POP1").unwrap(),
        parse_command("POP0").unwrap(),
        parse_command("PCP0,0").unwrap(),
        parse_command("PCP0,2").unwrap(),
        parse_command("PCP0,1").unwrap(),
        parse_command("MCHGC0,080").unwrap(),
        parse_command("MUCHGC0,002").unwrap(),
        parse_command("MUCHGC0,040").unwrap(),
    ];
    for setter in setters {
        let reply = send(&mut m, &setter.request());
        assert_eq!(
            decode_reply(&reply, DecodeOptions::default()).unwrap(),
            Reply::Accepted,
            "{}",
            setter.command()
        );
        let rb = setter.readback().unwrap();
        let piri = read(&mut m, rb.query);
        assert!(rb.matches(&piri), "{}: {piri:?}", setter.command());
    }
    // The same settings PI30's setters change: POP1 = SBU (PI30 2), PCP0,1 = solar + utility (2).
    send(&mut m, &parse_command("POP1").unwrap().request());
    let s = m.settings();
    assert_eq!(s.output_priority, 2);
    assert_eq!(s.unit0().charger_priority, 2);
    assert_eq!(s.unit0().max_charge_a, 80);
    assert_eq!(s.unit0().max_ac_charge_a, 40);
}

#[test]
fn pi18_refuses_bad_setters_and_changes_nothing() {
    let mut m = unit(Protocol::Pi18, Variant::Pi30);
    let before = m.settings().clone();
    for cmd in [
        "POP2",
        "POP01",
        "PCP0,3",
        "PCP1,0",
        "PCP00",
        "MCHGC0,065",
        "MCHGC0,60",
        "MUCHGC0,070",
        "MUCHGC1,030",
        "PSP1",
        "PF",
    ] {
        let frame = sungate_drivers::pi18::encode_set(cmd).unwrap();
        let reply = send(&mut m, &frame);
        assert_eq!(
            decode_reply(&reply, DecodeOptions::default()).unwrap(),
            Reply::Refused,
            "{cmd}"
        );
    }
    assert_eq!(m.settings(), &before);
}

#[test]
fn pi18_settings_changed_flag_holds_until_piri() {
    let mut m = unit(Protocol::Pi18, Variant::Pi30);
    let changed = |m: &mut InverterModel| {
        read(m, Query::Gs)
            .value("is_configuration_changed")
            .and_then(|v| v.as_bool())
    };
    assert_eq!(changed(&mut m), Some(false));
    send(&mut m, &parse_command("POP1").unwrap().request());
    assert_eq!(changed(&mut m), Some(true));
    assert_eq!(changed(&mut m), Some(true));
    read(&mut m, Query::Piri);
    assert_eq!(changed(&mut m), Some(false));
}

#[test]
fn pi18_refuses_pi30_words_and_unknown_queries() {
    let mut m = unit(Protocol::Pi18, Variant::Pi30);
    for cmd in ["QPIGS", "QPIRI", "QMOD", "Q1", "POP02"] {
        let frame = sungate_drivers::pi30::codec::encode_command(
            cmd,
            sungate_drivers::pi30::codec::EncodeOptions::default(),
        );
        assert_eq!(send(&mut m, &frame), pi18::refuse(), "{cmd}");
    }
    for cmd in ["DI", "T", "ET", "PRI0", "XYZ"] {
        let frame = sungate_drivers::pi18::encode_query(cmd).unwrap();
        assert_eq!(send(&mut m, &frame), pi18::refuse(), "{cmd}");
    }
}

// ---- probes (README §4.2) ---------------------------------------------------------------

const QPI_CRC: &[u8] = b"\x51\x50\x49\xbe\xac\x0d";
const PI18_PROBE: &[u8] = b"\x5e\x50\x30\x30\x35\x50\x49\x71\x8b\x0d";
const PI17_PROBE: &[u8] = b"^P003PI\r";
const QPI_BARE: &[u8] = b"QPI\r";

const PI30_REPLY: &[u8] = b"(PI30\x9a\x0b\r";
const PI16_REPLY: &[u8] = b"(PI16\x9c\xaf\r";
const PI18_REPLY: &[u8] = b"^D00518\x3b\x03\r";
const PI17_REPLY: &[u8] = b"^D00517\xca\xec\r";
const REFUSE: &[u8] = b"^0\x1b\xe3\r";

fn nak() -> Vec<u8> {
    wire::frame(b"(NAK", false)
}

#[test]
fn each_personality_answers_the_probes_as_the_reference_says() {
    let nak = nak();
    let table: [(Protocol, [&[u8]; 4]); 5] = [
        (Protocol::Pi30, [PI30_REPLY, &nak, &nak, &nak]),
        (Protocol::Pi30Max, [PI30_REPLY, &nak, &nak, &nak]),
        (Protocol::Pi18, [REFUSE, PI18_REPLY, REFUSE, REFUSE]),
        (Protocol::Pi17, [REFUSE, REFUSE, PI17_REPLY, REFUSE]),
        (Protocol::Pi16, [PI16_REPLY, &nak, &nak, PI16_REPLY]),
    ];
    for (protocol, expected) in table {
        let mut m = unit(protocol, Variant::Pi30);
        for (probe, want) in [QPI_CRC, PI18_PROBE, PI17_PROBE, QPI_BARE]
            .iter()
            .zip(expected)
        {
            assert_eq!(
                send(&mut m, probe),
                want,
                "{protocol:?} answering {:?}",
                String::from_utf8_lossy(probe)
            );
        }
        assert_eq!(m.snapshot()["protocol"], protocol.name());
    }
}

#[test]
fn identification_only_personalities_refuse_the_rest() {
    let mut pi17 = unit(Protocol::Pi17, Variant::Pi30);
    let mut pi16 = unit(Protocol::Pi16, Variant::Pi30);
    for q in [Query::Gs, Query::Piri, Query::Id] {
        assert_eq!(send(&mut pi17, &q.request()), REFUSE);
        assert_eq!(send(&mut pi16, &q.request()), nak());
    }
    for frame in [&b"^P003GS\r"[..], b"^P005PIRI\r", b"QPIGS\r", b"QID\r"] {
        assert_eq!(send(&mut pi17, frame), REFUSE);
    }
    for frame in [&b"QPIGS\r"[..], b"QID\r", b"QPIRI\r"] {
        assert_eq!(send(&mut pi16, frame), nak());
    }
    // The PI17 reply decodes as a `^D` frame saying 17.
    let reply = send(&mut pi17, PI17_PROBE);
    assert_eq!(
        decode_reply(&reply, DecodeOptions::default()).unwrap(),
        Reply::Data("17".into())
    );
}

#[test]
fn protocol_faults_still_apply_to_every_personality() {
    let mut m = unit(Protocol::Pi18, Variant::Pi30);
    m.set_fault(ProtocolFault::Silence, true);
    assert_eq!(m.handle_request(PI18_PROBE), Response::Silence);
    m.reset();
    assert_eq!(send(&mut m, PI18_PROBE), PI18_REPLY);
    // The PI30 unit's "pi18" fault: `^0` to everything.
    let mut pi30 = unit(Protocol::Pi30, Variant::Pi30);
    pi30.set_fault(ProtocolFault::Pi18, true);
    assert_eq!(send(&mut pi30, QPI_CRC), REFUSE);
}
