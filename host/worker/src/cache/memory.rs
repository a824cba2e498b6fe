//! A small memory tier above the disk cache: whole pages that were just read
//! and checked, kept as shared buffers within a byte budget, least recently
//! used first out.
//!
//! Why: a disk hit costs a `pread` (a copy out of the OS page cache) and a
//! CRC pass over the bytes on every read. For the hottest pages, serving the
//! already-verified buffer again costs neither; the response body is a
//! reference to it, not a copy. Pages are keyed by file version like the disk
//! cache, so a changed file never reads an old page; `remove_path` drops a
//! freed file's pages at once, and pages of superseded versions age out.

use std::sync::Mutex;

use bytes::Bytes;
use lru::LruCache;

use super::PageKey;

/// Verified pages in memory, within `capacity` bytes.
pub struct MemoryPages {
    capacity: u64,
    inner: Mutex<Inner>,
}

struct Inner {
    pages: LruCache<PageKey, Bytes>,
    used: u64,
}

impl MemoryPages {
    /// An empty tier holding at most `capacity` bytes; 0 turns it off.
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner {
                pages: LruCache::unbounded(),
                used: 0,
            }),
        }
    }

    /// Bytes `start..end` of the page, if it is held (`end` is clamped to
    /// the page's length).
    pub fn read(&self, key: &PageKey, start: usize, end: usize) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.lock();
        let page = inner.pages.get(key)?;
        let end = end.min(page.len());
        Some(page.slice(start.min(end)..end))
    }

    /// Keeps a whole, verified page, evicting the least recently used ones to
    /// make room. A page larger than the whole budget is not kept.
    pub fn insert(&self, key: PageKey, page: Bytes) {
        let size = page.len() as u64;
        if self.capacity == 0 || size > self.capacity {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.pages.put(key, page) {
            inner.used -= old.len() as u64;
        }
        inner.used += size;
        while inner.used > self.capacity {
            match inner.pages.pop_lru() {
                Some((_, evicted)) => inner.used -= evicted.len() as u64,
                None => break,
            }
        }
    }

    /// Drops every page of the file whose path digest is `path`, any version.
    pub fn remove_path(&self, path: &str) {
        let mut inner = self.lock();
        let doomed: Vec<PageKey> = inner
            .pages
            .iter()
            .filter(|(key, _)| *key.file.path == *path)
            .map(|(key, _)| key.clone())
            .collect();
        for key in doomed {
            if let Some(page) = inner.pages.pop(&key) {
                inner.used -= page.len() as u64;
            }
        }
    }

    /// Bytes held.
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::FileKey;

    fn key(path: &str, version: &str, index: u64) -> PageKey {
        PageKey {
            file: FileKey::new(path, version),
            index,
        }
    }

    #[test]
    fn least_recently_used_pages_leave_first_and_usage_stays_within_budget() {
        let pages = MemoryPages::new(10);
        pages.insert(key("a", "1", 0), Bytes::from_static(b"0123"));
        pages.insert(key("a", "1", 1), Bytes::from_static(b"4567"));
        assert_eq!(
            pages.read(&key("a", "1", 0), 1, 3).as_deref(),
            Some(&b"12"[..])
        );
        pages.insert(key("b", "1", 0), Bytes::from_static(b"89ab"));
        assert_eq!(pages.read(&key("a", "1", 1), 0, 4), None, "LRU evicted");
        assert!(pages.read(&key("a", "1", 0), 0, 4).is_some());
        assert_eq!(pages.used(), 8);
        pages.insert(key("c", "1", 0), Bytes::from(vec![0; 11]));
        assert_eq!(pages.used(), 8, "a page over the budget is not kept");
    }

    #[test]
    fn reads_are_clamped_to_the_page_and_versions_do_not_mix() {
        let pages = MemoryPages::new(100);
        pages.insert(key("a", "1", 0), Bytes::from_static(b"abc"));
        assert_eq!(
            pages.read(&key("a", "1", 0), 1, 99).as_deref(),
            Some(&b"bc"[..])
        );
        assert_eq!(
            pages.read(&key("a", "1", 0), 7, 99).as_deref(),
            Some(&b""[..])
        );
        assert_eq!(pages.read(&key("a", "2", 0), 0, 3), None);
    }

    #[test]
    fn removing_a_path_drops_all_its_versions_only() {
        let pages = MemoryPages::new(100);
        pages.insert(key("a", "1", 0), Bytes::from_static(b"abc"));
        pages.insert(key("a", "2", 3), Bytes::from_static(b"abc"));
        pages.insert(key("b", "1", 0), Bytes::from_static(b"abc"));
        pages.remove_path(&FileKey::new("a", "").path);
        assert_eq!(pages.read(&key("a", "1", 0), 0, 3), None);
        assert_eq!(pages.read(&key("a", "2", 3), 0, 3), None);
        assert!(pages.read(&key("b", "1", 0), 0, 3).is_some());
        assert_eq!(pages.used(), 3);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let pages = MemoryPages::new(0);
        pages.insert(key("a", "1", 0), Bytes::from_static(b"abc"));
        assert_eq!(pages.read(&key("a", "1", 0), 0, 3), None);
        assert_eq!(pages.used(), 0);
    }
}
