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
//! - `listing`: ListObjects v1 and v2, a page at a time from the UFS.
//! - `access`: SigV4 keys, and anonymous reads when allowed.
//! - `metrics`: requests by operation and status, bytes and latency.
//!
//! [`Gateway::router`] is an axum router with the S3 API and `/metrics` and
//! `/healthz` beside it, to serve alone (`azimuth gateway`) or to mount in a
//! server of one's own.

#![warn(missing_docs)]

mod access;
mod listing;
mod metrics;
mod names;
mod objects;
mod s3;

use std::sync::Arc;

use axum::Router;
use axum::error_handling::HandleError;
use azimuth_client::Client;
use azimuth_cluster::config::{ConfigError, GatewaySettings, SiteConfig};
use azimuth_ufs::MetadataCache;
use s3s::service::S3ServiceBuilder;

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
        let service = HandleError::new(builder.build(), metrics::internal_error);
        let gateway = self.clone();
        Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let gateway = gateway.clone();
                    async move { gateway.render_metrics() }
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .fallback_service(service)
            .layer(axum::middleware::from_fn_with_state(
                self.inner.clone(),
                metrics::record,
            ))
    }

    /// Everything `/metrics` shows.
    pub fn render_metrics(&self) -> String {
        let mut out = self.inner.metrics.render();
        out.push_str(&self.inner.client.metrics());
        out
    }
}
