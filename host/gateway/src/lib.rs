//! An S3 gateway over Azimuth's read path: Spark, Trino, data loaders, the
//! AWS CLI, rclone — anything that speaks S3 — read through the multi-zone
//! cache. Each object read is a read of the [`azimuth_client::Client`]:
//! ranked by the active policy, failing over across zones at the exact byte,
//! the UFS last, leaving passive replicas.
//!
//! Buckets are the top-level directories of the UFS root, as Alluxio's S3
//! API maps them; the rest of an object's path is its key (`s3://data/a/b`
//! is the UFS file `data/a/b`). Path-style requests only. Reads only: every
//! write answers `NotImplemented`.
//!
//! - `names`: buckets and keys to UFS paths.
//! - `objects`: HeadObject and GetObject, with ranges and conditions.
//! - `fast`: the hot path, anonymous GetObject answered without s3s.
//! - `listing`: ListObjects v1 and v2, a page at a time from the UFS.
//! - `access`: SigV4 keys, and anonymous reads when allowed.
//! - `metrics`: requests by operation and status, bytes and latency.
//!
//! [`Gateway::router`] is an axum router with the S3 API and `/metrics` and
//! `/healthz` beside it, to serve alone (`azimuth gateway`) or to mount in a
//! server of one's own.

#![warn(missing_docs)]

mod access;
mod fast;
mod listing;
mod metrics;
mod names;
mod objects;
mod s3;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use azimuth_client::Client;
use azimuth_cluster::config::{ConfigError, GatewaySettings, SiteConfig};
use azimuth_ufs::MetadataCache;
use azimuth_worker::request::RequestHead;
use azimuth_worker::{Answer, Front};
use s3s::service::{S3Service, S3ServiceBuilder};
use tower::ServiceExt;

pub use self::metrics::GatewayMetrics;

/// Bucket names the gateway's own routes take: no bucket of these names is
/// served (their paths are `/metrics` and `/healthz`).
pub const RESERVED_BUCKETS: [&str; 2] = ["metrics", "healthz"];

/// An S3 gateway: the client it reads through, what it knows of the UFS's
/// files, and its access settings. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    metadata: MetadataCache,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
}

impl Inner {
    /// Answers an S3 request, on the hot path when it is one (`fast`),
    /// through s3s otherwise, and counts it: here, so that the requests s3s
    /// refuses itself (a bad signature, an unsigned request) count too.
    async fn serve_s3(&self, service: S3Service, request: Request) -> Response {
        let started = Instant::now();
        let operation = metrics::operation(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        let (head, body) = request.into_parts();
        let simple = RequestHead::from_parts(&head)
            .and_then(|view| fast::simple_get(&view, self.settings.anonymous_read));
        let response = match simple {
            Some(get) => self.serve_simple_get(get).await.0.into_response(),
            None => match service.oneshot(Request::from_parts(head, body)).await {
                Ok(response) => response.map(Body::new),
                Err(error) => metrics::internal_error(error),
            },
        };
        self.count(operation, &response, started);
        response
    }

    /// Counts `response`, the answer to an `operation` that began at
    /// `started`.
    fn count(&self, operation: &'static str, response: &Response, started: Instant) {
        let bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.metrics
            .observe(operation, response.status(), bytes, started);
    }
}

impl Gateway {
    /// A gateway reading through `client`, with the UFS and settings of
    /// `config` (which must name the UFS: listings come from it).
    pub fn new(client: Client, config: &SiteConfig) -> Result<Self, ConfigError> {
        let ufs = config
            .require_ufs("the S3 gateway lists buckets and objects in the UFS")?
            .clone();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                metadata: MetadataCache::new(ufs, config.metadata_sync),
                settings: config.gateway.clone(),
                metrics: GatewayMetrics::default(),
            }),
        })
    }

    /// The client the gateway reads through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The gateway's request counters.
    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    /// The S3 API, with `GET /metrics` (Prometheus: the gateway's requests,
    /// then the read path's counters and the active policy) and
    /// `GET /healthz` beside it.
    pub fn router(&self) -> Router {
        let mut builder = S3ServiceBuilder::new(s3::S3Api::new(self.inner.clone()));
        // An auth provider is always set, even without keys: s3s checks
        // access only when one is, and anonymous requests must be checked.
        builder.set_auth(access::Keys::new(self.inner.settings.keys.clone()));
        builder.set_access(access::ReadOnly {
            anonymous_read: self.inner.settings.anonymous_read,
        });
        let service = builder.build();
        let gateway = self.clone();
        let s3 = self.inner.clone();
        Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let gateway = gateway.clone();
                    async move { gateway.render_metrics() }
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .fallback(move |request: Request| {
                let (inner, service) = (s3.clone(), service.clone());
                async move { inner.serve_s3(service, request).await }
            })
    }

    /// The answer to the request `head` begins when it takes the hot path (an anonymous
    /// GetObject while anonymous reads are on: see the `fast` module),
    /// counted as [`Gateway::router`] counts it; `None` for every other
    /// request, to serve through the router. For a server that can ask
    /// before it routes (`azimuth gateway` does, through the [`Front`] a
    /// gateway is): axum's matching and handler plumbing cost a cached 4 KiB
    /// read some 3,000 instructions. The answer is boxed here, where it is
    /// made: it is a large future, and every move of it would copy it.
    pub fn answer_directly(&self, head: &RequestHead<'_>) -> Option<Answer> {
        let started = Instant::now();
        let get = fast::simple_get(head, self.inner.settings.anonymous_read)?;
        let inner = self.inner.clone();
        Some(Box::pin(async move {
            let (reply, bytes) = inner.serve_simple_get(get).await;
            // (`simple_get` takes only GETs of objects: `metrics::operation`
            // names them so.)
            inner
                .metrics
                .observe(metrics::GET_OBJECT, reply.status(), bytes, started);
            reply
        }))
    }

    /// Everything `/metrics` shows.
    pub fn render_metrics(&self) -> String {
        let mut out = self.inner.metrics.render();
        out.push_str(&self.inner.client.metrics());
        out
    }
}

/// The hot path, asked before the router by the worker's accept loop
/// (`azimuth_worker::serve`, which `azimuth gateway` serves on).
impl Front for Gateway {
    fn answer(&self, head: &RequestHead<'_>) -> Option<Answer> {
        self.answer_directly(head)
    }
}
