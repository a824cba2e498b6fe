//! The HTTP `Range` header: one byte range (`bytes=a-b`, `bytes=a-`,
//! `bytes=-n`). Several ranges in one request are not supported and are
//! answered with the whole file, as RFC 9110 allows; a range in another
//! unit is ignored (the whole file), as it requires.

/// What a `Range` header asks for, given the file's length.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range (or several): the whole file.
    Whole,
    /// Bytes `start..end` (end exclusive).
    Part {
        /// The first byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// A syntactically valid range that selects nothing: 416.
    Unsatisfiable,
}

/// Parses `header` for a file of `length` bytes; `Err` for a malformed header.
pub fn parse(header: Option<&str>, length: u64) -> Result<RangeRequest, String> {
    let Some(header) = header else {
        return Ok(RangeRequest::Whole);
    };
    // Range units are case-insensitive; a server ignores a unit it does not
    // know (RFC 9110, 14.2).
    let spec = match header.trim().split_at_checked(6) {
        Some((unit, spec)) if unit.eq_ignore_ascii_case("bytes=") => spec,
        _ => return Ok(RangeRequest::Whole),
    };
    if spec.contains(',') {
        return Ok(RangeRequest::Whole);
    }
    let (first, last) = spec
        .split_once('-')
        .ok_or_else(|| format!("Range {header:?}: expected bytes=START-END"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("Range {header:?}: {s:?} is not a byte offset"))
    };
    let (start, end) = match (first.trim(), last.trim()) {
        ("", "") => return Err(format!("Range {header:?}: expected bytes=START-END")),
        ("", suffix) => {
            let n = number(suffix)?;
            if n == 0 {
                return Ok(RangeRequest::Unsatisfiable);
            }
            (length.saturating_sub(n), length)
        }
        (start, "") => (number(start)?, length),
        (start, end) => {
            let (start, last) = (number(start)?, number(end)?);
            if last < start {
                return Err(format!("Range {header:?}: the end is before the start"));
            }
            (start, last.saturating_add(1).min(length))
        }
    };
    if start >= length {
        return Ok(RangeRequest::Unsatisfiable);
    }
    Ok(RangeRequest::Part { start, end })
}

#[cfg(test)]
mod tests {
    use super::{RangeRequest::*, parse};

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse(None, 10), Ok(Whole));
        assert_eq!(parse(Some("bytes=0-3"), 10), Ok(Part { start: 0, end: 4 }));
        assert_eq!(parse(Some("bytes=5-"), 10), Ok(Part { start: 5, end: 10 }));
        assert_eq!(parse(Some("bytes=-3"), 10), Ok(Part { start: 7, end: 10 }));
        assert_eq!(parse(Some("bytes=-30"), 10), Ok(Part { start: 0, end: 10 }));
        assert_eq!(
            parse(Some("bytes=8-100"), 10),
            Ok(Part { start: 8, end: 10 })
        );
        assert_eq!(parse(Some("bytes=10-"), 10), Ok(Unsatisfiable));
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Ok(Whole));
        assert!(parse(Some("bytes=4-2"), 10).is_err());
        assert_eq!(parse(Some("items=0-1"), 10), Ok(Whole));
        assert_eq!(parse(Some("lines 0-1"), 10), Ok(Whole));
        assert_eq!(parse(Some("Bytes=2-3"), 10), Ok(Part { start: 2, end: 4 }));
        assert!(parse(Some("bytes=a-b"), 10).is_err());
    }
}
