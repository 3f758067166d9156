//! Decoder throughput (target: over 50 MB/s each on the build machine, thousands of times the
//! 2400 baud / 19200 baud line rates). Frames are real device frames from the reference vectors.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use sungate_drivers::pi30::codec::{DecodeOptions, decode_reply};
use sungate_drivers::pi30::fields::{Variant, decode_frame};
use sungate_drivers::vedirect::fields::decode_fields;
use sungate_drivers::vedirect::hex;
use sungate_drivers::vedirect::text::{TextEvent, TextParser};

/// QPIGS reply of a 5 kVA unit, firmware 72.70 (PI30 vectors V10).
const QPIGS: &[u8] = b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010$\x8c\r";
/// QPIRI reply, 48 V / 5 kVA (V16).
const QPIRI: &[u8] = b"(230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1o~\r";

/// BlueSolar MPPT block (VE.Direct vectors T1).
const MPPT_BLOCK: &[u8] = b"\r\nPID\t0xA042\r\nFW\t123\r\nSER#\tHQ1411MYIKN\r\nV\t12530\r\nI\t640\r\nVPV\t31390\r\nPPV\t8\r\nCS\t3\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t8272\r\nH20\t0\r\nH21\t11\r\nH22\t25\r\nH23\t119\r\nHSDS\t274\r\nChecksum\t\xB1";
/// BMV-700 main and history blocks (T3, T4).
const BMV_MAIN: &[u8] = b"\r\nPID\t0x203\r\nV\t12065\r\nI\t-7626\r\nP\t-92\r\nCE\t-65476\r\nSOC\t839\r\nTTG\t942\r\nAlarm\tOFF\r\nRelay\tOFF\r\nAR\t0\r\nBMV\t700\r\nFW\t0308\r\nChecksum\tm";
const BMV_HIST: &[u8] = b"\r\nH1\t-149322\r\nH2\t-82854\r\nH3\t0\r\nH4\t0\r\nH5\t0\r\nH6\t-5526294\r\nH7\t11733\r\nH8\t16161\r\nH9\t368003\r\nH10\t26\r\nH11\t0\r\nH12\t0\r\nH17\t6843\r\nH18\t8527\r\nChecksum\t\xBC";
/// An async HEX frame between blocks (H16).
const ASYNC: &[u8] = b":A0102000543\n";

fn text_stream() -> Vec<u8> {
    let mut stream = Vec::with_capacity(256 * 1024);
    while stream.len() < 256 * 1024 {
        for part in [MPPT_BLOCK, ASYNC, BMV_MAIN, BMV_HIST] {
            stream.extend_from_slice(part);
        }
    }
    stream
}

fn pi30(c: &mut Criterion) {
    let mut group = c.benchmark_group("pi30");
    group.throughput(Throughput::Bytes(QPIGS.len() as u64));
    group.bench_function("frame_qpigs", |b| {
        b.iter(|| decode_reply(black_box(QPIGS), DecodeOptions::default()))
    });
    group.bench_function("decode_qpigs", |b| {
        b.iter(|| {
            decode_frame(
                "QPIGS",
                black_box(QPIGS),
                Variant::Pi30,
                DecodeOptions::default(),
            )
        })
    });
    group.throughput(Throughput::Bytes(QPIRI.len() as u64));
    group.bench_function("decode_qpiri", |b| {
        b.iter(|| {
            decode_frame(
                "QPIRI",
                black_box(QPIRI),
                Variant::Pi30,
                DecodeOptions::default(),
            )
        })
    });
    group.finish();
}

fn vedirect(c: &mut Criterion) {
    let stream = text_stream();
    let mut group = c.benchmark_group("vedirect");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("text_parse", |b| {
        b.iter(|| {
            let mut parser = TextParser::new();
            let mut blocks = 0usize;
            parser.feed(black_box(&stream), |e| {
                if let TextEvent::Block(_) = e {
                    blocks += 1
                }
            });
            blocks
        })
    });
    group.bench_function("text_parse_and_decode", |b| {
        b.iter(|| {
            let mut parser = TextParser::new();
            let mut fields = 0usize;
            parser.feed(black_box(&stream), |e| {
                if let TextEvent::Block(block) = e {
                    fields += decode_fields(&block.fields).len()
                }
            });
            fields
        })
    });
    let frame = b":7F0ED009600DB";
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("hex_decode", |b| {
        b.iter(|| hex::decode_frame(black_box(frame)))
    });
    group.finish();
}

criterion_group!(benches, pi30, vedirect);
criterion_main!(benches);
