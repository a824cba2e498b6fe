//! Checking request paths: a path names a file under the UFS root and
//! nothing else. `..`, `.`, empty segments, absolute-path tricks and encoded
//! separators are refused with the reason.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Turns the raw (still percent-encoded) rest of a request path into a
/// UFS-relative path, or says why it is refused. A path without `%` is its
/// own decoding and is returned as it came, without a copy: every cached
/// read checks one.
pub fn check(raw: &str) -> Result<Cow<'_, str>, String> {
    let decoded = if raw.contains('%') {
        decode(raw)?
    } else {
        Cow::Borrowed(raw)
    };
    if decoded.is_empty() {
        return Err("no file path given".into());
    }
    if decoded.starts_with('/') {
        return Err("path must be relative to the UFS root (it starts with '/')".into());
    }
    if decoded.contains('\\') {
        return Err("path contains '\\'".into());
    }
    if decoded.chars().any(char::is_control) {
        return Err("path contains a control character".into());
    }
    for segment in decoded.split('/') {
        match segment {
            "" => return Err("path has an empty segment ('//' or a trailing '/')".into()),
            "." | ".." => return Err(format!("path has a '{segment}' segment")),
            _ => {}
        }
    }
    Ok(decoded)
}

/// The percent-decoding of `raw`, refusing the encoded separators and NUL
/// that decoding would turn into something else than a name.
fn decode(raw: &str) -> Result<Cow<'_, str>, String> {
    for (encoded, what) in [
        (b"%2f", "an encoded '/'"),
        (b"%5c", "an encoded '\\'"),
        (b"%00", "a NUL byte"),
    ] {
        if raw
            .as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(encoded))
        {
            return Err(format!("path contains {what}"));
        }
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "path is not UTF-8 once decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::check;

    #[test]
    fn plain_paths_pass_and_tricks_are_refused() {
        assert_eq!(check("data/part-0001"), Ok("data/part-0001".into()));
        // Nothing to decode: the path itself, not a copy.
        assert!(matches!(check("data/part-0001"), Ok(Cow::Borrowed(_))));
        assert_eq!(check("data/a%20b"), Ok("data/a b".into()));
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "a/./b",
            "%2e%2e/x",
            "a%2Fb",
            "a%5c..",
            "/etc/passwd",
            "%2Fetc",
            "a//b",
            "a/",
            "a%00b",
            "a\\..\\b",
        ] {
            assert!(check(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
