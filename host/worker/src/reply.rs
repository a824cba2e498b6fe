//! Answers of the hot paths, with their heads written as text.
//!
//! A cached 4 KiB read's answer has five or six headers. Built as a
//! `HeaderMap` (hashed inserts into a map allocated for the answer, each
//! value checked, then each written out and the map dropped), they cost a
//! gateway's GetObject 1,760 of its 27,300 instructions (callgrind), more
//! than the client's routing decision. A [`Prepared`] answer carries its
//! header lines as the text they are written as, checked once as they are
//! added ([`HeaderLines`]); the worker's own connection writes them in one
//! copy, and hyper's (for the requests it serves) gets an ordinary
//! [`Response`] made from them.

use std::fmt;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

/// What a [`crate::Front`] or the worker's direct read answers.
pub enum Reply {
    /// Any response.
    Response(Response),
    /// A whole body with header lines written ahead.
    Prepared(Prepared),
}

impl Reply {
    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        match self {
            Reply::Response(response) => response.status(),
            Reply::Prepared(prepared) => prepared.status,
        }
    }

    /// The answer as a [`Response`] (for hyper, or a caller that wants one).
    pub fn into_response(self) -> Response {
        match self {
            Reply::Response(response) => response,
            Reply::Prepared(prepared) => prepared.into_response(),
        }
    }
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Response(response)
    }
}

impl From<Prepared> for Reply {
    fn from(prepared: Prepared) -> Self {
        Reply::Prepared(prepared)
    }
}

/// An answer whose body is in memory, whole: its status, its header lines
/// and its bytes. `Content-Length` (from the body), `Date` and
/// `Connection` are the connection's to write, as hyper writes them; a
/// status without a body (1xx, 204, 304) is written without one.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) status: StatusCode,
    pub(crate) lines: HeaderLines,
    pub(crate) body: Bytes,
}

/// Header lines (`name: value\r\n` each), each checked as it is added: to
/// build once and add to many answers ([`Prepared::extend`]), such as the
/// headers every read of one file version answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderLines(Vec<u8>);

/// A header [`HeaderLines`] (and so a [`Prepared`] answer) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader {
    name: HeaderName,
    why: &'static str,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "header {}: {}", self.name, self.why)
    }
}

impl std::error::Error for InvalidHeader {}

/// Whether `value` is a valid header value, as `HeaderValue::from_bytes`
/// judges one: visible ASCII, spaces, tabs and bytes past ASCII (no
/// control characters: no line breaks). Without an early exit, so that it
/// vectorizes.
fn is_header_value(value: &[u8]) -> bool {
    value.iter().fold(true, |ok, &b| {
        ok & ((b >= b' ' && b != 0x7f) | (b == b'\t'))
    })
}

impl HeaderLines {
    /// No line yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// No line yet, with room for `bytes` of lines.
    pub fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    /// Adds `lines`, checked when they were made.
    pub fn extend(&mut self, lines: &HeaderLines) {
        self.0.extend_from_slice(&lines.0);
    }

    /// Adds the header `name: value`. Refused: a value with a control
    /// character, and the headers the connection writes itself
    /// (`Content-Length`, `Transfer-Encoding`, `Date`, `Connection`).
    pub fn push(&mut self, name: &HeaderName, value: &[u8]) -> Result<(), InvalidHeader> {
        let refuse = |why| {
            Err(InvalidHeader {
                name: name.clone(),
                why,
            })
        };
        if [
            &header::CONTENT_LENGTH,
            &header::TRANSFER_ENCODING,
            &header::DATE,
            &header::CONNECTION,
        ]
        .contains(&name)
        {
            return refuse("written by the connection, from the answer itself");
        }
        if !is_header_value(value) {
            return refuse("the value has a control character");
        }
        let name = name.as_str().as_bytes();
        self.0.reserve(name.len() + value.len() + 4);
        for piece in [name, b": ", value, b"\r\n"] {
            self.0.extend_from_slice(piece);
        }
        Ok(())
    }

    /// Each line's (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        header_lines(&self.0)
    }

    /// The lines as written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The same headers in a map, for a [`Response`] (appended in order:
    /// a name given twice keeps both values).
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(8);
        for (name, value) in self.iter() {
            // Both were checked as they were added.
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                map.append(name, value);
            }
        }
        map
    }
}

/// Whether an answer of `status` has a body (not a 1xx, 204 or 304).
pub(crate) fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// The (name, value) of each `name: value\r\n` line of `lines`. (A name
/// has no `": "`, and a value no line break.)
fn header_lines(lines: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    lines
        .split(|&b| b == b'\n')
        .filter_map(|line| line.strip_suffix(b"\r"))
        .filter_map(|line| {
            let at = line.windows(2).position(|w| w == b": ")?;
            Some((&line[..at], &line[at + 2..]))
        })
}

impl Prepared {
    /// An answer of `status` with `body`, and no header yet.
    pub fn new(status: StatusCode, body: Bytes) -> Self {
        Self::with_lines(status, body, HeaderLines::with_capacity(192))
    }

    /// An answer of `status` with `body` and the header `lines`.
    pub fn with_lines(status: StatusCode, body: Bytes, lines: HeaderLines) -> Self {
        Self {
            status,
            lines,
            body,
        }
    }

    /// Adds the header `name: value` (refused as [`HeaderLines::push`]
    /// refuses one).
    pub fn header(&mut self, name: &HeaderName, value: &[u8]) -> Result<(), InvalidHeader> {
        self.lines.push(name, value)
    }

    /// Adds `lines`, checked when they were made.
    pub fn extend(&mut self, lines: &HeaderLines) {
        self.lines.extend(lines);
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body's length.
    pub fn length(&self) -> u64 {
        self.body.len() as u64
    }

    /// The headers added, in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines.iter()
    }

    /// The same answer as a [`Response`].
    pub fn into_response(self) -> Response {
        let Prepared {
            status,
            lines,
            body,
        } = self;
        let length = body.len() as u64;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = lines.to_map();
        let headers = response.headers_mut();
        // Said in the headers, after the others as the connection writes
        // it, for whoever reads the length back from them (a gateway's
        // metrics do).
        if has_body(status) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_answer_keeps_its_headers_in_order_and_becomes_a_response() {
        let mut prepared = Prepared::new(StatusCode::PARTIAL_CONTENT, Bytes::from_static(b"abc"));
        prepared.header(&header::ETAG, b"\"0123\"").unwrap();
        prepared
            .header(&header::CONTENT_RANGE, b"bytes 0-2/10")
            .unwrap();
        prepared.header(&header::ETAG, b"\"again: twice\"").unwrap();
        let headers: Vec<_> = prepared.headers().collect();
        assert_eq!(
            headers,
            [
                (&b"etag"[..], &b"\"0123\""[..]),
                (b"content-range", b"bytes 0-2/10"),
                (b"etag", b"\"again: twice\""),
            ]
        );
        assert_eq!(prepared.length(), 3);
        let response = Reply::from(prepared).into_response();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let etags: Vec<_> = response.headers().get_all(header::ETAG).iter().collect();
        assert_eq!(etags, ["\"0123\"", "\"again: twice\""]);
        assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes 0-2/10");
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "3");
    }

    #[test]
    fn lines_made_once_are_added_to_an_answer_after_its_own() {
        let mut version = HeaderLines::new();
        version.push(&header::ETAG, b"\"0a\"").unwrap();
        version.push(&header::ACCEPT_RANGES, b"bytes").unwrap();
        let mut prepared = Prepared::new(StatusCode::OK, Bytes::from_static(b"x"));
        prepared.header(&header::CONTENT_TYPE, b"a/b").unwrap();
        prepared.extend(&version);
        let headers: Vec<_> = prepared.headers().collect();
        assert_eq!(
            headers,
            [
                (&b"content-type"[..], &b"a/b"[..]),
                (b"etag", b"\"0a\""),
                (b"accept-ranges", b"bytes"),
            ]
        );
        assert_eq!(
            version.as_bytes(),
            b"etag: \"0a\"\r\naccept-ranges: bytes\r\n"
        );
    }

    #[test]
    fn a_prepared_answer_refuses_line_breaks_and_the_connections_own_headers() {
        let mut prepared = Prepared::new(StatusCode::OK, Bytes::new());
        for bad in [&b"a\r\nx-injected: 1"[..], b"a\nb", b"nul\0", b"del\x7f"] {
            let error = prepared.header(&header::ETAG, bad).unwrap_err();
            assert!(error.to_string().contains("etag"), "{error}");
        }
        for own in [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::DATE,
            header::CONNECTION,
        ] {
            assert!(prepared.header(&own, b"1").is_err(), "{own}");
        }
        let mut lines = HeaderLines::new();
        assert!(lines.push(&header::ETAG, b"a\r\nb").is_err());
        assert!(lines.push(&header::DATE, b"today").is_err());
        assert!(lines.as_bytes().is_empty());
        // Tabs, spaces and bytes past ASCII are header text.
        prepared.header(&header::ETAG, b"a\tb c\xe9").unwrap();
        assert_eq!(prepared.headers().count(), 1);
    }
}
