//! The UFS: where the data really lives, reached through `object_store` — a
//! local directory (`file:///dir` or a plain path) by default, S3-compatible
//! stores (`s3://bucket/prefix`) for real use, configured with the keys
//! Alluxio users write ([`S3Options`]) or the usual `AWS_*` variables.
//!
//! Every read names the version of the file it expects, so a cached page is
//! never mixed with bytes of a newer version; [`UfsFile::etag`] is the name
//! of a version clients see, the same from every worker and gateway.
//!
//! - [`metadata`]: remembering what a file's version is, for as long as
//!   `alluxio.user.file.metadata.sync.interval` allows.
//! - [`list`]: listing in S3 key order, a page at a time.

#![warn(missing_docs)]

pub mod list;
mod local;
pub mod metadata;
mod s3;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore};
use sha2::{Digest, Sha256};

pub use self::list::{ListPage, ListQuery, Listed};
pub use self::metadata::{MetadataCache, SyncInterval};
pub use self::s3::S3Options;

/// Why the UFS could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum UfsError {
    /// The UFS URL is not usable.
    #[error("UFS {url:?}: {why}")]
    Config {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The file changed while it was being read.
    #[error("{path}: the file changed in the UFS while it was read")]
    Changed {
        /// The UFS-relative path.
        path: String,
    },
    /// The local UFS directory could not be read.
    #[error("UFS read of {path} failed: {source}")]
    Local {
        /// The UFS-relative path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error("UFS read of {path} failed: {source}")]
    Store {
        /// The UFS-relative path.
        path: String,
        /// What the store said.
        #[source]
        source: object_store::Error,
    },
}

impl UfsError {
    /// Whether the request itself is at fault, not the UFS: a name the UFS
    /// cannot hold (too long for the file system, an invalid object key).
    /// Asking again, or asking another worker, would fail the same way, and
    /// whoever served the request stays healthy.
    pub fn is_request_fault(&self) -> bool {
        match self {
            UfsError::Local { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::InvalidFilename | std::io::ErrorKind::InvalidInput
            ),
            UfsError::Store { source, .. } => {
                matches!(source, object_store::Error::InvalidPath { .. })
            }
            UfsError::Config { .. } | UfsError::Changed { .. } => false,
        }
    }
}

/// One version of one UFS file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UfsFile {
    /// The UFS-relative path.
    pub path: String,
    /// Its length in bytes.
    pub length: u64,
    /// What identifies this version: the store's ETag, or length and
    /// modification time.
    pub version: String,
    /// The store's ETag, when it gives one (reads are conditional on it).
    pub store_etag: Option<String>,
    /// Last modification, ms since the Unix epoch.
    pub modified_ms: i64,
    /// `version_tag(&version)`, computed once: a sha256 costs a cached
    /// 4 KiB read through the gateway some 5% of its instructions, and the
    /// same remembered version is answered many times.
    etag: String,
    /// `modified_ms` as HTTP writes a date, computed on first use and kept
    /// for the same reason: formatting it cost the gateway's hot read 1,100
    /// instructions, 3% of it. Lazily, as listings make a `UfsFile` per key
    /// and never ask.
    http_date: Derived<String>,
}

/// A value derived from the other fields of what holds it, computed once
/// on first use: it takes no part in comparisons (equal fields derive
/// equal values).
#[derive(Clone, Debug, Default)]
struct Derived<T>(std::sync::OnceLock<T>);

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Derived<T> {}

impl UfsFile {
    /// The version `version` of `path`, `length` bytes long.
    pub fn new(
        path: String,
        length: u64,
        version: String,
        store_etag: Option<String>,
        modified_ms: i64,
    ) -> Self {
        Self {
            etag: version_tag(&version),
            http_date: Derived::default(),
            path,
            length,
            version,
            store_etag,
            modified_ms,
        }
    }

    /// The ETag clients see for this version: 16 hex digits of the sha256
    /// of [`UfsFile::version`]. Every worker and gateway over the same UFS
    /// computes the same one, so a client may send it back (`If-Match`) to
    /// any of them.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The modification time as an HTTP date (IMF-fixdate, to the second,
    /// as `Last-Modified` gives it); before the Unix epoch, the epoch.
    pub fn http_date(&self) -> &str {
        self.http_date.0.get_or_init(|| {
            let ms = u64::try_from(self.modified_ms).unwrap_or(0);
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        })
    }
}

/// The ETag of a version string (see [`UfsFile::etag`]).
pub fn version_tag(version: &str) -> String {
    hex::encode(&Sha256::digest(version.as_bytes())[..8])
}

/// A UFS root.
#[derive(Clone, Debug)]
pub struct Ufs {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    url: String,
    /// For a local UFS, its directory: versions are read with one `stat` on
    /// the calling thread instead of a trip through object_store's blocking
    /// pool, which would cost more than the cached read it guards, and
    /// listings walk it in key order.
    local_root: Option<std::path::PathBuf>,
}

impl Ufs {
    /// Opens the UFS at `url`: `file:///dir`, `/dir`, or `s3://bucket/prefix`
    /// (with `s3`'s settings; unset ones come from `AWS_*` variables).
    pub fn open(url: &str, s3: &S3Options) -> Result<Self, UfsError> {
        let config_error = |why: String| UfsError::Config {
            url: url.to_owned(),
            why,
        };
        let local_dir = match url.strip_prefix("file://") {
            Some(path) => Some(path),
            None if !url.contains("://") => Some(url),
            None => None,
        };
        if let Some(dir) = local_dir {
            let dir = std::path::Path::new(dir);
            if !dir.is_absolute() {
                return Err(config_error("a local UFS must be an absolute path".into()));
            }
            if !dir.is_dir() {
                return Err(config_error("no such directory".into()));
            }
            let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| config_error(e.to_string()))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: StorePath::default(),
                url: url.to_owned(),
                local_root: Some(dir.to_owned()),
            });
        }
        let (store, prefix) = s3::open(url, s3).map_err(config_error)?;
        Ok(Self {
            store,
            prefix,
            url: url.to_owned(),
            local_root: None,
        })
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn location(&self, path: &str) -> StorePath {
        // Paths are checked by the caller (the worker's `paths`); parse cannot fail then.
        let relative = StorePath::parse(path).unwrap_or_default();
        self.prefix.parts().chain(relative.parts()).collect()
    }

    /// The UFS-relative path of a store location, if it is under the root.
    fn relative(&self, location: &StorePath) -> Option<String> {
        let parts: Vec<String> = location
            .prefix_match(&self.prefix)?
            .map(|part| part.as_ref().to_owned())
            .collect();
        Some(parts.join("/"))
    }

    /// The current version of `path`, or `None` if there is no such file.
    pub async fn head(&self, path: &str) -> Result<Option<UfsFile>, UfsError> {
        if let Some(root) = &self.local_root {
            return local::head(root, path).map_err(|source| UfsError::Local {
                path: path.to_owned(),
                source,
            });
        }
        match self.store.head(&self.location(path)).await {
            Ok(meta) => Ok(Some(file_of(path.to_owned(), &meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(UfsError::Store {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Every file under the directory `dir` (recursively), as
    /// (UFS-relative path, length), sorted by path. `""` lists the root.
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, u64)>, UfsError> {
        use futures::TryStreamExt;
        let location = self.location(dir);
        let store_error = |source| UfsError::Store {
            path: dir.to_owned(),
            source,
        };
        let found: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&location))
            .try_collect()
            .await
            .map_err(store_error)?;
        let mut files: Vec<(String, u64)> = found
            .into_iter()
            .filter_map(|meta| Some((self.relative(&meta.location)?, meta.size)))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reads `range` of `file`, failing with [`UfsError::Changed`] if the
    /// file is no longer that version.
    pub async fn read(&self, file: &UfsFile, range: Range<u64>) -> Result<Bytes, UfsError> {
        let options = GetOptions {
            if_match: file.store_etag.clone(),
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let store_error = |source: object_store::Error| match source {
            object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. } => {
                UfsError::Changed {
                    path: file.path.clone(),
                }
            }
            source => UfsError::Store {
                path: file.path.clone(),
                source,
            },
        };
        let result = self
            .store
            .get_opts(&self.location(&file.path), options)
            .await
            .map_err(store_error)?;
        let bytes = result.bytes().await.map_err(store_error)?;
        // A local file can be rewritten in place while it is read: its
        // version was checked when it was opened, so check it again now the
        // bytes are in, or new bytes could pass as the old version's. (A
        // rewrite of the same size within one tick of the file system's
        // clock keeps the version; object stores never rewrite a version.)
        if let Some(root) = &self.local_root {
            let now = local::head(root, &file.path).map_err(|source| UfsError::Local {
                path: file.path.clone(),
                source,
            })?;
            if now.is_none_or(|now| now.version != file.version) {
                return Err(UfsError::Changed {
                    path: file.path.clone(),
                });
            }
        }
        Ok(bytes)
    }
}

/// A file as the store describes it.
fn file_of(path: String, meta: &object_store::ObjectMeta) -> UfsFile {
    UfsFile::new(
        path,
        meta.size,
        meta.e_tag.clone().unwrap_or_else(|| {
            format!(
                "{}-{}",
                meta.size,
                meta.last_modified.timestamp_nanos_opt().unwrap_or(0)
            )
        }),
        meta.e_tag.clone(),
        meta.last_modified.timestamp_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::UfsFile;

    #[test]
    fn a_files_http_date_is_its_modification_time_to_the_second() {
        let at = |ms| UfsFile::new("p".into(), 1, "v".into(), None, ms);
        // RFC 9110's example date.
        assert_eq!(
            at(784_111_777_999).http_date(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(at(-5).http_date(), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Asking for it changes nothing a comparison sees.
        let (asked, not_asked) = (at(1_000), at(1_000));
        asked.http_date();
        assert_eq!(asked, not_asked);
        assert_ne!(at(1_000), at(2_000));
    }

    #[test]
    fn a_files_etag_is_the_first_16_hex_digits_of_its_versions_sha256() {
        // sha256("abc") = ba7816bf8f01cfea 414140de...
        let file = UfsFile::new("a/b".into(), 3, "abc".into(), None, 0);
        assert_eq!(file.etag(), "ba7816bf8f01cfea");
        let other = UfsFile::new("a/b".into(), 3, "abd".into(), None, 0);
        assert_ne!(other.etag(), file.etag());
    }
}
