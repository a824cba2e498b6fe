//! The UFS: where the data really lives, reached through `object_store` — a
//! local directory (`file:///dir` or a plain path) by default, S3-compatible
//! stores (`s3://bucket/prefix`, configured by the usual `AWS_*` environment
//! variables, e.g. `AWS_ENDPOINT` for MinIO) for real use.
//!
//! Every read names the version of the file it expects (its ETag), so a
//! cached page is never mixed with bytes of a newer version.

#![warn(missing_docs)]

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore};

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

/// One version of one UFS file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UfsFile {
    /// The UFS-relative path.
    pub path: String,
    /// Its length in bytes.
    pub length: u64,
    /// What identifies this version: the ETag, or length and modification time.
    pub version: String,
    /// The ETag, when the store gives one (used to check reads).
    pub etag: Option<String>,
    /// Last modification, ms since the Unix epoch.
    pub modified_ms: i64,
}

/// A UFS root.
#[derive(Clone, Debug)]
pub struct Ufs {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    url: String,
    /// For a local UFS, its directory: versions are read with one `stat` on
    /// the calling thread instead of a trip through object_store's blocking
    /// pool, which would cost more than the cached read it guards.
    local_root: Option<std::path::PathBuf>,
}

impl Ufs {
    /// Opens the UFS at `url`: `file:///dir`, `/dir`, or `s3://bucket/prefix`.
    pub fn open(url: &str) -> Result<Self, UfsError> {
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
        let parsed = url::Url::parse(url).map_err(|e| config_error(e.to_string()))?;
        // object_store reads `aws_*` options; take them from the environment.
        let options: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)
            .map_err(|e| config_error(e.to_string()))?;
        Ok(Self {
            store: Arc::from(store),
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

    /// The current version of `path`, or `None` if there is no such file.
    pub async fn head(&self, path: &str) -> Result<Option<UfsFile>, UfsError> {
        if let Some(root) = &self.local_root {
            return local_head(root, path).map_err(|source| UfsError::Local {
                path: path.to_owned(),
                source,
            });
        }
        match self.store.head(&self.location(path)).await {
            Ok(meta) => Ok(Some(UfsFile {
                path: path.to_owned(),
                length: meta.size,
                version: meta.e_tag.clone().unwrap_or_else(|| {
                    format!(
                        "{}-{}",
                        meta.size,
                        meta.last_modified.timestamp_nanos_opt().unwrap_or(0)
                    )
                }),
                etag: meta.e_tag,
                modified_ms: meta.last_modified.timestamp_millis(),
            })),
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
            .filter_map(|meta| {
                let relative: Vec<String> = meta
                    .location
                    .prefix_match(&self.prefix)?
                    .map(|part| part.as_ref().to_owned())
                    .collect();
                Some((relative.join("/"), meta.size))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reads `range` of `file`, failing with [`UfsError::Changed`] if the
    /// file is no longer that version.
    pub async fn read(&self, file: &UfsFile, range: Range<u64>) -> Result<Bytes, UfsError> {
        let options = GetOptions {
            if_match: file.etag.clone(),
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
        result.bytes().await.map_err(store_error)
    }
}

/// The version of a local file as object_store's `LocalFileSystem` names it
/// (`<inode>-<mtime µs>-<size>` in hex), so that its conditional reads accept it.
/// `Ok(None)` when there is no such file (or it is a directory).
fn local_head(root: &std::path::Path, path: &str) -> std::io::Result<Option<UfsFile>> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(root.join(path)) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(None),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let modified = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let etag = format!(
        "{:x}-{:x}-{:x}",
        meta.ino(),
        modified.as_micros(),
        meta.len()
    );
    Ok(Some(UfsFile {
        path: path.to_owned(),
        length: meta.len(),
        version: etag.clone(),
        etag: Some(etag),
        modified_ms: modified.as_millis() as i64,
    }))
}
