//! Remembering each file's UFS version and length, so that a cached read
//! does not cost a UFS round trip (a `HEAD` per read, with S3).
//!
//! How long an answer is trusted is Alluxio's
//! `alluxio.user.file.metadata.sync.interval`: `-1` never asks again after
//! the first time, `0` asks on every access, a duration asks again once the
//! answer is that old. A change in the UFS is seen within the interval, and
//! never mixed into a read: reads name the version they expect, and a read
//! that meets another version fails and makes its caller forget the answer
//! ([`MetadataCache::forget`]).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::{Ufs, UfsError, UfsFile};

/// Paths remembered at most; the least recently used are forgotten first.
const ENTRIES: usize = 100_000;

/// How long a file's metadata is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncInterval {
    /// `-1`: learnt once, never asked again (until forgotten).
    Never,
    /// `0`: asked on every access.
    Always,
    /// Asked again once the answer is this old.
    Every(Duration),
}

impl SyncInterval {
    /// Parses Alluxio's syntax: `-1`, `0`, or a duration (`parse_duration`
    /// reads `500ms`, `1min`, …).
    pub fn parse(
        text: &str,
        parse_duration: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<Self, String> {
        match text.trim() {
            "-1" => Ok(SyncInterval::Never),
            other => match parse_duration(other)? {
                d if d.is_zero() => Ok(SyncInterval::Always),
                d => Ok(SyncInterval::Every(d)),
            },
        }
    }

    fn fresh(&self, age: Duration) -> bool {
        match self {
            SyncInterval::Never => true,
            SyncInterval::Always => false,
            SyncInterval::Every(d) => age < *d,
        }
    }
}

/// What is remembered of a path: its version (or that it has none), and
/// when the UFS said so.
type Known = (Option<Arc<UfsFile>>, Instant);

/// The UFS with its files' metadata remembered. Answers "no such file" are
/// remembered too, for the same time.
#[derive(Debug)]
pub struct MetadataCache {
    ufs: Ufs,
    interval: SyncInterval,
    known: Mutex<LruCache<String, Known>>,
}

impl MetadataCache {
    /// Remembers `ufs`'s answers for `interval`.
    pub fn new(ufs: Ufs, interval: SyncInterval) -> Self {
        Self {
            ufs,
            interval,
            known: Mutex::new(LruCache::new(NonZeroUsize::new(ENTRIES).expect("not zero"))),
        }
    }

    /// The UFS.
    pub fn ufs(&self) -> &Ufs {
        &self.ufs
    }

    /// The interval answers are trusted for.
    pub fn interval(&self) -> SyncInterval {
        self.interval
    }

    /// `path`'s version, remembered or asked now. Shared, not copied: a
    /// remembered version is answered on every read of a hot file.
    pub async fn head(&self, path: &str) -> Result<Option<Arc<UfsFile>>, UfsError> {
        if self.interval != SyncInterval::Always {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((file, when)) = known.get(path)
                && self.interval.fresh(when.elapsed())
            {
                return Ok(file.clone());
            }
        }
        let file = self.ufs.head(path).await?.map(Arc::new);
        if self.interval != SyncInterval::Always {
            self.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(path.to_owned(), (file.clone(), Instant::now()));
        }
        Ok(file)
    }

    /// True if `file` is what is remembered of `path` and still fresh: what
    /// [`MetadataCache::head`] would answer, without its copy.
    pub fn is_current(&self, file: &UfsFile) -> bool {
        self.interval != SyncInterval::Always
            && self
                .known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(file.path.as_str())
                .is_some_and(|(known, when)| {
                    known.as_deref() == Some(file) && self.interval.fresh(when.elapsed())
                })
    }

    /// Forgets what is known of `path`: the next access asks the UFS.
    pub fn forget(&self, path: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::S3Options;

    fn seconds(text: &str) -> Result<Duration, String> {
        text.strip_suffix('s')
            .and_then(|n| n.parse().ok())
            .or_else(|| text.parse().ok().map(|ms: u64| ms as f64 / 1000.0))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{text:?} is not a duration"))
    }

    #[test]
    fn the_interval_reads_alluxio_syntax() {
        assert_eq!(SyncInterval::parse("-1", seconds), Ok(SyncInterval::Never));
        assert_eq!(SyncInterval::parse("0", seconds), Ok(SyncInterval::Always));
        assert_eq!(
            SyncInterval::parse("30s", seconds),
            Ok(SyncInterval::Every(Duration::from_secs(30)))
        );
        assert!(SyncInterval::parse("soon", seconds).is_err());
    }

    #[tokio::test]
    async fn answers_are_kept_for_the_interval_and_forgotten_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let ufs = Ufs::open(dir.path().to_str().unwrap(), &S3Options::default()).unwrap();
        std::fs::write(dir.path().join("f"), b"one").unwrap();
        let never = MetadataCache::new(ufs.clone(), SyncInterval::Never);
        let always = MetadataCache::new(ufs, SyncInterval::Always);
        assert_eq!(never.head("f").await.unwrap().unwrap().length, 3);
        assert!(never.head("missing").await.unwrap().is_none());
        std::fs::write(dir.path().join("f"), b"longer").unwrap();
        std::fs::write(dir.path().join("missing"), b"here").unwrap();
        assert_eq!(
            never.head("f").await.unwrap().unwrap().length,
            3,
            "remembered"
        );
        assert!(
            never.head("missing").await.unwrap().is_none(),
            "absence too"
        );
        let remembered = never.head("f").await.unwrap().unwrap();
        assert!(
            never.is_current(&remembered),
            "what head answers is current"
        );
        let now = always.head("f").await.unwrap().unwrap();
        assert_eq!(now.length, 6);
        assert!(!never.is_current(&now), "another version is not current");
        assert!(!always.is_current(&now), "nothing is current at interval 0");
        never.forget("f");
        assert!(!never.is_current(&remembered), "forgotten");
        assert_eq!(never.head("f").await.unwrap().unwrap().length, 6);
    }
}
