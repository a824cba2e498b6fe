//! A local directory as the UFS: versions from one `stat`, and listings
//! walked in S3 key order.
//!
//! A directory's entries come from `readdir` in no order. To answer a page of
//! a listing in key order without holding the whole listing, the walk keeps
//! at each level only the smallest entries it still needs (a bounded heap),
//! comparing a directory as its name followed by `/` — the order its keys
//! take among its siblings' (`a-c` < `a/x` < `a0`). Memory is bounded by
//! the page size times the depth; time is one `readdir` per directory on the
//! way, per page.

use std::collections::BinaryHeap;
use std::path::Path;

use crate::UfsFile;
use crate::list::{ListPage, ListQuery, Listed};

/// The version of a local file as object_store's `LocalFileSystem` names it
/// (`<inode>-<mtime µs>-<size>` in hex), so that its conditional reads accept it.
fn file_of(path: String, meta: &std::fs::Metadata) -> std::io::Result<UfsFile> {
    use std::os::unix::fs::MetadataExt;
    let modified = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let version = format!(
        "{:x}-{:x}-{:x}",
        meta.ino(),
        modified.as_micros(),
        meta.len()
    );
    Ok(UfsFile::new(
        path,
        meta.len(),
        version.clone(),
        Some(version),
        modified.as_millis() as i64,
    ))
}

/// The current version of `path` under `root`; `Ok(None)` when there is no
/// such file (or it is a directory).
pub(crate) fn head(root: &Path, path: &str) -> std::io::Result<Option<UfsFile>> {
    match std::fs::metadata(root.join(path)) {
        Ok(meta) if meta.is_file() => file_of(path.to_owned(), &meta).map(Some),
        Ok(_) => Ok(None),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// One directory entry: its key among its siblings (`name`, or `name/` for
/// a directory) and whether it is a directory.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: String,
    dir: bool,
}

/// A page of the listing `query` asks for, under `root`.
pub(crate) fn list_page(root: &Path, query: &ListQuery<'_>) -> std::io::Result<ListPage> {
    // Start in the deepest directory the prefix names whole.
    let start = &query.prefix[..query.prefix.rfind('/').map_or(0, |i| i + 1)];
    let mut walk = Walk {
        root,
        query,
        need: query.limit.saturating_add(1),
        out: Vec::new(),
    };
    match walk.dir(start) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => other?,
    }
    let truncated = walk.out.len() > query.limit;
    walk.out.truncate(query.limit);
    Ok(ListPage {
        entries: walk.out,
        truncated,
    })
}

struct Walk<'a> {
    root: &'a Path,
    query: &'a ListQuery<'a>,
    /// Entries wanted in all (a page and one more, to tell it is truncated).
    need: usize,
    out: Vec<Listed>,
}

impl Walk<'_> {
    /// Lists the directory whose keys start with `dir_key` (`""` or ending in `/`).
    fn dir(&mut self, dir_key: &str) -> std::io::Result<()> {
        let (prefix, after) = (self.query.prefix, self.query.after);
        // Entries of this directory already handled: the next scan starts after them.
        let mut bound: Option<String> = None;
        loop {
            let want = self.need - self.out.len();
            // The `want` smallest relevant entries: a max-heap keeps them.
            let mut smallest: BinaryHeap<Entry> = BinaryHeap::with_capacity(want + 1);
            for found in std::fs::read_dir(self.root.join(dir_key))? {
                let found = found?;
                let Ok(name) = found.file_name().into_string() else {
                    continue; // Not UTF-8: no S3 key can name it.
                };
                let dir = found.file_type()?.is_dir()
                    || (found.file_type()?.is_symlink() && found.path().is_dir());
                let key = if dir { format!("{name}/") } else { name };
                if bound.as_ref().is_some_and(|b| key <= *b) {
                    continue;
                }
                let full = format!("{dir_key}{key}");
                let relevant = if dir {
                    (full.starts_with(prefix) || prefix.starts_with(&full))
                        && after.is_none_or(|a| full.as_str() > a || a.starts_with(&full))
                } else {
                    full.starts_with(prefix) && after.is_none_or(|a| full.as_str() > a)
                };
                if !relevant {
                    continue;
                }
                smallest.push(Entry { key, dir });
                if smallest.len() > want {
                    smallest.pop();
                }
            }
            let exhausted = smallest.len() < want;
            for entry in smallest.into_sorted_vec() {
                let full = format!("{dir_key}{}", entry.key);
                if entry.dir {
                    match self.collapsed(&full) {
                        Some(common) => self.push_prefix(common),
                        None => self.dir(&full)?,
                    }
                } else {
                    match self.collapsed(&full) {
                        Some(common) => self.push_prefix(common),
                        None => {
                            let meta = std::fs::metadata(self.root.join(&full))?;
                            if meta.is_file() {
                                self.out.push(Listed::Object(file_of(full, &meta)?));
                            }
                        }
                    }
                }
                if self.out.len() >= self.need {
                    return Ok(());
                }
                bound = Some(entry.key);
            }
            if exhausted {
                return Ok(());
            }
        }
    }

    /// The common prefix `key` (a file's key, or a directory's ending in
    /// `/`) falls in, if the query groups by a delimiter and `key` has one
    /// after the prefix. A directory's keys share its prefix only when the
    /// delimiter is `/`; with another one it is walked.
    fn collapsed(&self, key: &str) -> Option<String> {
        let delimiter = self.query.delimiter?;
        let rest = key.strip_prefix(self.query.prefix)?;
        if key.ends_with('/') && delimiter != "/" {
            return None;
        }
        let at = rest.find(delimiter)?;
        Some(key[..self.query.prefix.len() + at + delimiter.len()].to_owned())
    }

    /// Adds a common prefix, once, unless the listing is past it already.
    fn push_prefix(&mut self, common: String) {
        if self.query.after.is_some_and(|a| common.as_str() <= a) {
            return;
        }
        if let Some(Listed::Prefix(last)) = self.out.last()
            && *last == common
        {
            return;
        }
        self.out.push(Listed::Prefix(common));
    }
}
