//! The hot path: an anonymous GetObject answered without s3s.
//!
//! s3s turns every request into its DTOs and back (an input of some 30
//! fields parsed from headers, a boxed stream per body, an output of some
//! 40 header fields), which costs a cached 4 KiB read more than the read
//! itself. A GET that s3s would hand to `get_object` unchanged — anonymous
//! (no `Authorization`, no query: no signature, no presigned URL, no
//! `response-*` override) while anonymous reads are on, with no `x-amz-*`
//! header, to a path s3s parses as an object — is answered here instead,
//! through the same [`Inner::read_object`], with the same headers and the
//! same XML errors. Anything else goes to s3s. The S3 suite checks that
//! both paths answer every case alike (`test_gateway.py`,
//! `test_the_hot_path_answers_as_s3s_does`).

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MATCH,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED, RANGE,
};
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use azimuth_worker::reply::{HeaderLines, Prepared, Reply};
use azimuth_worker::request::RequestHead;
use bytes::Bytes;
use futures::StreamExt;
use s3s::dto::{ETagCondition, Range, Timestamp, TimestampFormat};
use s3s::path::S3Path;
use s3s::{S3Error, xml};

use crate::Inner;
use crate::names::BucketNames;
use crate::objects::{Conditions, ObjectBody, ObjectRead, ObjectRequest};

/// A GET the hot path answers: its object and the headers that shape the
/// answer, parsed as s3s parses them.
pub(crate) struct SimpleGet {
    bucket: String,
    key: String,
    range: Option<Range>,
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
}

/// The hot path's GET in the request `head` begins, or `None` when s3s
/// must answer it (including every request s3s would refuse: a header it
/// cannot parse is left for it to name).
pub(crate) fn simple_get(head: &RequestHead<'_>, anonymous_read: bool) -> Option<SimpleGet> {
    if !anonymous_read || head.method() != Method::GET || head.query().is_some() {
        return None;
    }
    // The five headers that shape the answer, found in one pass over the
    // few a request has (names in any case, as sent): a request with one
    // of them twice, with `Authorization` or with an `x-amz-*` header is
    // s3s's.
    let mut found: [Option<&[u8]>; 5] = [None; 5];
    let shaping = [
        RANGE,
        IF_MATCH,
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        IF_UNMODIFIED_SINCE,
    ];
    for (name, value) in head.headers() {
        let is = |known: &HeaderName| name.eq_ignore_ascii_case(known.as_str().as_bytes());
        let Some(slot) = shaping.iter().position(is) else {
            let amz = name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"x-amz-"));
            if amz || is(&AUTHORIZATION) {
                return None;
            }
            continue;
        };
        if found[slot].replace(value).is_some() {
            return None;
        }
    }
    // As s3s reads the path: percent-decoded, then split and validated.
    let path = percent_encoding::percent_decode_str(head.path())
        .decode_utf8()
        .ok()?;
    let S3Path::Object { bucket, key } =
        s3s::path::parse_path_style_with_validation(&path, &BucketNames).ok()?
    else {
        return None;
    };
    let [
        range,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    ] = found;
    let etag = |v: &[u8]| ETagCondition::parse_http_header(v).ok();
    Some(SimpleGet {
        bucket: bucket.into(),
        key: key.into(),
        range: parsed(range, |v| Range::parse(std::str::from_utf8(v).ok()?).ok())?,
        if_match: parsed(if_match, etag)?,
        if_none_match: parsed(if_none_match, etag)?,
        if_modified_since: parsed(if_modified_since, http_date)?,
        if_unmodified_since: parsed(if_unmodified_since, http_date)?,
    })
}

/// A header's `value` parsed by `parse`: `Some(None)` when absent, `None`
/// when present but unparsable (s3s's to refuse).
fn parsed<T>(value: Option<&[u8]>, parse: impl Fn(&[u8]) -> Option<T>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(value) => parse(value).map(Some),
    }
}

fn http_date(value: &[u8]) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, std::str::from_utf8(value).ok()?).ok()
}

impl Inner {
    /// Answers `get` as s3s would: the object's bytes, or the S3 error;
    /// with the answer's `Content-Length`, which the metrics count (known
    /// here, rather than read back from the headers).
    pub(crate) async fn serve_simple_get(&self, get: SimpleGet) -> (Reply, u64) {
        let request = ObjectRequest {
            bucket: &get.bucket,
            key: &get.key,
            range: get.range.as_ref(),
            conditions: Conditions {
                if_match: get.if_match.as_ref(),
                if_none_match: get.if_none_match.as_ref(),
                if_modified_since: get.if_modified_since.as_ref(),
                if_unmodified_since: get.if_unmodified_since.as_ref(),
            },
        };
        match self.read_object(request).await {
            Ok(read) => object_response(read),
            Err(error) => {
                let (response, length) = error_response(error);
                (response.into(), length)
            }
        }
    }
}

/// The headers of every object's answer, checked once.
static EVERY_OBJECT: LazyLock<HeaderLines> = LazyLock::new(|| {
    let mut lines = HeaderLines::new();
    for (name, value) in [
        (ACCEPT_RANGES, &b"bytes"[..]),
        (CONTENT_TYPE, b"application/octet-stream"),
    ] {
        lines.push(&name, value).expect("valid header text");
    }
    lines
});

/// GetObject's answer, with the headers s3s gives `get_object`'s output,
/// and its length. A body read whole is answered with its head written as
/// text ([`Prepared`]); a stream, as a [`Response`].
fn object_response(read: ObjectRead) -> (Reply, u64) {
    let status = if read.content_range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    // The ETag as s3s writes a strong one, and the IMF-fixdate it writes
    // (`TimestampFormat::HttpDate`), formatted once per version.
    let etag = [b"\"", read.file.etag().as_bytes(), b"\""].concat();
    let mut lines = HeaderLines::with_capacity(192);
    lines.extend(&EVERY_OBJECT);
    let range = read
        .content_range
        .as_ref()
        .map(|r| (&CONTENT_RANGE, r.as_bytes()));
    let own = range.into_iter().chain([
        (&ETAG, &etag[..]),
        (&LAST_MODIFIED, read.file.http_date().as_bytes()),
    ]);
    for (name, value) in own {
        // A value that is not header text is left out, as s3s leaves out
        // a field it cannot write (none of these can be such a value).
        let _ = lines.push(name, value);
    }
    let body = match read.body {
        ObjectBody::Empty => Bytes::new(),
        ObjectBody::Whole(bytes) => bytes,
        ObjectBody::Stream(first, rest) => {
            let body = Body::from_stream(futures::stream::iter([Ok(first)]).chain(rest));
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = lines.to_map();
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(read.length));
            return (response.into(), read.length);
        }
    };
    (
        Prepared::with_lines(status, body, lines).into(),
        read.length,
    )
}

/// An S3 error as s3s answers it: its status, and its XML (and the XML's
/// length). (s3s would add an error's own headers too; the gateway's
/// errors carry none.)
fn error_response(error: S3Error) -> (Response<Body>, u64) {
    let status = error
        .status_code()
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut xml_body = Vec::with_capacity(256);
    {
        let mut serializer = xml::Serializer::new(&mut xml_body);
        if serializer
            .decl()
            .and_then(|()| xml::Serialize::serialize(&error, &mut serializer))
            .is_err()
        {
            // Only a writer's failure fails it, and a Vec's writes do not.
            xml_body.clear();
        }
    }
    // The length said here, as axum's router says it for s3s's answers:
    // served before the router (`Gateway::answer_directly`), hyper would
    // leave it out of a 304.
    let bytes = xml_body.len() as u64;
    let length = HeaderValue::from(bytes);
    let mut response = Response::new(Body::from(xml_body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    headers.insert(CONTENT_LENGTH, length);
    (response, bytes)
}

#[cfg(test)]
mod tests {
    use super::SimpleGet;
    use axum::http::Request;
    use axum::http::request::Parts;
    use axum::http::uri::PathAndQuery;
    use azimuth_worker::request::RequestHead;

    fn simple_get(head: &Parts, anonymous_read: bool) -> Option<SimpleGet> {
        super::simple_get(&RequestHead::from_parts(head).unwrap(), anonymous_read)
    }

    #[test]
    fn header_names_are_matched_in_any_case_as_sent() {
        let read = |headers: &[(&'static [u8], &'static [u8])]| {
            let head = RequestHead::get(PathAndQuery::from_static("/data/k"), headers);
            super::simple_get(&head, true)
        };
        let get = read(&[(b"Host", b"h"), (b"RANGE", b"bytes=0-9")]).unwrap();
        assert!(get.range.is_some());
        for refused in [
            &[(&b"X-Amz-Date"[..], &b"x"[..])][..],
            &[(b"Authorization", b"AWS4-HMAC-SHA256 x")],
            &[(b"Range", b"bytes=0-1"), (b"range", b"bytes=2-3")],
            &[(b"If-Match", b"not a tag")],
        ] {
            assert!(read(refused).is_none(), "{refused:?}");
        }
    }

    fn get(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_anonymous_plain_gets_of_objects_take_the_hot_path() {
        let simple = |head: &Parts| simple_get(head, true).is_some();
        assert!(simple(&get("/data/a/b%20c.bin", &[("range", "bytes=0-9")])));
        assert!(simple(&get(
            "/data/k",
            &[
                ("if-match", "\"abc\""),
                ("if-modified-since", "Tue, 01 Dec 2026 10:00:00 GMT")
            ]
        )));
        // Anonymous reads off: s3s refuses it, with AccessDenied.
        assert!(simple_get(&get("/data/k", &[]), false).is_none());
        // Signed, presigned, overridden, or with S3 headers of its own.
        assert!(!simple(&get(
            "/data/k",
            &[("authorization", "AWS4-HMAC-SHA256 x")]
        )));
        assert!(!simple(&get("/data/k?X-Amz-Signature=00", &[])));
        assert!(!simple(&get("/data/k?response-content-type=a/b", &[])));
        assert!(!simple(&get(
            "/data/k",
            &[("x-amz-checksum-mode", "ENABLED")]
        )));
        // Not an object: a bucket, the root, a bucket name S3 refuses.
        assert!(!simple(&get("/data", &[])));
        assert!(!simple(&get("/data/", &[])));
        assert!(!simple(&get("/", &[])));
        assert!(!simple(&get("/Bad_Bucket/k", &[])));
        // Headers s3s would refuse, left for it to name.
        assert!(!simple(&get("/data/k", &[("range", "bytes=x-")])));
        assert!(!simple(&get(
            "/data/k",
            &[("if-modified-since", "yesterday")]
        )));
        assert!(!simple(&get(
            "/data/k",
            &[("range", "bytes=0-1"), ("range", "bytes=2-3")]
        )));
        let head = Request::head("/data/k").body(()).unwrap().into_parts().0;
        assert!(!simple(&head));
    }
}
