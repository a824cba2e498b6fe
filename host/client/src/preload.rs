//! Preloading: the file's replicas in the client's own cluster are asked to
//! cache it (`POST /load`), and the call returns once they have — the same
//! workers later reads of the file are placed on.

use azimuth_cluster::config;
use azimuth_ufs::UfsError;

use crate::Client;
use crate::placement::Member;
use crate::ring::HashRing;
use crate::worker_api::ApiError;

/// Why a file could not be preloaded.
#[derive(Debug, thiserror::Error)]
pub enum PreloadError {
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
    #[error("worker {worker} could not load {path}: {source}")]
    Worker {
        /// The worker's id.
        worker: String,
        /// The file.
        path: String,
        /// Its answer, or the transport error.
        #[source]
        source: ApiError,
    },
}

/// What preloading one file did.
#[derive(Clone, Debug)]
pub struct Preloaded {
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
    pub async fn files_under(&self, path: &str) -> Result<Vec<(String, u64)>, PreloadError> {
        let ufs = self.inner.ufs.as_ref().ok_or(PreloadError::NoUfs)?;
        let path = path.trim_matches('/');
        if let Some(file) = ufs.head(path).await? {
            return Ok(vec![(file.path, file.length)]);
        }
        let files = ufs.list(path).await?;
        if files.is_empty() {
            return Err(PreloadError::NotFound(path.to_owned()));
        }
        Ok(files)
    }

    /// Caches `path` in the client's own cluster, on the replicas reads of it
    /// are placed on (`alluxio.user.file.replication.min` of them), and waits
    /// until every one has it.
    pub async fn preload(&self, path: &str) -> Result<Preloaded, PreloadError> {
        let path = path.trim_start_matches('/');
        let placement = self.inner.placements.now();
        let targets: Vec<&Member> = placement.clusters[0]
            .replicas(HashRing::point_of(path), self.inner.settings.replicas)
            .map(|member| &**member)
            .collect();
        if targets.is_empty() {
            return Err(PreloadError::NoWorkers(self.inner.own_cluster.clone()));
        }
        let loads = targets.iter().map(|member| async move {
            let id = &member.record.id;
            match self.inner.api.load(&member.address, path).await {
                Ok(status) => {
                    self.inner.probes.forget(id, path);
                    Ok(status)
                }
                Err(ApiError::NotFound) => Err(PreloadError::NotFound(path.to_owned())),
                Err(source) => Err(PreloadError::Worker {
                    worker: id.to_string(),
                    path: path.to_owned(),
                    source,
                }),
            }
        });
        let mut preloaded = Preloaded {
            workers: targets.iter().map(|m| m.record.id.clone()).collect(),
            length: 0,
            fetched_bytes: 0,
        };
        for status in futures::future::join_all(loads).await {
            let status = status?;
            preloaded.length = status.length;
            preloaded.fetched_bytes += status.loaded_bytes.unwrap_or(0);
        }
        Ok(preloaded)
    }
}
