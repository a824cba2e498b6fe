//! The site file's parser: any text is parsed or refused with a message,
//! never a panic, and whatever it accepts parses the same again.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.properties");
    match azimuth_cluster::config::properties::parse(text, path) {
        Ok(entries) => {
            let again = azimuth_cluster::config::properties::parse(text, path)
                .expect("the same text parses again");
            assert_eq!(entries.len(), again.len());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
