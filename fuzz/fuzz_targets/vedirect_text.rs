//! VE.Direct text parser: arbitrary streams never panic, chunking never changes the result, and
//! every committed block decodes and goes through the structural checks without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sungate_drivers::vedirect::fields::decode_fields;
use sungate_drivers::vedirect::text::{TextEvent, TextParser};
use sungate_drivers::vedirect::validate::TextValidator;

fn events(chunks: &[&[u8]]) -> Vec<TextEvent> {
    let mut parser = TextParser::new();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, |e| out.push(e));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = events(&[data]);
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(split);
    assert_eq!(whole, events(&[a, b]), "chunking changed the events");
    let mut validator = TextValidator::new();
    for event in &whole {
        if let TextEvent::Block(block) = event {
            let _ = decode_fields(&block.fields);
            let _ = validator.validate(block);
        }
    }
});
