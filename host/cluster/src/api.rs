//! The worker's HTTP API as both sides name it: the routes and the JSON the
//! worker answers with. `azimuth-worker` serves them; `azimuth-client`'s
//! `WorkerApi` calls them. Paths after a route prefix are UFS-relative.

use serde::{Deserialize, Serialize};

/// `GET /files/{path}`: the file, whole (200) or one `Range` (206).
pub const FILES: &str = "/files/";
/// `GET /status/{path}`: a [`FileStatus`].
pub const STATUS: &str = "/status/";
/// `POST /load/{path}`: cache the whole file; a [`FileStatus`] with `loaded_bytes`.
pub const LOAD: &str = "/load/";
/// `DELETE /cache/{path}`: free the file's pages; a [`Freed`].
pub const CACHE: &str = "/cache/";
/// `GET /metrics`: Prometheus text.
pub const METRICS: &str = "/metrics";
/// `GET /healthz`: 200 while the worker serves.
pub const HEALTHZ: &str = "/healthz";

/// What a worker knows of one file (`/status`, and `/load` once loaded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatus {
    /// The UFS-relative path.
    pub path: String,
    /// The file's length at its current UFS version.
    pub length: u64,
    /// Bytes of that version the worker has cached.
    pub cached_bytes: u64,
    /// Whether every byte is cached.
    pub fully_cached: bool,
    /// With `/load`: bytes the load fetched from the UFS (0: it was cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_bytes: Option<u64>,
}

/// What `DELETE /cache/{path}` freed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freed {
    /// The UFS-relative path.
    pub path: String,
    /// Data bytes freed.
    pub freed_bytes: u64,
}
