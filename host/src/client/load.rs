//! Preloading: the file's replicas in the client's own cluster are asked to
//! cache it (`POST /load`), and the call returns once they have — the same
//! workers later reads of the file are placed on.

use super::Client;
use crate::config;
use crate::ufs::UfsError;

/// Why a file could not be preloaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Listing needs the UFS.
    #[error(
        "preloading lists files in the UFS, and this client has none ({} is not set)",
        config::UFS_ROOT
    )]
    NoUfs,
    /// The UFS failed.
    #[error(transparent)]
    Ufs(#[from] UfsError),
    /// Nothing in the UFS by that name.
    #[error("{0}: no such file or directory in the UFS")]
    NotFound(String),
    /// The client's cluster has no live worker.
    #[error("cluster {0} has no live worker to load into")]
    NoWorkers(String),
    /// A worker did not load it.
    #[error("worker {worker} could not load {path}: {why}")]
    Worker {
        /// The worker's id.
        worker: String,
        /// The file.
        path: String,
        /// Its answer, or the transport error.
        why: String,
    },
}

/// What loading one file did.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The workers that now hold it.
    pub workers: Vec<String>,
    /// The file's length.
    pub length: u64,
    /// Bytes the workers fetched from the UFS (0: it was already cached).
    pub fetched_bytes: u64,
}

impl Client {
    /// The files `path` names in the UFS, as (path, length): the file itself,
    /// or every file under the directory, sorted.
    pub async fn files_under(&self, path: &str) -> Result<Vec<(String, u64)>, LoadError> {
        let ufs = self.inner.ufs.as_ref().ok_or(LoadError::NoUfs)?;
        let path = path.trim_matches('/');
        if let Some(file) = ufs.head(path).await? {
            return Ok(vec![(file.path, file.length)]);
        }
        let files = ufs.list(path).await?;
        if files.is_empty() {
            return Err(LoadError::NotFound(path.to_owned()));
        }
        Ok(files)
    }

    /// Caches `path` in the client's own cluster, on the replicas reads of it
    /// are placed on (`alluxio.user.file.replication.min` of them), and waits
    /// until every one has it.
    pub async fn load(&self, path: &str) -> Result<Loaded, LoadError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            length: u64,
            loaded_bytes: Option<u64>,
        }
        let path = path.trim_start_matches('/');
        let placement = self.inner.placement();
        let (ring, records) = &placement.clusters[0];
        let ids = ring.replicas(path, self.inner.settings.replicas);
        if ids.is_empty() {
            return Err(LoadError::NoWorkers(self.inner.own_cluster.clone()));
        }
        let loads = ids.iter().map(|id| async move {
            let record = records.iter().find(|r| r.id == *id).expect("on the ring");
            let failed = |why: String| LoadError::Worker {
                worker: id.to_string(),
                path: path.to_owned(),
                why,
            };
            let url = format!("http://{}/load/{path}", record.http_address());
            let response = self
                .inner
                .http
                .post(url)
                .send()
                .await
                .map_err(|e| failed(crate::error_chain(&e)))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|e| failed(crate::error_chain(&e)))?;
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(LoadError::NotFound(path.to_owned()));
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                return Err(failed(format!("HTTP {status}: {}", text.trim())));
            }
            let answer: Answer = serde_json::from_slice(&body)
                .map_err(|e| failed(format!("unreadable answer: {e}")))?;
            self.inner.forget_probe(id, path);
            Ok(answer)
        });
        let mut loaded = Loaded {
            workers: ids.iter().map(|id| id.to_string()).collect(),
            length: 0,
            fetched_bytes: 0,
        };
        for answer in futures::future::join_all(loads).await {
            let answer = answer?;
            loaded.length = answer.length;
            loaded.fetched_bytes += answer.loaded_bytes.unwrap_or(0);
        }
        Ok(loaded)
    }
}
