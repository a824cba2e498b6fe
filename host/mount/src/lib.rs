//! The multi-zone cache as a read-only POSIX file system (FUSE): the UFS
//! root's tree, whose every `read(2)` goes through the library's client —
//! ranked by the active policy, failing over across zones at the exact
//! byte, the UFS last, leaving passive replicas — so that a zone's death is
//! invisible to `cat`, `cp`, `open()` and `mmap`.
//!
//! - `inodes`: inode numbers for UFS paths.
//! - `metadata`: attributes and listings from the UFS, remembered.
//! - `reader`: open files, pinned to a version, and their read-ahead.
//! - `fs`: the FUSE operations ([`AzimuthFs`]); writes answer `EROFS`.
//! - `metrics`: operations and read-ahead, counted ([`MountMetrics`]).
//!
//! [`mount`] checks the mount point and mounts; [`Mounted::unmount`]
//! unmounts, lazily when files are still open.

#![warn(missing_docs)]

mod fs;
mod inodes;
mod metadata;
mod metrics;
mod reader;

use std::path::{Path, PathBuf};

pub use self::fs::AzimuthFs;
pub use self::metrics::MountMetrics;

/// Why a mount cannot be made or ended; names the mount point.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The mount point is not there, or not a directory.
    #[error("the mount point {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The mount point has entries: mounting would hide them.
    #[error("the mount point {} is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// A mount whose process is gone is still there.
    #[error(
        "the mount point {} is a stale mount (its process is gone): unmount it with `fusermount3 -u {}`",
        .0.display(), .0.display()
    )]
    Stale(PathBuf),
    /// The mount point cannot be read.
    #[error("cannot read the mount point {}: {source}", path.display())]
    Unreadable {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The kernel or fusermount3 refused to mount.
    #[error("cannot mount {}: {source} (is fuse3 installed, for fusermount3, and /dev/fuse there?)", path.display())]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Unmounting failed, lazily too.
    #[error("cannot unmount {}: {source}", path.display())]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Checks that `path` can be mounted on: an empty directory, not a mount
/// left behind by a crashed process.
pub fn check_mount_point(path: &Path) -> Result<(), MountError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(MountError::NotADirectory(path.to_owned())),
        // A FUSE mount whose process died answers ENOTCONN.
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(MountError::Stale(path.to_owned()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MountError::NotADirectory(path.to_owned()));
        }
        Err(source) => {
            return Err(MountError::Unreadable {
                path: path.to_owned(),
                source,
            });
        }
    }
    let mut entries = std::fs::read_dir(path).map_err(|source| MountError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(MountError::NotEmpty(path.to_owned()));
    }
    Ok(())
}

/// A mounted file system, served by its own threads.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    path: PathBuf,
}

/// Threads that serve the kernel's calls: a slow read on one does not stop
/// `stat`s on the others.
const THREADS: usize = 4;

/// Mounts `fs` on `path` (checked first), read-only.
pub fn mount(fs: AzimuthFs, path: &Path, name: &str) -> Result<Mounted, MountError> {
    check_mount_point(path)?;
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::RO,
        fuser::MountOption::FSName(name.to_owned()),
        fuser::MountOption::Subtype("azimuth".to_owned()),
        fuser::MountOption::DefaultPermissions,
    ];
    config.n_threads = Some(THREADS);
    let session = fuser::spawn_mount(fs, path, &config).map_err(|source| MountError::Mount {
        path: path.to_owned(),
        source,
    })?;
    Ok(Mounted {
        session: Some(session),
        path: path.to_owned(),
    })
}

impl Mounted {
    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the mount has ended (unmounted from outside, or the kernel
    /// ended the connection).
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Unmounts and waits for the serving threads. A mount with files still
    /// open cannot be unmounted at once: it is detached instead (`umount -l`),
    /// gone from the tree now, and those files' next reads fail.
    pub fn unmount(mut self) -> Result<(), MountError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        match session.umount_and_join() {
            Ok(()) => Ok(()),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "busy: detaching the mount");
                detach(&self.path)
            }
        }
    }
}

/// `umount2(path, MNT_DETACH)`.
fn detach(path: &Path) -> Result<(), MountError> {
    use std::os::unix::ffi::OsStrExt;
    let failed = |source| MountError::Unmount {
        path: path.to_owned(),
        source,
    };
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| failed(std::io::Error::other(e)))?;
    // SAFETY: c_path is a valid NUL-terminated string for the call's length.
    if unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(failed(std::io::Error::last_os_error()));
    }
    Ok(())
}
