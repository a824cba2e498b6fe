//! The worker's page cache: file data from the UFS, kept on local disk in
//! pages within a capacity, least recently used pages evicted first.
//!
//! [`PageStore`] is the seam the read path uses; [`DiskPageStore`] is the
//! implementation over one directory. A page is named by the file's path,
//! the UFS version it came from and its index, so pages of an older version
//! of a file are never read for a newer one. The directory is scanned at
//! start: a restarted worker keeps what it had cached.

pub mod memory;
pub mod page_file;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use sha2::{Digest, Sha256};

pub use page_file::PageReadError;

/// Identifies one version of one UFS file. Shared strings: every page
/// read makes a page key of its file's, and a clone is then two counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// Hex digest of the UFS-relative path (32 hex digits).
    pub path: Arc<str>,
    /// Hex digest of the UFS version (16 hex digits).
    pub version: Arc<str>,
}

impl FileKey {
    /// The key of `path` at `version` (a UFS version string): the version
    /// part is the version's ETag (`azimuth_ufs::version_tag`), what
    /// clients see.
    pub fn new(path: &str, version: &str) -> Self {
        Self {
            path: hex::encode(&Sha256::digest(path.as_bytes())[..16]).into(),
            version: azimuth_ufs::version_tag(version).into(),
        }
    }
}

/// One page of one file version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The file version.
    pub file: FileKey,
    /// The page's index in the file (offset / page size).
    pub index: u64,
}

/// What the read path needs from a page cache. Methods that touch the disk
/// block; `read` of a cached page is a few `pread`s of (usually) the OS page
/// cache and is called on the async threads, as nginx reads files in its
/// event loop; writes and removals go through `spawn_blocking`.
pub trait PageStore: Send + Sync {
    /// Bytes `start..end` of the page's data if the page is cached and its
    /// checksums hold. A page that fails its checksums is dropped (and
    /// counted) and reported as `Ok(None)`: it is never served.
    fn read(&self, key: &PageKey, start: usize, end: usize) -> std::io::Result<Option<Bytes>>;
    /// Caches a page, evicting least recently used pages to stay within capacity.
    fn write(&self, key: &PageKey, data: &[u8]) -> std::io::Result<()>;
    /// Whether the page is cached (without reading or promoting it).
    fn contains(&self, key: &PageKey) -> bool;
    /// Bytes of `file` cached.
    fn cached_bytes(&self, file: &FileKey) -> u64;
    /// Drops every page of every version of the file whose path digest is
    /// `path`; returns the data bytes freed.
    fn remove_path(&self, path: &str) -> std::io::Result<u64>;
    /// Whether pages of other versions of `file.path` are cached (memory only, fast).
    fn has_other_versions(&self, file: &FileKey) -> bool;
    /// Drops the pages of versions of `file.path` other than `file.version`.
    fn remove_other_versions(&self, file: &FileKey) -> std::io::Result<()>;
    /// Counters and usage.
    fn stats(&self) -> CacheStats;
}

/// Cache counters since start, and usage now.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheStats {
    /// Bytes on disk (headers included).
    pub used_bytes: u64,
    /// The configured capacity.
    pub capacity_bytes: u64,
    /// Pages on disk.
    pub pages: u64,
    /// Pages evicted to make room.
    pub evictions: u64,
    /// Pages dropped because a checksum failed.
    pub checksum_failures: u64,
    /// Indexed pages whose files were gone from disk (deleted under the
    /// worker): fetched again.
    pub pages_missing: u64,
    /// Page writes that found the cache's disk full (each then evicts and
    /// tries once more).
    pub disk_full: u64,
    /// Pages that could not be written (the disk full even after evicting,
    /// or another error): served, not cached.
    pub write_failures: u64,
}

#[derive(Clone, Copy, Debug)]
struct PageInfo {
    disk_bytes: u64,
    data_bytes: u64,
}

/// Page files kept open for reads, like nginx's `open_file_cache`: a hit
/// then costs no `open`/`close`. Bounded, so the worker stays far from its
/// descriptor limit (which `azimuth worker` raises to the hard limit).
const OPEN_FILES: usize = 512;

/// What is cached of one file version.
#[derive(Default)]
struct Cached {
    /// Data bytes, for `/status`.
    bytes: u64,
    /// Page indices.
    pages: BTreeSet<u64>,
}

struct Index {
    lru: LruCache<PageKey, PageInfo>,
    /// Per path digest, per version: what is cached. Lets every read ask
    /// "other versions?" in O(1) and removals find their pages directly.
    files: HashMap<Arc<str>, HashMap<Arc<str>, Cached>>,
    used: u64,
    /// Open page files, most recently read first. An entry is dropped when
    /// its page is removed or rewritten (a rewrite is a new inode).
    open: LruCache<PageKey, Arc<std::fs::File>>,
}

impl Index {
    fn add(&mut self, key: PageKey, info: PageInfo) {
        self.remove(&key);
        self.used += info.disk_bytes;
        let cached = self
            .files
            .entry(key.file.path.clone())
            .or_default()
            .entry(key.file.version.clone())
            .or_default();
        cached.bytes += info.data_bytes;
        cached.pages.insert(key.index);
        self.lru.put(key, info);
    }

    fn remove(&mut self, key: &PageKey) -> Option<PageInfo> {
        self.open.pop(key);
        let info = self.lru.pop(key)?;
        self.used -= info.disk_bytes;
        if let Some(versions) = self.files.get_mut(&key.file.path) {
            if let Some(cached) = versions.get_mut(&key.file.version) {
                cached.bytes -= info.data_bytes;
                cached.pages.remove(&key.index);
                if cached.pages.is_empty() {
                    versions.remove(&key.file.version);
                }
            }
            if versions.is_empty() {
                self.files.remove(&key.file.path);
            }
        }
        Some(info)
    }

    /// The pages of `path` whose version is not `keep`.
    fn pages_of(&self, path: &str, keep: Option<&str>) -> Vec<PageKey> {
        let Some(versions) = self.files.get(path) else {
            return Vec::new();
        };
        versions
            .iter()
            .filter(|(version, _)| Some(&***version) != keep)
            .flat_map(|(version, cached)| {
                cached.pages.iter().map(|&index| PageKey {
                    file: FileKey {
                        path: path.into(),
                        version: version.clone(),
                    },
                    index,
                })
            })
            .collect()
    }
}

/// Pages in files under one directory, with an in-memory LRU index.
pub struct DiskPageStore {
    dir: PathBuf,
    capacity: u64,
    index: Mutex<Index>,
    evictions: AtomicU64,
    checksum_failures: AtomicU64,
    disk_full: AtomicU64,
    write_failures: AtomicU64,
    pages_missing: AtomicU64,
}

impl DiskPageStore {
    /// Opens (or creates) the cache in `dir` with `capacity` bytes, indexing
    /// the pages already there (oldest first in LRU order) and evicting any
    /// beyond the capacity. Leftover temporary files and files that are not
    /// pages are removed.
    pub fn open(dir: &Path, capacity: u64) -> std::io::Result<Self> {
        let pages_dir = dir.join("pages");
        std::fs::create_dir_all(&pages_dir)?;
        let mut found = Vec::new();
        for shard in std::fs::read_dir(&pages_dir)? {
            let shard = shard?.path();
            if !shard.is_dir() {
                remove_if_exists(&shard)?;
                continue;
            }
            for file_dir in std::fs::read_dir(&shard)? {
                let file_dir = file_dir?.path();
                if !file_dir.is_dir() {
                    remove_if_exists(&file_dir)?;
                    continue;
                }
                let Some(path_digest) = file_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(Arc::<str>::from)
                else {
                    continue;
                };
                for page in std::fs::read_dir(&file_dir)? {
                    let page = page?;
                    let name = page.file_name().to_string_lossy().into_owned();
                    let parsed = name.split_once('.').and_then(|(version, index)| {
                        Some((Arc::<str>::from(version), index.parse::<u64>().ok()?))
                    });
                    let header = std::fs::File::open(page.path())
                        .ok()
                        .and_then(|f| page_file::read_header(&f).ok());
                    match (parsed, header, page.metadata()) {
                        (Some((version, index)), Some(header), Ok(meta)) => {
                            let key = PageKey {
                                file: FileKey {
                                    path: path_digest.clone(),
                                    version,
                                },
                                index,
                            };
                            let info = PageInfo {
                                disk_bytes: meta.len(),
                                data_bytes: header.data_len as u64,
                            };
                            found.push((meta.modified().ok(), key, info));
                        }
                        _ => {
                            // A temporary file from a crash, or a torn page.
                            let _ = std::fs::remove_file(page.path());
                        }
                    }
                }
            }
        }
        found.sort_by_key(|(modified, _, _)| *modified);
        let mut index = Index {
            lru: LruCache::unbounded(),
            files: HashMap::new(),
            used: 0,
            open: LruCache::new(std::num::NonZeroUsize::new(OPEN_FILES).unwrap()),
        };
        for (_, key, info) in found {
            index.add(key, info);
        }
        let store = Self {
            dir: dir.to_owned(),
            capacity,
            index: Mutex::new(index),
            evictions: AtomicU64::new(0),
            checksum_failures: AtomicU64::new(0),
            disk_full: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            pages_missing: AtomicU64::new(0),
        };
        store.evict_to(capacity)?;
        Ok(store)
    }

    fn page_path(&self, key: &PageKey) -> PathBuf {
        self.file_dir(&key.file.path)
            .join(format!("{}.{}", key.file.version, key.index))
    }

    fn file_dir(&self, path_digest: &str) -> PathBuf {
        self.dir
            .join("pages")
            .join(&path_digest[..2])
            .join(path_digest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Evicts least recently used pages until at most `limit` bytes are used.
    fn evict_to(&self, limit: u64) -> std::io::Result<()> {
        let victims: Vec<PageKey> = {
            let mut index = self.lock();
            let mut victims = Vec::new();
            while index.used > limit {
                let Some((key, _)) = index.lru.peek_lru().map(|(k, v)| (k.clone(), *v)) else {
                    break;
                };
                index.remove(&key);
                victims.push(key);
            }
            victims
        };
        self.evictions
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        for key in victims {
            remove_if_exists(&self.page_path(&key))?;
        }
        Ok(())
    }
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl PageStore for DiskPageStore {
    fn read(&self, key: &PageKey, start: usize, end: usize) -> std::io::Result<Option<Bytes>> {
        let (open, data_len) = {
            let mut index = self.lock();
            let Some(info) = index.lru.get(key) else {
                return Ok(None);
            };
            let data_len = info.data_bytes as usize;
            (index.open.get(key).cloned(), data_len)
        };
        let file = match open {
            Some(file) => file,
            None => match std::fs::File::open(self.page_path(key)) {
                Ok(file) => {
                    let file = Arc::new(file);
                    let mut index = self.lock();
                    // Only keep it if the page was not removed meanwhile.
                    if index.lru.contains(key) {
                        index.open.put(key.clone(), file.clone());
                    }
                    file
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(page = %self.page_path(key).display(), "a cached page file is gone");
                    self.pages_missing.fetch_add(1, Ordering::Relaxed);
                    self.lock().remove(key);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            },
        };
        match page_file::read_range(&file, data_len, start, end) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(PageReadError::Corrupt(why)) => {
                tracing::warn!(page = %self.page_path(key).display(), %why, "dropping a corrupt cached page");
                self.checksum_failures.fetch_add(1, Ordering::Relaxed);
                self.lock().remove(key);
                remove_if_exists(&self.page_path(key))?;
                Ok(None)
            }
            Err(PageReadError::Io(e)) => Err(e),
        }
    }

    fn write(&self, key: &PageKey, data: &[u8]) -> std::io::Result<()> {
        let disk_bytes = (page_file::header_len(data.len()) + data.len()) as u64;
        if disk_bytes > self.capacity {
            return Ok(());
        }
        // Make room first, so usage never exceeds the capacity on disk.
        self.evict_to(self.capacity - disk_bytes)?;
        let path = self.page_path(key);
        let written = match page_file::write(&path, data) {
            // The disk holds less than the capacity says (shared, or
            // smaller than configured): free this page's room from the
            // least recently used pages and try once more.
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                self.disk_full.fetch_add(1, Ordering::Relaxed);
                let used = self.lock().used;
                self.evict_to(used.saturating_sub(2 * disk_bytes))?;
                page_file::write(&path, data)
            }
            other => other,
        };
        if let Err(e) = written {
            self.write_failures.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let info = PageInfo {
            disk_bytes,
            data_bytes: data.len() as u64,
        };
        self.lock().add(key.clone(), info);
        // Concurrent writers may together have gone over: settle.
        self.evict_to(self.capacity)
    }

    fn contains(&self, key: &PageKey) -> bool {
        self.lock().lru.contains(key)
    }

    fn cached_bytes(&self, file: &FileKey) -> u64 {
        self.lock()
            .files
            .get(&file.path)
            .and_then(|versions| versions.get(&file.version))
            .map_or(0, |cached| cached.bytes)
    }

    fn remove_path(&self, path: &str) -> std::io::Result<u64> {
        let freed = {
            let mut index = self.lock();
            let keys = index.pages_of(path, None);
            keys.iter()
                .filter_map(|k| index.remove(k))
                .map(|i| i.data_bytes)
                .sum()
        };
        match std::fs::remove_dir_all(self.file_dir(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(freed),
        }
    }

    fn has_other_versions(&self, file: &FileKey) -> bool {
        self.lock()
            .files
            .get(&file.path)
            .is_some_and(|versions| versions.keys().any(|v| *v != file.version))
    }

    fn remove_other_versions(&self, file: &FileKey) -> std::io::Result<()> {
        let stale: Vec<PageKey> = {
            let mut index = self.lock();
            let keys = index.pages_of(&file.path, Some(&file.version));
            for key in &keys {
                index.remove(key);
            }
            keys
        };
        for key in stale {
            remove_if_exists(&self.page_path(&key))?;
        }
        Ok(())
    }

    fn stats(&self) -> CacheStats {
        let index = self.lock();
        CacheStats {
            used_bytes: index.used,
            capacity_bytes: self.capacity,
            pages: index.lru.len() as u64,
            evictions: self.evictions.load(Ordering::Relaxed),
            checksum_failures: self.checksum_failures.load(Ordering::Relaxed),
            pages_missing: self.pages_missing.load(Ordering::Relaxed),
            disk_full: self.disk_full.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, index: u64) -> PageKey {
        PageKey {
            file: FileKey::new(path, "v1"),
            index,
        }
    }

    #[test]
    fn least_recently_used_pages_go_first_and_usage_stays_within_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let page = vec![7u8; 10_000];
        let disk = page_file::encode(&page).len() as u64;
        let store = DiskPageStore::open(dir.path(), 3 * disk).unwrap();
        for i in 0..3 {
            store.write(&key("f", i), &page).unwrap();
        }
        assert!(store.read(&key("f", 0), 0, 10).unwrap().is_some()); // 0 is now the most recent
        store.write(&key("f", 3), &page).unwrap();
        assert!(
            !store.contains(&key("f", 1)),
            "the least recently used page is evicted"
        );
        assert!(store.contains(&key("f", 0)) && store.contains(&key("f", 3)));
        let stats = store.stats();
        assert!(stats.used_bytes <= stats.capacity_bytes);
        assert_eq!(stats.evictions, 1);
    }

    #[test]
    fn a_reopened_store_keeps_its_pages() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DiskPageStore::open(dir.path(), 1 << 20).unwrap();
            store.write(&key("f", 0), b"hello").unwrap();
        }
        std::fs::write(dir.path().join("pages").join("junk-not-a-dir-entry"), b"x").ok();
        let store = DiskPageStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            &store.read(&key("f", 0), 0, 5).unwrap().unwrap()[..],
            b"hello"
        );
        assert_eq!(store.cached_bytes(&key("f", 0).file), 5);
    }
}
