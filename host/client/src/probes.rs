//! Cache-state probes: with `alluxio.user.replica.prefer.cached.replicas`,
//! the client asks each candidate's `/status` before ranking, so the policy
//! can put fully cached replicas first.
//!
//! A read must not wait long on them: all are asked at once, within
//! [`PROBE_TIMEOUT`], and one that fails leaves the candidate `unknown`.
//! Answers are remembered for [`PROBE_MEMORY`] per path, in an LRU of
//! [`PROBE_MEMORY_ENTRIES`] paths: a burst of reads of one file costs one
//! round of probes, and a file's cache state is seldom a second old when it
//! matters (a load or a failure forgets what was remembered).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use azimuth_cluster::api::FileStatus;
use azimuth_policy::{CacheState, Candidate};
use lru::LruCache;

use crate::placement::Member;
use crate::worker_api::WorkerApi;

/// How long a cache-state probe may take: reads must not wait on it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a probe's answer is used for later reads of the same file.
const PROBE_MEMORY: Duration = Duration::from_secs(1);
/// Paths with remembered answers kept at most; the least recently read go first.
const PROBE_MEMORY_ENTRIES: usize = 65_536;

/// What one worker said of one file, and when.
struct Probed {
    worker: String,
    when: Instant,
    length: u64,
    cached_bytes: u64,
    fully_cached: bool,
}

/// The probes, and what they said lately.
pub(crate) struct CacheProbes {
    api: WorkerApi,
    /// By path (a read looks up without allocating), each worker's answer.
    memory: Mutex<LruCache<String, Vec<Probed>>>,
}

impl CacheProbes {
    pub(crate) fn new(api: WorkerApi) -> Self {
        Self {
            api,
            memory: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(PROBE_MEMORY_ENTRIES).expect("not zero"),
            )),
        }
    }

    /// Sets each candidate's cache state from what `replicas` (in the same
    /// order) say of `path`, remembered or asked now. Returns the file's
    /// length if a worker said it.
    pub(crate) async fn probe(
        &self,
        path: &str,
        replicas: &[std::sync::Arc<Member>],
        candidates: &mut [Candidate],
    ) -> Option<u64> {
        let now = Instant::now();
        let remembered: Vec<Option<(u64, u64, bool)>> = {
            let mut memory = self.lock();
            let known = memory.get(path).map_or(&[][..], Vec::as_slice);
            replicas
                .iter()
                .map(|r| {
                    known
                        .iter()
                        .find(|p| {
                            p.worker == r.record.id && now.duration_since(p.when) < PROBE_MEMORY
                        })
                        .map(|p| (p.length, p.cached_bytes, p.fully_cached))
                })
                .collect()
        };
        if remembered.iter().all(Option::is_some) {
            // A burst of reads of one file: no request, no bookkeeping.
            return apply(candidates, remembered.into_iter());
        }
        let asks = replicas
            .iter()
            .zip(&remembered)
            .map(|(r, known)| async move {
                match known {
                    Some(known) => Ok(*known),
                    None => self
                        .api
                        .status(&r.address, path, PROBE_TIMEOUT)
                        .await
                        .map(|s: FileStatus| (s.length, s.cached_bytes, s.fully_cached)),
                }
            });
        let answers: Vec<Option<(u64, u64, bool)>> = futures::future::join_all(asks)
            .await
            .into_iter()
            .map(Result::ok)
            .collect();
        {
            let mut memory = self.lock();
            for ((answer, known), replica) in answers.iter().zip(&remembered).zip(replicas) {
                let (Some((length, cached_bytes, fully_cached)), None) = (answer, known) else {
                    continue;
                };
                let entry = memory.get_or_insert_mut(path.to_owned(), Vec::new);
                entry.retain(|p| p.worker != replica.record.id);
                entry.push(Probed {
                    worker: replica.record.id.clone(),
                    when: now,
                    length: *length,
                    cached_bytes: *cached_bytes,
                    fully_cached: *fully_cached,
                });
            }
        }
        apply(candidates, answers.into_iter())
    }

    /// Forgets what `worker` said of `path` (its cache changed, or it failed).
    pub(crate) fn forget(&self, worker: &str, path: &str) {
        if let Some(answers) = self.lock().peek_mut(path) {
            answers.retain(|p| p.worker != worker);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Vec<Probed>>> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sets each candidate's cache state from its answer (none: it stays
/// `unknown`); returns the file's length if any answer said it.
fn apply(
    candidates: &mut [Candidate],
    answers: impl Iterator<Item = Option<(u64, u64, bool)>>,
) -> Option<u64> {
    let mut file_length = None;
    for (candidate, answer) in candidates.iter_mut().zip(answers) {
        let Some((length, cached_bytes, fully_cached)) = answer else {
            continue;
        };
        file_length = Some(length);
        candidate.cached_bytes = cached_bytes;
        candidate.cache = if fully_cached {
            CacheState::Full
        } else if cached_bytes > 0 {
            CacheState::Partial
        } else {
            CacheState::None
        };
    }
    file_length
}
