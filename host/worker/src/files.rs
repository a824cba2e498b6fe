//! Serving UFS files through the page cache: what a read does, step by step.
//!
//! 1. `open`: learn the file's current version — from what the UFS said
//!    lately, within `alluxio.user.file.metadata.sync.interval`, else from
//!    the UFS; pages of other versions of it are dropped, so they can never
//!    be served. A read that meets a newer version in the UFS fails, and the
//!    version is asked again on the next open.
//! 2. For each page the range touches: read the bytes from the cache (the
//!    checksums of the blocks read are verified there); on a miss, fetch the
//!    whole page from the UFS — one fetch per page however many readers
//!    miss it at once — cache it, and serve from the fetched bytes.
//! 3. Pages are fetched a few ahead of the one being sent.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::header;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use lru::LruCache;
use tokio::sync::OnceCell;

use crate::cache::memory::MemoryPages;
use crate::cache::{FileKey, PageKey, PageStore};
use crate::reply::HeaderLines;
use azimuth_ufs::{MetadataCache, UfsError, UfsFile};

/// Pages fetched ahead of the one being sent.
const READ_AHEAD: usize = 4;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such file in the UFS.
    #[error("{0}: no such file in the UFS")]
    NotFound(String),
    /// The UFS failed.
    #[error(transparent)]
    Ufs(#[from] UfsError),
    /// The cache's disk failed.
    #[error("cache disk: {0}")]
    Disk(#[from] std::io::Error),
}

/// Read counters since start.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Page reads served from the cache.
    pub hits: AtomicU64,
    /// Of those, served from pages held in memory.
    pub memory_hits: AtomicU64,
    /// Page reads that had to go to the UFS (or wait for a fetch in flight).
    pub misses: AtomicU64,
    /// Bytes sent to clients.
    pub bytes_served: AtomicU64,
    /// Bytes read from the UFS.
    pub ufs_bytes: AtomicU64,
    /// Reads made from the UFS.
    pub ufs_reads: AtomicU64,
    /// Page fetches that found the UFS file changed from the version being
    /// read: the read stops there rather than mix two versions' bytes.
    pub ufs_changed: AtomicU64,
}

/// A file opened at its current UFS version.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The UFS file.
    pub file: UfsFile,
    /// Its cache key.
    pub key: FileKey,
    /// The headers of every answer with its bytes: `ETag` (`"` +
    /// `key.version` + `"`), `Accept-Ranges` and `Content-Type`, checked
    /// once per version, as lines to write ([`crate::reply::Prepared`]).
    pub lines: HeaderLines,
}

/// Versions remembered opened (see `Files::opened`).
const OPENED: usize = 10_000;

type Flights<K, V> = Mutex<HashMap<K, Arc<OnceCell<V>>>>;

/// The worker's files: the UFS seen through the page cache.
pub struct Files {
    /// The UFS, with its files' versions remembered.
    metadata: MetadataCache,
    store: Arc<dyn PageStore>,
    page_size: u64,
    /// The hottest small reads' pages, verified, in memory.
    memory: MemoryPages,
    /// Page fetches in flight, so concurrent misses share one UFS read.
    fetches: Flights<PageKey, Bytes>,
    /// Whole-file loads in flight, so concurrent loads share the work.
    loads: Flights<FileKey, u64>,
    /// The files opened lately, by path, at the version they were opened
    /// at: a hot file's cache key (two digests) and ETag are worked out,
    /// and its other versions' pages dropped, once per version rather than
    /// once per read.
    opened: Mutex<LruCache<String, Arc<Opened>>>,
    /// Counters.
    pub stats: ReadStats,
}

impl Files {
    /// Serves the UFS of `metadata` through `store` in pages of
    /// `page_size` bytes, keeping up to `memory_capacity` bytes of pages in
    /// memory.
    pub fn new(
        metadata: MetadataCache,
        store: Arc<dyn PageStore>,
        page_size: u64,
        memory_capacity: u64,
    ) -> Self {
        Self {
            metadata,
            store,
            page_size,
            memory: MemoryPages::new(memory_capacity),
            fetches: Mutex::default(),
            loads: Mutex::default(),
            opened: Mutex::new(LruCache::new(NonZeroUsize::new(OPENED).expect("not zero"))),
            stats: ReadStats::default(),
        }
    }

    /// The page size.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The page store.
    pub fn store(&self) -> &Arc<dyn PageStore> {
        &self.store
    }

    /// Bytes of pages held in memory.
    pub fn memory_used(&self) -> u64 {
        self.memory.used()
    }

    /// Opens `path` (already checked by `paths::check`) at its current version.
    pub async fn open(&self, path: &str) -> Result<Arc<Opened>, ReadError> {
        // The hot case: opened lately, and the UFS's answer still fresh.
        // Pages of an older version that a read still in flight caches
        // after the version check below are never served (keys name the
        // version); they wait for eviction.
        let known = self.opened.lock().unwrap().get(path).cloned();
        if let Some(opened) = &known
            && self.metadata.is_current(&opened.file)
        {
            return Ok(opened.clone());
        }
        let file = self
            .metadata
            .head(path)
            .await?
            .ok_or_else(|| ReadError::NotFound(path.to_owned()))?;
        if let Some(opened) = known
            && opened.file == *file
        {
            return Ok(opened);
        }
        let key = FileKey::new(path, &file.version);
        if self.store.has_other_versions(&key) {
            let store = self.store.clone();
            let current = key.clone();
            blocking(move || store.remove_other_versions(&current)).await?;
        }
        let etag = format!("\"{}\"", key.version);
        let every_answer = [
            (header::ETAG, etag.as_bytes()),
            (header::ACCEPT_RANGES, &b"bytes"[..]),
            (header::CONTENT_TYPE, b"application/octet-stream"),
        ];
        let mut lines = HeaderLines::new();
        for (name, value) in every_answer {
            lines
                .push(&name, value)
                .expect("hex and names are valid headers");
        }
        let opened = Arc::new(Opened {
            file: Arc::unwrap_or_clone(file),
            key,
            lines,
        });
        self.opened
            .lock()
            .unwrap()
            .put(path.to_owned(), opened.clone());
        Ok(opened)
    }

    /// Bytes cached of the opened version.
    pub fn cached_bytes(&self, opened: &Opened) -> u64 {
        self.store.cached_bytes(&opened.key)
    }

    /// The pages of `range` with the part of each that the range covers.
    fn pages(&self, range: Range<u64>) -> impl Iterator<Item = (u64, Range<usize>)> + use<> {
        let page_size = self.page_size;
        let first = range.start / page_size;
        let last = if range.is_empty() {
            first
        } else {
            (range.end - 1) / page_size + 1
        };
        (first..last).map(move |index| {
            let page_start = index * page_size;
            let start = range.start.max(page_start) - page_start;
            let end = range.end.min(page_start + page_size) - page_start;
            (index, start as usize..end as usize)
        })
    }

    /// Bytes `within` of page `index` of the opened file. With `keep`, a
    /// whole page read from disk or the UFS stays in memory for the next
    /// read; streams of many pages pass `false`, so one long scan does not
    /// push every small hot file out of memory.
    async fn read_page(
        &self,
        opened: &Opened,
        index: u64,
        within: Range<usize>,
        keep: bool,
    ) -> Result<Bytes, ReadError> {
        let key = PageKey {
            file: opened.key.clone(),
            index,
        };
        if let Some(bytes) = self.memory.read(&key, within.start, within.end) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(bytes);
        }
        if let Some(bytes) = self.store.read(&key, within.start, within.end)? {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            let page_len = opened.file.length.saturating_sub(index * self.page_size);
            if keep && within.start == 0 && bytes.len() as u64 == page_len.min(self.page_size) {
                self.memory.insert(key, bytes.clone());
            }
            return Ok(bytes);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let page = self.fetch_page(opened, key.clone()).await?;
        if keep {
            self.memory.insert(key, page.clone());
        }
        Ok(page.slice(within.start.min(page.len())..within.end.min(page.len())))
    }

    /// The whole page from the UFS, cached on the way; concurrent callers
    /// for the same page share one fetch.
    async fn fetch_page(&self, opened: &Opened, key: PageKey) -> Result<Bytes, ReadError> {
        let cell = self
            .fetches
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone();
        let result = cell
            .get_or_try_init(|| async {
                // A fetch that finished between our miss and this point has
                // cached the page: use it rather than read the UFS again.
                let store = self.store.clone();
                let (k, size) = (key.clone(), self.page_size as usize);
                if let Some(bytes) = blocking(move || store.read(&k, 0, size)).await? {
                    return Ok(bytes);
                }
                let start = key.index * self.page_size;
                let end = (start + self.page_size).min(opened.file.length);
                let data = match self.metadata.ufs().read(&opened.file, start..end).await {
                    Ok(data) => data,
                    Err(e @ UfsError::Changed { .. }) => {
                        // The version learnt is out of date: ask again next time.
                        self.stats.ufs_changed.fetch_add(1, Ordering::Relaxed);
                        self.metadata.forget(&opened.file.path);
                        return Err(e.into());
                    }
                    Err(e) => return Err(e.into()),
                };
                self.stats.ufs_reads.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .ufs_bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                let store = self.store.clone();
                let (k, d) = (key.clone(), data.clone());
                if let Err(e) = blocking(move || store.write(&k, &d)).await {
                    // Serving still works; only caching failed.
                    tracing::warn!(error = %e, "could not cache a page");
                }
                Ok::<_, ReadError>(data)
            })
            .await
            .cloned();
        // Later misses (after eviction) must fetch again, not reuse this.
        let mut fetches = self.fetches.lock().unwrap();
        if fetches.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            fetches.remove(&key);
        }
        result
    }

    /// True if `range` lies within one page (answered in one piece).
    pub fn within_one_page(&self, range: &Range<u64>) -> bool {
        range.is_empty() || range.start / self.page_size == (range.end - 1) / self.page_size
    }

    /// The bytes of `range` when it lies within one page.
    pub async fn read_small(&self, opened: &Opened, range: Range<u64>) -> Result<Bytes, ReadError> {
        let Some((index, within)) = self.pages(range).next() else {
            return Ok(Bytes::new());
        };
        let bytes = self.read_page(opened, index, within, true).await?;
        self.stats
            .bytes_served
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// The bytes of `range` of the opened file, page by page, fetched ahead.
    pub fn stream(
        self: &Arc<Self>,
        opened: Arc<Opened>,
        range: Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + use<> {
        let files = self.clone();
        futures::stream::iter(self.pages(range))
            .map(move |(index, within)| {
                let (files, opened) = (files.clone(), opened.clone());
                async move {
                    let bytes = files
                        .read_page(&opened, index, within, false)
                        .await
                        .map_err(std::io::Error::other)?;
                    files
                        .stats
                        .bytes_served
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    Ok(bytes)
                }
            })
            .buffered(READ_AHEAD)
    }

    /// Caches every page of the opened file not cached yet; returns the bytes
    /// fetched from the UFS. Concurrent loads of one file version share the work.
    pub async fn load(&self, opened: &Opened) -> Result<u64, ReadError> {
        let cell = self
            .loads
            .lock()
            .unwrap()
            .entry(opened.key.clone())
            .or_default()
            .clone();
        let result = cell
            .get_or_try_init(|| async {
                let mut fetched = 0;
                for (index, _) in self.pages(0..opened.file.length) {
                    let key = PageKey {
                        file: opened.key.clone(),
                        index,
                    };
                    if !self.store.contains(&key) {
                        fetched += self.fetch_page(opened, key).await?.len() as u64;
                    }
                }
                Ok::<_, ReadError>(fetched)
            })
            .await
            .copied();
        let mut loads = self.loads.lock().unwrap();
        if loads
            .get(&opened.key)
            .is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            loads.remove(&opened.key);
        }
        result
    }

    /// Frees every cached page of `path`; returns the data bytes freed.
    pub async fn free(&self, path: &str) -> Result<u64, ReadError> {
        let store = self.store.clone();
        let digest = FileKey::new(path, "").path;
        self.memory.remove_path(&digest);
        Ok(blocking(move || store.remove_path(&digest)).await?)
    }
}

/// Runs blocking disk work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}
