//! PI30 frame decoder: arbitrary bytes never panic, and whatever decodes as data re-encodes to a
//! frame that decodes to the same reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sungate_drivers::pi30::codec::{DecodeOptions, EncodeOptions, Reply, decode_reply, encode_frame};

fuzz_target!(|data: &[u8]| {
    for allow_missing_crc in [false, true] {
        let opts = DecodeOptions { allow_missing_crc };
        if let Ok(Reply::Data(payload)) = decode_reply(data, opts) {
            let mut body = Vec::with_capacity(payload.len() + 1);
            body.push(b'(');
            body.extend_from_slice(payload.as_bytes());
            let again = decode_reply(&encode_frame(&body, EncodeOptions::default()), opts);
            assert_eq!(again, Ok(Reply::Data(payload)));
        }
    }
});
