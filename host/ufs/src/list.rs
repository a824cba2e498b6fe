//! Listing the UFS a page at a time, in S3 key order (UTF-8 byte order),
//! with S3's prefix, delimiter and start-after semantics — what an S3
//! gateway's ListObjects needs, without ever holding a whole listing.
//!
//! An S3-compatible store lists in key order itself, from a start-after
//! key; a local directory is walked in that order (see `local`).

use futures::StreamExt;

use crate::{Ufs, UfsError, UfsFile};

/// One page of a listing to make.
#[derive(Clone, Copy, Debug)]
pub struct ListQuery<'a> {
    /// Only keys (UFS-relative paths) that start with this; it need not end
    /// at a `/`.
    pub prefix: &'a str,
    /// Keys that have this after the prefix are grouped into one common
    /// prefix (up to and including it), listed once.
    pub delimiter: Option<&'a str>,
    /// Only entries — keys and common prefixes — greater than this.
    pub after: Option<&'a str>,
    /// Entries at most, keys and common prefixes together.
    pub limit: usize,
}

/// A listed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listed {
    /// A file.
    Object(UfsFile),
    /// A common prefix (with its delimiter).
    Prefix(String),
}

impl Listed {
    /// The key or common prefix.
    pub fn name(&self) -> &str {
        match self {
            Listed::Object(file) => &file.path,
            Listed::Prefix(prefix) => prefix,
        }
    }
}

/// A page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The entries, in key order.
    pub entries: Vec<Listed>,
    /// Whether more entries follow the last one.
    pub truncated: bool,
}

impl Ufs {
    /// A page of the listing `query` asks for.
    pub async fn list_page(&self, query: &ListQuery<'_>) -> Result<ListPage, UfsError> {
        let local_error = |source| UfsError::Local {
            path: query.prefix.to_owned(),
            source,
        };
        if let Some(root) = &self.local_root {
            let (root, prefix, delimiter, after) = (
                root.clone(),
                query.prefix.to_owned(),
                query.delimiter.map(str::to_owned),
                query.after.map(str::to_owned),
            );
            let limit = query.limit;
            // Directory reads block: off the async threads.
            return tokio::task::spawn_blocking(move || {
                let query = ListQuery {
                    prefix: &prefix,
                    delimiter: delimiter.as_deref(),
                    after: after.as_deref(),
                    limit,
                };
                crate::local::list_page(&root, &query)
            })
            .await
            .map_err(|e| local_error(std::io::Error::other(e)))?
            .map_err(local_error);
        }
        self.list_store_page(query).await
    }

    /// A page from the store's own listing, which is in key order.
    async fn list_store_page(&self, query: &ListQuery<'_>) -> Result<ListPage, UfsError> {
        let store_error = |source| UfsError::Store {
            path: query.prefix.to_owned(),
            source,
        };
        // The store lists by whole path segments: from the prefix's directory.
        let dir = &query.prefix[..query.prefix.rfind('/').unwrap_or(0)];
        let location = self.location(dir);
        let mut stream = match query.after {
            Some(after) => self
                .store
                .list_with_offset(Some(&location), &self.location(after)),
            None => self.store.list(Some(&location)),
        };
        let mut page = ListPage::default();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(store_error)?;
            let Some(key) = self.relative(&meta.location) else {
                continue;
            };
            if !key.starts_with(query.prefix) {
                if key.as_str() > query.prefix {
                    break; // In key order: nothing further has the prefix.
                }
                continue;
            }
            let entry = match query
                .delimiter
                .and_then(|d| key[query.prefix.len()..].find(d).map(|at| (d, at)))
            {
                Some((d, at)) => {
                    Listed::Prefix(key[..query.prefix.len() + at + d.len()].to_owned())
                }
                None => Listed::Object(crate::file_of(key, &meta)),
            };
            if query.after.is_some_and(|a| entry.name() <= a)
                || page.entries.last().is_some_and(|last| last == &entry)
            {
                continue;
            }
            if page.entries.len() == query.limit {
                page.truncated = true;
                break;
            }
            page.entries.push(entry);
        }
        Ok(page)
    }

    /// The top-level directories of the root: what an S3 gateway serves as
    /// buckets. Sorted.
    pub async fn top_level_dirs(&self) -> Result<Vec<String>, UfsError> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|source| UfsError::Store {
                path: String::new(),
                source,
            })?;
        let mut dirs: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| self.relative(p))
            .filter(|p| !p.is_empty())
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// When the top-level directory `name` was last modified (ms since the
    /// Unix epoch), where the UFS keeps directories (a local one does; an
    /// object store has only keys).
    pub fn dir_modified_ms(&self, name: &str) -> Option<i64> {
        let root = self.local_root.as_ref()?;
        let modified = std::fs::metadata(root.join(name)).ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(since.as_millis() as i64)
    }

    /// Whether the root holds `name` as a top-level directory.
    pub async fn has_top_level_dir(&self, name: &str) -> Result<bool, UfsError> {
        if let Some(root) = &self.local_root {
            return Ok(root.join(name).is_dir());
        }
        Ok(self.top_level_dirs().await?.iter().any(|d| d == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::S3Options;

    fn tree(files: &[&str]) -> (tempfile::TempDir, Ufs) {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, f.as_bytes()).unwrap();
        }
        let ufs = Ufs::open(dir.path().to_str().unwrap(), &S3Options::default()).unwrap();
        (dir, ufs)
    }

    async fn names(ufs: &Ufs, query: ListQuery<'_>) -> (Vec<String>, bool) {
        let page = ufs.list_page(&query).await.unwrap();
        (
            page.entries.iter().map(|e| e.name().to_owned()).collect(),
            page.truncated,
        )
    }

    fn query<'a>(
        prefix: &'a str,
        delimiter: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> ListQuery<'a> {
        ListQuery {
            prefix,
            delimiter,
            after,
            limit,
        }
    }

    const FILES: [&str; 8] = [
        "b/a-c", "b/a/x", "b/a/y/z", "b/a0", "b/b", "b/c/d/e", "b/c/f", "b/é",
    ];

    #[tokio::test]
    async fn a_local_listing_is_in_s3_key_order_and_pages_with_after() {
        let (_dir, ufs) = tree(&FILES);
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, truncated) = names(&ufs, query("b/", None, after.as_deref(), 3)).await;
            assert!(page.len() <= 3);
            all.extend(page.iter().cloned());
            after = page.last().cloned();
            if !truncated {
                break;
            }
        }
        let mut sorted: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
        sorted.sort();
        assert_eq!(all, sorted);
    }

    #[tokio::test]
    async fn a_delimiter_groups_keys_into_common_prefixes_listed_once() {
        let (_dir, ufs) = tree(&FILES);
        let (page, truncated) = names(&ufs, query("b/", Some("/"), None, 100)).await;
        assert_eq!(page, ["b/a-c", "b/a/", "b/a0", "b/b", "b/c/", "b/é"]);
        assert!(!truncated);
        // A partial prefix, and pages that end on a common prefix.
        let (page, truncated) = names(&ufs, query("b/a", Some("/"), None, 2)).await;
        assert_eq!(
            (page.as_slice(), truncated),
            (&["b/a-c".to_owned(), "b/a/".to_owned()][..], true)
        );
        let (page, truncated) = names(&ufs, query("b/a", Some("/"), Some("b/a/"), 2)).await;
        assert_eq!(
            (page.as_slice(), truncated),
            (&["b/a0".to_owned()][..], false)
        );
        // Another delimiter: keys are grouped at its first occurrence.
        let (page, _) = names(&ufs, query("b/", Some("-"), None, 100)).await;
        assert_eq!(page[0], "b/a-");
        assert_eq!(page.len(), FILES.len());
    }

    #[tokio::test]
    async fn buckets_are_the_top_level_directories() {
        let (dir, ufs) = tree(&["one/x", "two/y/z"]);
        std::fs::write(dir.path().join("loose-file"), b"x").unwrap();
        assert_eq!(ufs.top_level_dirs().await.unwrap(), ["one", "two"]);
        assert!(ufs.has_top_level_dir("two").await.unwrap());
        assert!(!ufs.has_top_level_dir("loose-file").await.unwrap());
    }
}
