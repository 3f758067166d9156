//! VE.Direct HEX decoder: arbitrary lines never panic; a decoded frame re-encodes to a line that
//! decodes to the same frame; register values decode without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sungate_drivers::vedirect::hex::decode_frame;
use sungate_drivers::vedirect::registers::lookup;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_frame(data) {
        let encoded = frame.encode();
        assert_eq!(decode_frame(&encoded).ok(), Some(frame.clone()));
        if let Some(reg) = frame.as_register() {
            if let Some(spec) = lookup(reg.id) {
                let _ = spec.decode(&reg.value);
            }
        }
    }
});
