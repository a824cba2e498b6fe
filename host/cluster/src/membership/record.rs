//! What a worker publishes about itself: the JSON value of its membership key.

use serde::{Deserialize, Serialize};

/// A worker as membership knows it. Unknown fields are ignored when read, so
/// newer workers can add fields without breaking older readers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// The worker's identity, unique within its cluster.
    pub id: String,
    /// The cluster it belongs to.
    pub cluster: String,
    /// Its availability zone.
    pub zone: String,
    /// The host clients reach it at.
    pub host: String,
    /// Its ports.
    pub ports: Ports,
    /// Cache capacity in bytes (0 until the worker has a cache).
    #[serde(default)]
    pub capacity_bytes: u64,
    /// Cache bytes in use.
    #[serde(default)]
    pub used_bytes: u64,
    /// When it started, in milliseconds since the Unix epoch.
    pub start_time_ms: u64,
    /// The Azimuth version it runs.
    pub version: String,
    /// The sha256 of the policy it runs, if it runs one.
    #[serde(default)]
    pub policy_sha256: Option<String>,
}

/// A worker's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// The HTTP API (data path, status, metrics).
    pub http: u16,
}

impl WorkerRecord {
    /// `host:port` of the HTTP API.
    pub fn http_address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.ports.http)
        } else {
            format!("{}:{}", self.host, self.ports.http)
        }
    }
}
