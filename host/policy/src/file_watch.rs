//! Hot swap from a file: the host follows `azimuth.policy.path` and swaps in
//! each new valid component written there.
//!
//! The file is polled (size and modification time, then content hash) rather
//! than watched through inotify: polling also sees a Kubernetes ConfigMap
//! update, which swaps a symlink in a parent directory and which file-event
//! APIs miss, and it costs one `stat` per interval.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::component::{CompileError, sha256_hex};
use crate::engine::PolicyEngine;

/// Why a policy file could not be used at startup.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    /// The file could not be read.
    #[error("cannot read policy file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("policy file {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why it is not a policy.
        #[source]
        source: CompileError,
    },
}

/// Loads the policy at `path` and makes it active; used at startup, where a
/// bad policy file must stop the process rather than be skipped.
pub fn load_policy_file(engine: &PolicyEngine, path: &Path) -> Result<(), PolicyFileError> {
    let bytes = std::fs::read(path).map_err(|source| PolicyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let component = engine
        .compile(&bytes, &path.display().to_string())
        .map_err(|source| PolicyFileError::Invalid {
            path: path.to_owned(),
            source,
        })?;
    engine.swap(component);
    Ok(())
}

/// Follows `path` every `interval`, swapping in each new valid component.
/// Runs until the returned task is aborted.
pub fn spawn_file_watch(
    engine: PolicyEngine,
    path: PathBuf,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_stamp: Option<(u64, SystemTime)> = None;
        let mut last_refused: Option<String> = None;
        let mut reported_missing = false;
        loop {
            ticker.tick().await;
            let stamp = match tokio::fs::metadata(&path).await {
                Ok(meta) => (
                    meta.len(),
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ),
                Err(e) => {
                    if !reported_missing {
                        tracing::warn!(path = %path.display(), "cannot read policy file ({e}); the active policy stays");
                        reported_missing = true;
                    }
                    last_stamp = None;
                    continue;
                }
            };
            reported_missing = false;
            if last_stamp == Some(stamp) {
                continue;
            }
            last_stamp = Some(stamp);
            let bytes = match tokio::fs::read(&path).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot read policy file ({e}); the active policy stays");
                    continue;
                }
            };
            let sha = sha256_hex(&bytes);
            if sha == engine.active().sha256 || last_refused.as_ref() == Some(&sha) {
                continue;
            }
            // Compiling takes milliseconds of CPU: keep it off the async workers.
            let (swapper, origin) = (engine.clone(), path.display().to_string());
            let result = tokio::task::spawn_blocking(move || {
                swapper.compile_and_swap(&bytes, &origin).map(drop)
            })
            .await;
            last_refused = match result {
                Ok(Ok(())) => None,
                // compile_and_swap has logged why; remember the bytes so the same
                // bad file is not reloaded and re-logged every interval.
                Ok(Err(_)) => Some(sha),
                Err(e) => {
                    tracing::error!("policy load task failed: {e}");
                    None
                }
            };
        }
    })
}
