//! What the mount knows of the UFS's tree: a path's attributes (a file's
//! version and length, or that it is a directory, or that nothing is
//! there) and a directory's listing, each trusted for
//! `alluxio.user.metadata.cache.expiration.time` and remembered up to
//! `alluxio.user.metadata.cache.max.size` paths and
//! `alluxio.fuse.cached.paths.max` listings.
//!
//! Directories are what the UFS's listing says they are, as in S3: a path
//! is a directory when some file is under it. An empty directory of a local
//! UFS is not shown.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azimuth_cluster::config::MountSettings;
use azimuth_ufs::{ListQuery, Listed, Ufs, UfsError, UfsFile};
use lru::LruCache;

/// Entries asked of the UFS per page of a listing.
const LIST_PAGE: usize = 1000;

/// What a path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    File(UfsFile),
    Dir,
}

/// One entry of a directory's listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirEntry {
    pub(crate) name: String,
    pub(crate) entry: Entry,
}

type Remembered<T> = Mutex<LruCache<String, (T, Instant)>>;

/// The UFS's tree, remembered.
#[derive(Debug)]
pub(crate) struct Metadata {
    ufs: Ufs,
    expiration: Duration,
    attrs: Remembered<Option<Entry>>,
    listings: Remembered<Arc<Vec<DirEntry>>>,
}

fn lru<T>(capacity: usize) -> Remembered<T> {
    Mutex::new(LruCache::new(
        NonZeroUsize::new(capacity.max(1)).expect("at least one"),
    ))
}

fn recall<T: Clone>(cache: &Remembered<T>, path: &str, expiration: Duration) -> Option<T> {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    match cache.get(path) {
        Some((value, when)) if when.elapsed() < expiration => Some(value.clone()),
        _ => None,
    }
}

fn remember<T>(cache: &Remembered<T>, path: &str, value: T) {
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .put(path.to_owned(), (value, Instant::now()));
}

impl Metadata {
    pub(crate) fn new(ufs: Ufs, settings: &MountSettings) -> Self {
        Self {
            ufs,
            expiration: settings.metadata_expiration,
            attrs: lru(settings.metadata_max_size),
            listings: lru(settings.cached_paths_max),
        }
    }

    /// How long the kernel may trust what it is told.
    pub(crate) fn expiration(&self) -> Duration {
        self.expiration
    }

    /// What `path` is (`""`, the root, is a directory), or `None`.
    pub(crate) async fn entry(&self, path: &str) -> Result<Option<Entry>, UfsError> {
        if path.is_empty() {
            return Ok(Some(Entry::Dir));
        }
        if let Some(known) = recall(&self.attrs, path, self.expiration) {
            return Ok(known);
        }
        let entry = match self.ufs.head(path).await? {
            Some(file) => Some(Entry::File(file)),
            None => {
                let prefix = format!("{path}/");
                let page = self
                    .ufs
                    .list_page(&ListQuery {
                        prefix: &prefix,
                        delimiter: Some("/"),
                        after: None,
                        limit: 1,
                    })
                    .await?;
                (!page.entries.is_empty()).then_some(Entry::Dir)
            }
        };
        remember(&self.attrs, path, entry.clone());
        Ok(entry)
    }

    /// The entries of the directory `dir`, in name order; what they are is
    /// remembered too, so that the lookups that follow a listing cost nothing.
    pub(crate) async fn list(&self, dir: &str) -> Result<Arc<Vec<DirEntry>>, UfsError> {
        if let Some(known) = recall(&self.listings, dir, self.expiration) {
            return Ok(known);
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut entries = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .ufs
                .list_page(&ListQuery {
                    prefix: &prefix,
                    delimiter: Some("/"),
                    after: after.as_deref(),
                    limit: LIST_PAGE,
                })
                .await?;
            after = page.entries.last().map(|e| e.name().to_owned());
            for listed in page.entries {
                let (name, entry) = match listed {
                    Listed::Object(file) => {
                        let name = file.path[prefix.len()..].to_owned();
                        (name, Entry::File(file))
                    }
                    Listed::Prefix(sub) => {
                        let name = sub[prefix.len()..].trim_end_matches('/').to_owned();
                        (name, Entry::Dir)
                    }
                };
                if name.is_empty() {
                    continue;
                }
                remember(
                    &self.attrs,
                    &crate::inodes::child(dir, &name),
                    Some(entry.clone()),
                );
                entries.push(DirEntry { name, entry });
            }
            if !page.truncated || after.is_none() {
                break;
            }
        }
        let entries = Arc::new(entries);
        remember(&self.listings, dir, entries.clone());
        Ok(entries)
    }

    /// Forgets what is known of `path`: a read found it changed.
    pub(crate) fn forget(&self, path: &str) {
        self.attrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop(path);
    }
}
