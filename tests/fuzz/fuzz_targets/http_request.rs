//! What a worker takes from a request line and its headers, and what it
//! writes back: the `Range` header and the file path, and header lines of
//! its own answers. A range it accepts lies inside the file; a path it
//! accepts stays under the UFS root; a header value it writes as text is one
//! `http` would take, and reads back as written.
#![no_main]

use azimuth_worker::range::{self, RangeRequest};
use azimuth_worker::reply::HeaderLines;
use http::{HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let length = u64::from_le_bytes(data[..8].try_into().unwrap());
    // Any bytes, text or not: a line break would let a value forge
    // headers of its own.
    let value = &data[8..];
    let mut lines = HeaderLines::new();
    let written = lines.push(&header::ETAG, value).is_ok();
    assert_eq!(
        written,
        HeaderValue::from_bytes(value).is_ok(),
        "{value:?}"
    );
    if written {
        let read: Vec<_> = lines.iter().collect();
        assert_eq!(read, [(&b"etag"[..], value)], "{value:?}");
    }
    let Ok(text) = std::str::from_utf8(&data[8..]) else {
        return;
    };
    // Small lengths too, where most of the edge cases are.
    for length in [length, length % 1024] {
        if let Ok(RangeRequest::Part { start, end }) = range::parse(Some(text), length) {
            assert!(
                start < end && end <= length,
                "{text:?} of {length}: {start}..{end}"
            );
        }
    }
    if let Ok(path) = azimuth_worker::paths::check(text) {
        assert!(
            !path.is_empty() && !path.starts_with('/'),
            "{text:?} -> {path:?}"
        );
        for segment in path.split('/') {
            assert!(
                !segment.is_empty() && segment != "." && segment != "..",
                "{text:?} -> {path:?}"
            );
        }
        assert!(
            !path.contains('\\') && !path.chars().any(char::is_control),
            "{text:?} -> {path:?}"
        );
    }
});
