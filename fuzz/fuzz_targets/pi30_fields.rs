//! PI30 typed decoders: every query's decoder takes arbitrary payloads without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sungate_drivers::pi30::codec::DecodeOptions;
use sungate_drivers::pi30::fields::{Variant, decode_frame, decode_payload, supported_queries};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the query, the rest is the payload.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let queries = supported_queries();
    if queries.is_empty() {
        return;
    }
    let query = queries[usize::from(pick) % queries.len()];
    for variant in [Variant::Pi30, Variant::Pi30Max] {
        if let Ok(payload) = std::str::from_utf8(rest) {
            let _ = decode_payload(query, payload, variant);
        }
        let _ = decode_frame(query, rest, variant, DecodeOptions::default());
    }
});
