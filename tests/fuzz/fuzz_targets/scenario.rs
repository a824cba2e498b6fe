//! Scenario files of `azimuth policy test`: any text is read and prepared,
//! or refused with a message naming the file, never a panic.
#![no_main]

use azimuth_policy_tools::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let prepared = Scenario::parse(text, "fuzz.json").and_then(|s| s.prepare("fuzz.json"));
    if let Err(e) = prepared {
        assert!(e.to_string().contains("fuzz.json"), "{e}");
    }
});
