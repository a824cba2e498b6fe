//! What the gateway served: requests by S3 operation and status, bytes
//! sent by operation, and a histogram of the time to each response's
//! headers. `/metrics` shows them, then the read path's counters (by source
//! tier, cross-zone bytes) and the active policy's sha256.
//!
//! Every S3 request is counted (by the gateway's `serve_s3`), the ones s3s
//! refuses itself too; the operation is told from the method and the path.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use azimuth_cluster::prometheus;

/// Upper bounds of the latency buckets, in seconds.
const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The operation of the hot path's answers.
pub(crate) const GET_OBJECT: &str = "GetObject";

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct GatewayMetrics {
    /// Requests by (operation, status).
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Bytes of response bodies by operation (their `Content-Length`).
    bytes: Mutex<BTreeMap<&'static str, u64>>,
    /// GetObject's 200s and their bytes, the hot path's answer, counted
    /// apart: two atomic additions rather than two locks and two map
    /// lookups a request. Shown merged into `requests` and `bytes`.
    got: AtomicU64,
    got_bytes: AtomicU64,
    /// Requests by latency bucket (the last: above every bound).
    latency: [AtomicU64; BOUNDS.len() + 1],
    /// Total latency, microseconds.
    latency_us: AtomicU64,
}

/// The S3 operation a request asks for, told from its method, path and query.
pub(crate) fn operation(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let segments = path
        .trim_start_matches('/')
        .splitn(2, '/')
        .filter(|s| !s.is_empty())
        .count();
    let has = |name: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|p| p == name || p.starts_with(&format!("{name}=")))
        })
    };
    match (method, segments) {
        (&Method::GET, 0) => "ListBuckets",
        (&Method::HEAD, 1) => "HeadBucket",
        (&Method::GET, 1) if has("location") => "GetBucketLocation",
        (&Method::GET, 1) if query.is_some_and(|q| q.split('&').any(|p| p == "list-type=2")) => {
            "ListObjectsV2"
        }
        (&Method::GET, 1) => "ListObjects",
        (&Method::HEAD, _) => "HeadObject",
        (&Method::GET, _) => GET_OBJECT,
        _ => "Unsupported",
    }
}

impl GatewayMetrics {
    pub(crate) fn observe(
        &self,
        operation: &'static str,
        status: StatusCode,
        bytes: u64,
        started: Instant,
    ) {
        if operation == GET_OBJECT && status == StatusCode::OK {
            self.got.fetch_add(1, Ordering::Relaxed);
            self.got_bytes.fetch_add(bytes, Ordering::Relaxed);
        } else {
            *self
                .requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry((operation, status.as_u16()))
                .or_default() += 1;
            if bytes > 0 {
                *self
                    .bytes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(operation)
                    .or_default() += bytes;
            }
        }
        let elapsed = started.elapsed();
        let bucket = BOUNDS
            .iter()
            .position(|&b| elapsed.as_secs_f64() <= b)
            .unwrap_or(BOUNDS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Requests served so far with `operation` and `status`.
    pub fn requests(&self, operation: &str, status: u16) -> u64 {
        self.requests_by_status()
            .iter()
            .filter(|((op, st), _)| *op == operation && *st == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests by (operation, status), GetObject's 200s merged in.
    fn requests_by_status(&self) -> BTreeMap<(&'static str, u16), u64> {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let got = self.got.load(Ordering::Relaxed);
        if got > 0 {
            *requests.entry((GET_OBJECT, 200)).or_default() += got;
        }
        requests
    }

    /// Response bytes by operation, GetObject's 200s merged in.
    fn bytes_by_operation(&self) -> BTreeMap<&'static str, u64> {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let got = self.got_bytes.load(Ordering::Relaxed);
        if got > 0 {
            *bytes.entry(GET_OBJECT).or_default() += got;
        }
        bytes
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let requests = self.requests_by_status();
            let mut family = prometheus::family(
                &mut out,
                "azimuth_gateway_requests_total",
                "counter",
                "S3 requests by operation and HTTP status.",
            );
            for ((operation, status), n) in requests.iter() {
                family.sample(
                    &[("operation", operation), ("status", &status.to_string())],
                    n,
                );
            }
        }
        {
            let bytes = self.bytes_by_operation();
            let mut family = prometheus::family(
                &mut out,
                "azimuth_gateway_response_bytes_total",
                "counter",
                "Bytes of response bodies, by operation.",
            );
            for (operation, n) in bytes.iter() {
                family.sample(&[("operation", operation)], n);
            }
        }
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        prometheus::histogram(
            &mut out,
            "azimuth_gateway_request_seconds",
            "Time from a request to its response's headers.",
            &BOUNDS,
            &counts,
            self.latency_us.load(Ordering::Relaxed) as f64 / 1e6,
        );
        out
    }
}

/// An error of the S3 service itself (not an S3 error, which it answers
/// with XML): 500, logged.
pub(crate) fn internal_error(error: s3s::HttpError) -> Response {
    tracing::error!(?error, "the S3 service failed a request");
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .body("internal error\n".into())
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_objects_counted_apart_show_merged_with_every_other_answer() {
        let metrics = GatewayMetrics::default();
        let now = Instant::now();
        metrics.observe(GET_OBJECT, StatusCode::OK, 4096, now);
        metrics.observe("GetObject", StatusCode::OK, 10, now);
        metrics.observe(GET_OBJECT, StatusCode::NOT_FOUND, 300, now);
        metrics.observe("HeadObject", StatusCode::OK, 0, now);
        assert_eq!(metrics.requests("GetObject", 200), 2);
        assert_eq!(metrics.requests("GetObject", 404), 1);
        assert_eq!(metrics.requests("HeadObject", 200), 1);
        let text = metrics.render();
        assert!(
            text.contains(
                "azimuth_gateway_requests_total{operation=\"GetObject\",status=\"200\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("azimuth_gateway_response_bytes_total{operation=\"GetObject\"} 4406\n"),
            "{text}"
        );
        assert!(
            text.contains("azimuth_gateway_request_seconds_count 4\n"),
            "{text}"
        );
    }

    #[test]
    fn operations_are_told_from_method_path_and_query() {
        let op = |m: Method, p: &str, q: Option<&str>| operation(&m, p, q);
        assert_eq!(op(Method::GET, "/", None), "ListBuckets");
        assert_eq!(op(Method::HEAD, "/data", None), "HeadBucket");
        assert_eq!(
            op(Method::GET, "/data", Some("location")),
            "GetBucketLocation"
        );
        assert_eq!(
            op(Method::GET, "/data/", Some("list-type=2&prefix=a")),
            "ListObjectsV2"
        );
        assert_eq!(op(Method::GET, "/data", Some("marker=x")), "ListObjects");
        assert_eq!(op(Method::GET, "/data/a/b", None), "GetObject");
        assert_eq!(op(Method::HEAD, "/data/a", None), "HeadObject");
        assert_eq!(op(Method::PUT, "/data/a", None), "Unsupported");
    }
}
