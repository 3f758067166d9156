//! Tests of [`super`]: golden cases from the issue, the rules one by one, exhaustive and random
//! byte loss on the real blocks of vectors.md (T1..T10), and the measured residual.

use super::*;
use crate::vedirect::text::tests::{T1, T2, T3, T4, T5, T6, T7, T8, T9, T10};
use crate::vedirect::text::{TextEvent, TextParser};
use proptest::prelude::*;

/// T9 without the HEX frame that follows its checksum byte.
fn t9() -> &'static [u8] {
    &T9[..T9.len() - b":7D0ED00000091\n".len()]
}

/// T10 is two blocks back to back: the main block (up to and including its checksum `~`).
fn t10_main() -> &'static [u8] {
    let end = T10
        .iter()
        .position(|&b| b == b'~')
        .map_or(T10.len(), |i| i + 1);
    &T10[..end]
}

fn t10_history() -> &'static [u8] {
    &T10[t10_main().len()..]
}

/// Every real block of vectors.md, one per entry.
fn real_blocks() -> Vec<&'static [u8]> {
    vec![
        T1,
        T2,
        T3,
        T4,
        T5,
        T6,
        T7,
        T8,
        t9(),
        t10_main(),
        t10_history(),
    ]
}

/// A block with a correct checksum from its records.
fn build(fields: &[(&str, &str)]) -> Vec<u8> {
    crate::vedirect::text::encode_block(fields)
}

/// The records of a (valid) block, for editing.
fn records(block: &[u8]) -> Vec<(String, String)> {
    one(block).fields
}

fn rebuild(fields: &[(String, String)]) -> Vec<u8> {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(l, v)| (l.as_str(), v.as_str()))
        .collect();
    build(&pairs)
}

/// `block` with the record `label` given a new value (or removed with `None`).
fn with(block: &[u8], label: &str, value: Option<&str>) -> Vec<u8> {
    let mut f = records(block);
    match value {
        Some(v) => {
            for (l, old) in f.iter_mut() {
                if l == label {
                    *old = v.to_owned();
                }
            }
        }
        None => f.retain(|(l, _)| l != label),
    }
    rebuild(&f)
}

fn committed(stream: &[u8]) -> Vec<TextBlock> {
    let mut p = TextParser::new();
    let mut out = Vec::new();
    p.feed(stream, |e| {
        if let TextEvent::Block(b) = e {
            out.push(b);
        }
    });
    out
}

fn one(stream: &[u8]) -> TextBlock {
    let mut b = committed(stream);
    assert_eq!(b.len(), 1, "{:?}", String::from_utf8_lossy(stream));
    b.remove(0)
}

/// A validator that has accepted these blocks, in order (a device that has been running).
fn primed(blocks: &[&[u8]]) -> TextValidator {
    let mut v = TextValidator::new();
    for b in blocks {
        v.validate(&one(b))
            .unwrap_or_else(|e| panic!("priming: {e}"));
    }
    v
}

/// A validator that has seen the device of `block` (a history block needs its main block first:
/// the family comes from the PID).
fn primed_device(block: &[u8]) -> TextValidator {
    if block == T4 {
        primed(&[T3, T4])
    } else if block == t10_history() {
        primed(&[t10_main(), block])
    } else {
        primed(&[block])
    }
}

/// Remove the bytes at `positions` (any order, distinct).
fn drop_bytes(block: &[u8], positions: &[usize]) -> Vec<u8> {
    block
        .iter()
        .enumerate()
        .filter(|(i, _)| !positions.contains(i))
        .map(|(_, b)| *b)
        .collect()
}

/// Position of byte `offset` of the first occurrence of `needle`.
fn at(block: &[u8], needle: &str, offset: usize) -> usize {
    let i = block
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in block"));
    i + offset
}

#[test]
fn real_blocks_pass_fresh_and_repeated() {
    // Each device as the gateway sees it: a fresh validator, the same block kinds over and over.
    for group in [
        &[T1, T2][..],
        &[T3, T4, T5, T4][..],
        &[T6, T7][..],
        &[T8][..],
        &[t9()][..],
        &[t10_main(), t10_history()][..],
    ] {
        let mut v = TextValidator::new();
        for _ in 0..3 {
            for b in group {
                let block = one(b);
                assert_eq!(v.validate(&block), Ok(()), "{block:?}");
            }
        }
        assert_eq!(v.stats().rejected, 0);
        assert!(v.family().is_some());
    }
    assert_eq!(primed(&[T1]).family(), Some(Family::SolarCharger));
    assert_eq!(primed(&[T3]).family(), Some(Family::BatteryMonitor));
}

#[test]
fn issue_block_bm_712_smar_is_rejected_though_its_checksum_matches() {
    // Issue 11 finding 5: `BMV\t712 Smart` lost its `V` and `t`; with the `6` of `SOC\t916`
    // the three lost bytes add up to 86 + 116 + 54 = 256, so the 8-bit sum still matches.
    let main = t10_main();
    let bad = drop_bytes(
        main,
        &[
            at(main, "BMV\t", 2),
            at(main, "Smart", 4),
            at(main, "SOC\t916", 6),
        ],
    );
    // The checksum-only path commits it and would publish `bm` = "712 Smar", SOC 9.1 %.
    let block = one(&bad);
    assert_eq!(block.get("BM"), Some("712 Smar"));
    assert_eq!(block.get("SOC"), Some("91"));
    // A running device: the label set changed.
    let mut v = primed(&[main, t10_history()]);
    assert_eq!(
        v.validate(&block),
        Err(Rejection::LabelsChanged {
            kind: "PID".into(),
            added: vec!["BM".into()],
            missing: vec!["BMV".into()],
        })
    );
    assert_eq!(v.stats().rejected, 1);
    // The next good block is accepted again; the damage was not learned.
    assert_eq!(v.validate(&one(main)), Ok(()));
    // Right after a reconnect (nothing to compare with): `BM` is no label of a BMV.
    let mut fresh = TextValidator::new();
    assert_eq!(
        fresh.validate(&block),
        Err(Rejection::UnknownLabel {
            label: "BM".into(),
            family: "battery monitor",
        })
    );
}

#[test]
fn lost_digit_of_consumed_ah_with_compensating_losses_is_rejected() {
    // `CE\t-30280` → `CE\t-3028` (−3.028 Ah between neighbours of −30.28): the lost '0' (48)
    // is compensated by the `y` of `Relay` and the `W` of `FW` (121 + 87 = 208).
    let main = with(t10_main(), "CE", Some("-30280"));
    let bad = drop_bytes(
        &main,
        &[
            at(&main, "CE\t-30280", 8),
            at(&main, "Relay", 4),
            at(&main, "FW\t", 1),
        ],
    );
    let block = one(&bad);
    assert_eq!(block.get("CE"), Some("-3028"));
    let mut v = primed(&[&main]);
    let err = v.validate(&block).unwrap_err();
    assert_eq!(err.code(), "labels_changed", "{err}");
}

#[test]
fn battery_voltage_of_minus_99999999999_is_rejected() {
    let bad = with(T1, "V", Some("-99999999999"));
    let block = one(&bad);
    for mut v in [TextValidator::new(), primed(&[T1])] {
        let err = v.validate(&block).unwrap_err();
        let Rejection::Implausible(i) = &err else {
            panic!("{err}")
        };
        assert_eq!(i.field, "battery_voltage");
        assert_eq!(i.value, -99_999_999.999);
        assert!(!err.is_learnable());
        // never learned: the same block again is rejected again
        assert_eq!(v.validate(&block), Err(err));
    }
}

#[test]
fn changed_label_set_is_rejected_once_then_accepted() {
    // A BMV-712 whose aux input is switched from starter to temperature: VS goes, T comes.
    let main = t10_main();
    let mut f = records(main);
    let vs = f.iter().position(|(l, _)| l == "VS").unwrap();
    f[vs] = ("T".into(), "25".into());
    let temp = rebuild(&f);
    let mut v = primed(&[main, t10_history()]);
    assert_eq!(
        v.validate(&one(&temp)),
        Err(Rejection::LabelsChanged {
            kind: "PID".into(),
            added: vec!["T".into()],
            missing: vec!["VS".into()],
        })
    );
    // the history block is another kind and not affected
    assert_eq!(v.validate(&one(t10_history())), Ok(()));
    assert_eq!(v.validate(&one(&temp)), Ok(()));
    assert_eq!(v.validate(&one(&with(&temp, "T", Some("---")))), Ok(()));
    // now the old shape is the change
    assert!(v.validate(&one(main)).is_err());
    assert_eq!(v.validate(&one(main)), Ok(()));
    assert_eq!(v.stats().rejected, 2);
}

#[test]
fn change_must_repeat_in_consecutive_blocks() {
    let main = t10_main();
    let changed = with(main, "VS", None);
    let mut v = primed(&[main]);
    assert!(v.validate(&one(&changed)).is_err());
    // a good block in between: the pending change is forgotten
    assert_eq!(v.validate(&one(main)), Ok(()));
    assert!(v.validate(&one(&changed)).is_err());
}

#[test]
fn unknown_new_label_is_learned_after_two_consecutive_blocks() {
    // New firmware sends a label the spec's table does not list, before HSDS.
    let mut f = records(T1);
    f.insert(f.len() - 1, ("XNEW".into(), "17".into()));
    let new = rebuild(&f);
    let mut fresh = TextValidator::new();
    assert_eq!(
        fresh.validate(&one(&new)),
        Err(Rejection::UnknownLabel {
            label: "XNEW".into(),
            family: "solar charger",
        })
    );
    assert_eq!(fresh.validate(&one(&new)), Ok(()));
    assert_eq!(
        fresh.validate(&one(&with(&new, "XNEW", Some("18")))),
        Ok(())
    );
    // on a running device it is a label-set change, learned the same way
    let mut running = primed(&[T1]);
    assert!(matches!(
        running.validate(&one(&new)),
        Err(Rejection::LabelsChanged { ref added, .. }) if added == &["XNEW".to_owned()]
    ));
    assert_eq!(running.validate(&one(&new)), Ok(()));
}

#[test]
fn pinned_values_must_not_change_between_blocks() {
    let main = t10_main();
    let mut v = primed(&[main]);
    for (label, value) in [
        ("FW", "0404"),
        ("BMV", "712 Smar"),
        ("PID", "0xA38"),
        ("PID", "0xA383"),
    ] {
        let changed = one(&with(main, label, Some(value)));
        assert_eq!(
            v.validate(&changed),
            Err(Rejection::PinnedChanged {
                label: label.into(),
                was: one(main).get(label).unwrap().into(),
                now: value.into(),
            })
        );
        assert_eq!(v.validate(&one(main)), Ok(()));
    }
    // a firmware update: the new version from its second block on
    let updated = one(&with(main, "FW", Some("0404")));
    assert!(v.validate(&updated).is_err());
    assert_eq!(v.validate(&updated), Ok(()));
    // OR keeps its digit count
    let mut m = primed(&[T8]);
    let short = one(&with(T8, "OR", Some("0x0000001")));
    assert_eq!(
        m.validate(&short),
        Err(Rejection::PinnedChanged {
            label: "OR".into(),
            was: "8 hex digits".into(),
            now: "7 hex digits".into(),
        })
    );
    assert_eq!(
        m.validate(&one(&with(T8, "OR", Some("0x00000000")))),
        Ok(())
    );
}

#[test]
fn first_block_of_a_kind_needs_the_spec_formats() {
    for (label, value) in [
        ("SER#", "HQ1411MYIK"),
        ("SER#", "HQ14X1MYIKN"),
        ("FW", "12"),
        ("OR", "0x1"),
    ] {
        let block = one(&with(T8, label, Some(value)));
        let mut v = TextValidator::new();
        let err = v.validate(&block).unwrap_err();
        assert_eq!(err.code(), "spec_format", "{label}={value}: {err}");
        assert!(err.is_learnable());
        // a device that really sends this is accepted from the second block on
        assert_eq!(v.validate(&block), Ok(()), "{label}={value}");
    }
    for fw in ["C208", "0308", "156"] {
        assert_eq!(
            TextValidator::new().validate(&one(&with(T8, "FW", Some(fw)))),
            Ok(()),
            "{fw}"
        );
    }
}

#[test]
fn unknown_product_is_learned_not_judged_by_a_table() {
    let block = one(&with(T1, "PID", Some("0xA0FE")));
    let mut v = TextValidator::new();
    assert_eq!(v.validate(&block), Err(Rejection::UnknownFamily));
    assert_eq!(v.validate(&block), Ok(()));
    assert_eq!(v.family(), None);
    // A history block before any PID block (stream joined mid-record): H1..H18 are labels of
    // battery monitors only, so that is its family.
    let mut v = TextValidator::new();
    assert_eq!(v.validate(&one(T4)), Ok(()));
    assert_eq!(v.family(), None);
    assert_eq!(v.validate(&one(T3)), Ok(()));
    assert_eq!(v.validate(&one(T4)), Ok(()));
    assert_eq!(v.family(), Some(Family::BatteryMonitor));
    // The second half of a split SmartSolar record likewise (LOAD, IL, H19.. are MPPT labels).
    let t8 = records(T8);
    let at = t8.iter().position(|(l, _)| l == "ERR").unwrap();
    let mut v = TextValidator::new();
    assert_eq!(v.validate(&one(&rebuild(&t8[at..]))), Ok(()));
    assert_eq!(v.validate(&one(&rebuild(&t8[..at]))), Ok(()));
    assert_eq!(v.validate(&one(&rebuild(&t8[at..]))), Ok(()));
    // Labels several families send (V, I, Relay) name none: learned on repeat.
    let shared = one(&build(&[("V", "12800"), ("I", "100"), ("Relay", "OFF")]));
    let mut v = TextValidator::new();
    assert_eq!(v.validate(&shared), Err(Rejection::UnknownFamily));
    assert_eq!(v.validate(&shared), Ok(()));
    assert_eq!(Family::infer(["V", "I"].into_iter()), None);
    assert_eq!(
        Family::infer(["VPV"].into_iter()),
        Some(Family::SolarCharger)
    );
}

#[test]
fn battery_monitor_power_must_match_voltage_times_current() {
    let mut v = primed(&[T3]);
    // P lost a digit: −9 W for 12.065 V × −7.626 A = −92.0 W
    let err = v.validate(&one(&with(T3, "P", Some("-9")))).unwrap_err();
    assert!(
        matches!(err, Rejection::PowerMismatch { p, vi } if p == -9.0 && (vi + 92.008).abs() < 0.01),
        "{err}"
    );
    // I lost a digit, and its sign
    for i in ["-762", "7626"] {
        let err = v.validate(&one(&with(T3, "I", Some(i)))).unwrap_err();
        assert_eq!(err.code(), "power_mismatch", "{i}");
    }
    // V lost a digit: 1.265 V
    let err = v.validate(&one(&with(T3, "V", Some("1265")))).unwrap_err();
    assert_eq!(err.code(), "power_mismatch");
    // rounding (T5: 12.164 V × −2.674 A = −32.5 W sent as −33) and small currents pass
    for (i, p) in [
        ("-2674", "-33"),
        ("-2640", "-32"),
        ("0", "0"),
        ("-150", "-1"),
    ] {
        let block = with(T3, "I", Some(i));
        assert_eq!(
            v.validate(&one(&with(&block, "P", Some(p)))),
            Ok(()),
            "{i} {p}"
        );
    }
    // not a battery monitor: no such rule (an MPPT has no P)
    assert_eq!(primed(&[T1]).validate(&one(T1)), Ok(()));
}

#[test]
fn history_fields_keep_their_defined_order() {
    let mut v = primed(&[T3, T4]);
    // H8 (max voltage) lost digits: below the minimum H7
    for (label, value, low, high) in [
        ("H8", "161", "H7", "H8"),
        ("H2", "-1493220", "H1", "H2"),
        ("H1", "-1493", "H1", "H2"),
    ] {
        let err = v.validate(&one(&with(T4, label, Some(value)))).unwrap_err();
        assert!(
            matches!(&err, Rejection::OutOfOrder { low: l, high: h, .. } if l == low && h == high),
            "{label}={value}: {err}"
        );
    }
    // equal is in order (T10: deepest = last discharge), and so is what T10 sends for H15/H16
    assert_eq!(primed(&[t10_main()]).validate(&one(t10_history())), Ok(()));
    let swapped = with(
        &with(t10_history(), "H15", Some("21033")),
        "H16",
        Some("20"),
    );
    let err = primed(&[t10_main(), t10_history()])
        .validate(&one(&swapped))
        .unwrap_err();
    assert_eq!(err.code(), "out_of_order");
}

#[test]
fn values_must_have_their_labels_syntax() {
    for (block, label, value) in [
        (T1, "V", "12.53"),
        (T1, "V", "+12530"),
        (T1, "V", ""),
        (T1, "V", "1 2530"),
        (T1, "LOAD", "O"),
        (T1, "LOAD", "OF"),
        (T1, "CS", "-3"),
        (T1, "CS", "256"),
        (T1, "CS", "3a"),
        (T1, "PID", "A042"),
        (T1, "PID", "0xA0425"),
        (T1, "PID", "0x"),
        (T1, "FW", "1"),
        (T1, "FW", "1 23"),
        (T1, "SER#", ""),
        (T1, "SER#", "HQ14 1MYIKN"),
        (T1, "HSDS", "---x"),
        (T8, "OR", "00000001"),
        (T8, "OR", "0x000000001"),
        (T8, "OR", "0x0000000G"),
        (T3, "AR", "-1"),
        (T3, "AR", "0x"),
        (T3, "Alarm", "OF"),
        (T3, "BMV", ""),
    ] {
        let mut v = primed(&[block]);
        let bad = one(&with(block, label, Some(value)));
        let err = v.validate(&bad).unwrap_err();
        assert!(
            matches!(&err, Rejection::BadValue { label: l, value: got, .. } if l == label && got == value),
            "{label}={value:?}: {err}"
        );
        assert!(!err.is_learnable());
    }
    // what the decoder accepts and the spec allows
    for (label, value) in [
        ("Alarm", "On"),
        ("Relay", "off"),
        ("AR", "0x0005"),
        ("CE", "---"),
    ] {
        assert_eq!(
            primed(&[T3]).validate(&one(&with(T3, label, Some(value)))),
            Ok(()),
            "{label}={value}"
        );
    }
}

#[test]
fn malformed_and_duplicate_labels_are_rejected() {
    let mut f = records(T1);
    f[3].0 = "V$".into();
    let mut v = primed(&[T1]);
    assert_eq!(
        v.validate(&one(&rebuild(&f))),
        Err(Rejection::MalformedLabel { label: "V$".into() })
    );
    let mut f = records(T4);
    // "H10" lost its '0': a second H1
    f[9].0 = "H1".into();
    assert_eq!(
        TextValidator::new().validate(&one(&rebuild(&f))),
        Err(Rejection::DuplicateLabel { label: "H1".into() })
    );
    assert_eq!(
        TextValidator::new().validate(&TextBlock::default()),
        Err(Rejection::Empty)
    );
}

#[test]
fn damaged_first_label_makes_no_trusted_new_kind() {
    // "H1" → "H": a block kind never seen, whose first label is no BMV label.
    let mut f = records(T4);
    f[0].0 = "H".into();
    let bad = one(&rebuild(&f));
    let mut v = primed(&[T3, T4]);
    assert!(matches!(
        v.validate(&bad),
        Err(Rejection::UnknownLabel { ref label, .. }) if label == "H"
    ));
    // many damaged kinds cannot make the memory grow or push out the real kinds
    for i in 0..50 {
        let mut f = records(T4);
        f[0].0 = format!("Z{i}");
        assert!(v.validate(&one(&rebuild(&f))).is_err());
    }
    assert!(v.kinds.len() <= MAX_KINDS);
    assert!(v.validate(&one(&with(T3, "BMV", Some("702")))).is_err());
    assert_eq!(v.validate(&one(T3)), Ok(()));
    assert_eq!(v.validate(&one(T4)), Ok(()));
}

#[test]
fn reset_forgets_the_device() {
    let mut v = primed(&[T1]);
    v.reset();
    assert_eq!(v.family(), None);
    // another device on the same port is judged on its own
    assert_eq!(v.validate(&one(T3)), Ok(()));
    assert_eq!(v.stats().accepted, 2);
}

// ---- byte loss ----

/// What losing one byte of a block can do, for the property below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteClass {
    /// A digit or `-` inside the value of a measurement (no pin): its loss leaves a valid
    /// number, which only ranges and P ≈ V·I can judge.
    FreeDigit,
    /// Everything else: separators, labels, pinned values, ON/OFF, `0x`, the checksum record.
    Structural,
}

fn classes(block: &[u8]) -> Vec<ByteClass> {
    let mut out = vec![ByteClass::Structural; block.len()];
    let mut i = 0;
    while let Some(tab) = block[i..].iter().position(|&b| b == b'\t').map(|t| i + t) {
        let label_start = block[..tab]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |n| n + 1);
        let label = String::from_utf8_lossy(&block[label_start..tab]).into_owned();
        if label == "Checksum" {
            break;
        }
        let end = block[tab..]
            .iter()
            .position(|&b| b == b'\r')
            .map_or(block.len(), |e| tab + e);
        let free = !PINNED.contains(&label.as_str())
            && !FIXED_HEX.contains(&label.as_str())
            && matches!(
                spec(&label),
                Some((
                    _,
                    Kind::Scaled(..) | Kind::Int(_) | Kind::Enum(_) | Kind::Bits(_)
                ))
            );
        for j in tab + 1..end {
            if free && (block[j].is_ascii_digit() || block[j] == b'-') {
                out[j] = ByteClass::FreeDigit;
            }
        }
        i = end;
    }
    out
}

/// Feed a damaged block to a copy of `v`; the blocks the checksum-only path would commit and
/// the subset the validator accepts.
fn outcome(v: &TextValidator, damaged: &[u8]) -> (Vec<TextBlock>, Vec<TextBlock>) {
    let mut v = v.clone();
    let all = committed(damaged);
    let accepted = all
        .iter()
        .filter(|b| v.validate(b).is_ok())
        .cloned()
        .collect();
    (all, accepted)
}

#[test]
fn every_three_and_four_byte_loss_that_keeps_the_checksum_is_rejected() {
    // Three or four lost bytes can only add up to 256 if one is not a digit (4 × '9' = 228):
    // so every such damage touches a label, a pinned value or a separator, and must be caught.
    let mut passed = 0;
    for (n, block) in real_blocks().into_iter().enumerate() {
        let v = primed_device(block);
        let original = one(block);
        let len = block.len();
        let four = n == 0 || n == 9; // T1 and T10's main block: the four-loss sweep is longer
        for a in 0..len {
            for b in a + 1..len {
                for c in b + 1..len {
                    let s3 = block[a] as u32 + block[b] as u32 + block[c] as u32;
                    let mut sets = Vec::new();
                    if s3 % 256 == 0 {
                        sets.push(vec![a, b, c]);
                    }
                    if four {
                        for (d, &byte) in block.iter().enumerate().skip(c + 1) {
                            if (s3 + byte as u32) % 256 == 0 {
                                sets.push(vec![a, b, c, d]);
                            }
                        }
                    }
                    for set in sets {
                        let damaged = drop_bytes(block, &set);
                        let (all, accepted) = outcome(&v, &damaged);
                        passed += all.iter().filter(|b| **b != original).count();
                        for b in accepted {
                            assert_eq!(b, original, "drops {set:?} of block {n}");
                        }
                    }
                }
            }
        }
    }
    // the checksum alone lets many of them through
    assert!(passed > 1000, "{passed}");
}

/// Positions of `k` distinct bytes of `block` whose sum is 0 mod 256, picked by `seed`; `None`
/// if the last one cannot be matched.
fn checksum_keeping_drops(block: &[u8], picks: &[prop::sample::Index]) -> Option<Vec<usize>> {
    let mut set: Vec<usize> = Vec::new();
    for p in &picks[..picks.len() - 1] {
        let i = p.index(block.len());
        if !set.contains(&i) {
            set.push(i);
        }
    }
    let sum = set.iter().fold(0u8, |s, &i| s.wrapping_add(block[i]));
    let want = 0u8.wrapping_sub(sum);
    let candidates: Vec<usize> = (0..block.len())
        .filter(|i| block[*i] == want && !set.contains(i))
        .collect();
    let last = picks.last()?;
    if candidates.is_empty() {
        return None;
    }
    set.push(candidates[last.index(candidates.len())]);
    Some(set)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random byte loss that keeps the checksum (the dangerous case): whenever a lost byte is
    /// not a free digit, nothing but the original block is accepted. Losses of free digits
    /// alone can yield another valid number (that residual is measured below); the property
    /// then is that the damage stays inside the numbers: labels and pinned values are intact.
    #[test]
    fn lost_bytes_never_publish_damage(
        which in 0usize..11,
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2..9),
    ) {
        let block = real_blocks()[which];
        let Some(set) = checksum_keeping_drops(block, &picks) else {
            return Ok(());
        };
        let classes = classes(block);
        let structural = set.iter().any(|&i| classes[i] == ByteClass::Structural);
        let original = one(block);
        let v = primed_device(block);
        let (_, accepted) = outcome(&v, &drop_bytes(block, &set));
        for b in accepted {
            if structural {
                prop_assert_eq!(&b, &original, "drops {:?}", set);
            } else {
                prop_assert_eq!(Shape::of(&b), Shape::of(&original));
            }
        }
    }
}

proptest! {
    /// Any records, in any order, any number of times: the validator never panics and counts
    /// every block once.
    #[test]
    fn arbitrary_blocks_never_panic(blocks in proptest::collection::vec(
        proptest::collection::vec((
            prop_oneof![
                prop::sample::select(vec![
                    "PID", "FW", "FWE", "SER#", "V", "I", "P", "T", "CE", "SOC", "H1", "H2", "H7",
                    "H8", "OR", "AR", "CS", "MON", "LOAD", "BMV", "HSDS", "X",
                ]).prop_map(String::from),
                "[ -~]{0,10}",
            ],
            prop_oneof![
                prop::sample::select(vec![
                    "0", "-1", "---", "ON", "0x00000001", "0xA381", "0308", "HQ1411MYIKN", "",
                    "99999999999999999999", "-",
                ]).prop_map(String::from),
                "[ -~]{0,12}",
            ],
        ), 0..12),
        1..6,
    )) {
        let mut v = TextValidator::new();
        for fields in &blocks {
            let _ = v.validate(&TextBlock { fields: fields.clone() });
        }
        let s = v.stats();
        prop_assert_eq!(s.accepted + s.rejected, blocks.len() as u64);
    }
}

/// xorshift64*: a fixed, dependency-free random stream for the measurement.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// true with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Measured {
    pub blocks: u64,
    /// Blocks that lost at least one byte.
    pub damaged: u64,
    /// Damaged blocks the parser committed (checksum matched): what a checksum-only path
    /// publishes. Each has at least one wrong or missing value.
    pub passed_checksum: u64,
    /// Of those, rejected by the validator.
    pub rejected: u64,
    /// Of those, accepted: wrong values that would still be published.
    pub wrong_published: u64,
}

/// Lose each byte of `blocks` real blocks with probability `p` (the simulator's `drop_rate`) and
/// count what gets through. The validator has seen the device's clean blocks, as on a running
/// gateway.
pub(super) fn measure(blocks: u64, p: f64, seed: u64) -> Measured {
    let real = real_blocks();
    let validators: Vec<TextValidator> = real.iter().map(|b| primed_device(b)).collect();
    let originals: Vec<TextBlock> = real.iter().map(|b| one(b)).collect();
    let mut rng = Rng(seed | 1);
    let mut m = Measured::default();
    let mut damaged = Vec::with_capacity(512);
    for n in 0..blocks {
        let which = (n % real.len() as u64) as usize;
        let block = real[which];
        damaged.clear();
        damaged.extend(block.iter().copied().filter(|_| !rng.chance(p)));
        m.blocks += 1;
        if damaged.len() == block.len() {
            continue;
        }
        m.damaged += 1;
        let (all, accepted) = outcome(&validators[which], &damaged);
        for b in &all {
            if *b != originals[which] {
                m.passed_checksum += 1;
                if accepted.contains(b) {
                    m.wrong_published += 1;
                    if std::env::var_os("SHOW_RESIDUAL").is_some() {
                        eprintln!("published: {b:?}\n original: {:?}", originals[which]);
                    }
                } else {
                    m.rejected += 1;
                }
            }
        }
    }
    m
}

/// Measured (release build, seed 0x5EED, vectors T1..T10 in turn, the validator primed with the
/// device's clean blocks; `SUNGATE_DAMAGED_BLOCKS=1000000 cargo test --release -p
/// sungate-drivers damaged_blocks -- --nocapture` repeats it):
///
/// | drop rate | blocks | damaged | passed checksum | rejected | wrong published |
/// |---|---|---|---|---|---|
/// | 0.02 | 1,000,000 | 951,104 | 1,295 | 1,293 | 2 |
/// | 0.05 | 1,000,000 | 999,322 | 964 | 963 | 1 |
///
/// The three that got through lost 5–7 digits inside free numbers only (H6/H7/H8/H17/H18 of T4;
/// VPV/H19/H23 of T2), whose byte sum happened to be 256 or 512.
#[test]
fn damaged_blocks_measured() {
    // 200,000 blocks at the issue's drop_rate 0.02 by default (a few seconds in a debug build).
    let blocks = std::env::var("SUNGATE_DAMAGED_BLOCKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    for p in [0.02, 0.05] {
        let m = measure(blocks, p, 0x5EED);
        eprintln!("drop rate {p}: {m:?}");
        assert!(m.damaged > blocks * 3 / 4, "{m:?}");
        // What the checksum alone publishes: the reason for this module.
        assert!(m.passed_checksum >= blocks / 10_000, "{m:?}");
        // With the checks: at most a tenth of that, and in absolute terms rare.
        assert!(m.wrong_published * 10 <= m.passed_checksum, "{m:?}");
        assert!(m.wrong_published <= 5 * blocks / 200_000, "{m:?}");
    }
}
