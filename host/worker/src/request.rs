//! A request's head as the hot paths read it.
//!
//! The worker's connection reads a plain `GET` with httparse and used to
//! build it into `http::request::Parts` for the front and the direct read:
//! a `HeaderMap` allocated and hashed into, each name and value checked
//! again, the URI parsed, all dropped after the answer — 730 of the 8,350
//! instructions a cached 4 KiB read cost the worker (callgrind). A [`RequestHead`] is a view of the bytes read instead: its
//! target checked once (as `http` checks one, so the same requests are
//! refused), its headers the spans httparse found. A request hyper serves
//! is seen through the same view, over its `Parts`.

use axum::http::request::Parts;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, Method};

/// The head of a request without a body: its method, target and headers.
pub struct RequestHead<'a> {
    method: &'a Method,
    target: PathAndQuery,
    headers: Headers<'a>,
}

/// Where a head's headers are.
#[derive(Clone, Copy)]
enum Headers<'a> {
    /// As read: each (name, value), names as the client wrote them.
    Read(&'a [(&'a [u8], &'a [u8])]),
    /// In a map (a request hyper parsed).
    Map(&'a HeaderMap),
}

impl<'a> RequestHead<'a> {
    /// The head of the request `parts` begins; `None` for a target without
    /// a path (`CONNECT`'s `host:port`).
    pub fn from_parts(parts: &'a Parts) -> Option<Self> {
        Some(Self {
            method: &parts.method,
            target: parts.uri.path_and_query()?.clone(),
            headers: Headers::Map(&parts.headers),
        })
    }

    /// A `GET` of `target` with `headers` as read (names in any case): a
    /// head parsed by a server of one's own.
    pub fn get(target: PathAndQuery, headers: &'a [(&'a [u8], &'a [u8])]) -> Self {
        Self {
            method: &Method::GET,
            target,
            headers: Headers::Read(headers),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The target's path, as sent (not percent-decoded).
    pub fn path(&self) -> &str {
        self.target.path()
    }

    /// The target's query, if it has one (`Some("")` after a bare `?`).
    pub fn query(&self) -> Option<&str> {
        self.target.query()
    }

    /// The target: path and query (shares the bytes read: a clone is
    /// cheap).
    pub fn target(&self) -> &PathAndQuery {
        &self.target
    }

    /// Each header's name and value, in the order sent. Names may be in
    /// any case: compare them with `eq_ignore_ascii_case`.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let (read, map) = match self.headers {
            Headers::Read(read) => (read, None),
            Headers::Map(map) => (&[][..], Some(map)),
        };
        read.iter().copied().chain(map.into_iter().flat_map(|map| {
            map.iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        }))
    }

    /// The first value of the header `name`, as `HeaderMap::get` gives it.
    pub fn header(&self, name: &HeaderName) -> Option<&'a [u8]> {
        match self.headers {
            Headers::Map(map) => map.get(name).map(|v| v.as_bytes()),
            Headers::Read(_) => {
                let name = name.as_str().as_bytes();
                self.headers()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, header};

    #[test]
    fn a_head_as_read_and_as_hyper_parts_reads_the_same() {
        let parts = Request::get("/files/a%20b?x=1")
            .header("Range", "bytes=0-1")
            .header("x-two", "1")
            .header("X-Two", "2")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let from_parts = RequestHead::from_parts(&parts).unwrap();
        let read = [
            (&b"Range"[..], &b"bytes=0-1"[..]),
            (b"x-two", b"1"),
            (b"X-Two", b"2"),
        ];
        let as_read = RequestHead::get(PathAndQuery::from_static("/files/a%20b?x=1"), &read);
        for head in [&from_parts, &as_read] {
            assert_eq!(head.method(), Method::GET);
            assert_eq!(head.path(), "/files/a%20b");
            assert_eq!(head.query(), Some("x=1"));
            assert_eq!(head.header(&header::RANGE), Some(&b"bytes=0-1"[..]));
            assert_eq!(
                head.header(&HeaderName::from_static("x-two")),
                Some(&b"1"[..])
            );
            assert_eq!(head.header(&header::IF_MATCH), None);
            let names: Vec<_> = head
                .headers()
                .map(|(n, _)| String::from_utf8_lossy(n).to_lowercase())
                .collect();
            assert_eq!(names, ["range", "x-two", "x-two"]);
        }
        // CONNECT's target has no path: no head for the hot paths.
        let connect = Request::connect("example.com:443")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(RequestHead::from_parts(&connect).is_none());
    }
}
