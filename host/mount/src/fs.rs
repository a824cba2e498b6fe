//! The file system the kernel calls: each FUSE operation as the UFS's tree
//! (`metadata`) and the read path (`reader`) answer it. Read-only: every
//! call that would change the tree or a file answers `EROFS`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azimuth_client::Client;
use azimuth_cluster::config::MountSettings;
use azimuth_ufs::{Ufs, UfsFile};
use fuser::{
    BsdFileFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem,
    FopenFlags, Generation, INodeNo, IoctlFlags, LockOwner, OpenAccMode, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;

use crate::inodes::{self, Inodes};
use crate::metadata::{Entry, Metadata};
use crate::metrics::MountMetrics;
use crate::reader::{OpenFile, Reading};

/// The multi-zone cache as a read-only file system. Hand it to
/// [`fuser::spawn_mount`]; its calls run the read path on `runtime`.
pub struct AzimuthFs {
    runtime: Handle,
    metadata: Metadata,
    inodes: Inodes,
    reading: Reading,
    handles: Mutex<HashMap<u64, Arc<OpenFile>>>,
    next_handle: AtomicU64,
    /// The version each inode was last opened at: a file opened again at
    /// the same version keeps the kernel's cached pages.
    opened_versions: Mutex<HashMap<u64, String>>,
    uid: u32,
    gid: u32,
}

fn errno_name(errno: Errno) -> &'static str {
    match errno {
        Errno::ENOENT => "ENOENT",
        Errno::EIO => "EIO",
        Errno::EROFS => "EROFS",
        Errno::EBADF => "EBADF",
        Errno::ENOTDIR => "ENOTDIR",
        Errno::EISDIR => "EISDIR",
        _ => "other",
    }
}

impl AzimuthFs {
    /// A file system over `ufs`'s tree whose reads go through `client`,
    /// counting in `metrics`; async work runs on `runtime`.
    pub fn new(
        client: Client,
        ufs: Ufs,
        settings: &MountSettings,
        runtime: Handle,
        metrics: Arc<MountMetrics>,
    ) -> Self {
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Self {
            runtime,
            metadata: Metadata::new(ufs, settings),
            inodes: Inodes::new(),
            reading: Reading {
                client,
                readahead_max: settings.readahead_max,
                metrics,
            },
            handles: Mutex::default(),
            next_handle: AtomicU64::new(1),
            opened_versions: Mutex::default(),
            uid,
            gid,
        }
    }

    fn metrics(&self) -> &MountMetrics {
        &self.reading.metrics
    }

    fn ok(&self, operation: &'static str) {
        self.metrics().count(operation, "ok");
    }

    fn failed(&self, operation: &'static str, errno: Errno) -> Errno {
        self.metrics().count(operation, errno_name(errno));
        errno
    }

    /// A write-type call: refused, counted.
    fn read_only(&self, operation: &'static str) -> Errno {
        self.failed(operation, Errno::EROFS)
    }

    fn attr(&self, ino: u64, entry: &Entry) -> FileAttr {
        let (kind, size, perm, nlink, modified) = match entry {
            Entry::File(file) => (
                FileType::RegularFile,
                file.length,
                0o444,
                1,
                UNIX_EPOCH + Duration::from_millis(u64::try_from(file.modified_ms).unwrap_or(0)),
            ),
            Entry::Dir => (FileType::Directory, 0, 0o555, 2, UNIX_EPOCH),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: modified,
            mtime: modified,
            ctime: modified,
            crtime: modified,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        }
    }

    /// What `path` is, `ENOENT` when nothing, `EIO` when the UFS fails.
    fn entry(&self, path: &str) -> Result<Entry, Errno> {
        match self.runtime.block_on(self.metadata.entry(path)) {
            Ok(Some(entry)) => Ok(entry),
            Ok(None) => Err(Errno::ENOENT),
            Err(error) => {
                tracing::warn!(path, %error, "the UFS cannot say what this is");
                Err(Errno::EIO)
            }
        }
    }

    fn path(&self, ino: INodeNo) -> Result<String, Errno> {
        self.inodes.path(ino.0).ok_or(Errno::ENOENT)
    }

    fn child_path(&self, parent: INodeNo, name: &OsStr) -> Result<String, Errno> {
        let parent = self.path(parent)?;
        // UFS paths are UTF-8: another name names nothing there.
        let name = name.to_str().ok_or(Errno::ENOENT)?;
        Ok(inodes::child(&parent, name))
    }

    fn open_file(&self, ino: INodeNo, flags: OpenFlags) -> Result<(u64, FopenFlags), Errno> {
        if flags.acc_mode() != OpenAccMode::O_RDONLY
            || flags.0 & (libc::O_TRUNC | libc::O_APPEND) != 0
        {
            return Err(Errno::EROFS);
        }
        let path = self.path(ino)?;
        let file: UfsFile = match self.entry(&path)? {
            Entry::File(file) => file,
            Entry::Dir => return Err(Errno::EISDIR),
        };
        let version = file.version.clone();
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fh, Arc::new(OpenFile::new(file)));
        let previous = self
            .opened_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ino.0, version.clone());
        let flags = if previous.as_deref() == Some(version.as_str()) {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        };
        Ok((fh, flags))
    }

    /// Open files now.
    pub fn open_files(&self) -> usize {
        self.handles.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Filesystem for AzimuthFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self
            .child_path(parent, name)
            .and_then(|path| Ok((self.entry(&path)?, path)));
        match found {
            Ok((entry, path)) => {
                let ino = self.inodes.number(&path, true);
                self.ok("lookup");
                reply.entry(
                    &self.metadata.expiration(),
                    &self.attr(ino, &entry),
                    Generation(0),
                );
            }
            Err(errno) => reply.error(self.failed("lookup", errno)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.path(ino).and_then(|path| self.entry(&path)) {
            Ok(entry) => {
                self.ok("getattr");
                reply.attr(&self.metadata.expiration(), &self.attr(ino.0, &entry));
            }
            Err(errno) => reply.error(self.failed("getattr", errno)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let dir = match self.path(ino) {
            Ok(dir) => dir,
            Err(errno) => return reply.error(self.failed("readdir", errno)),
        };
        let entries = match self.runtime.block_on(self.metadata.list(&dir)) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(dir, %error, "the UFS cannot list this directory");
                return reply.error(self.failed("readdir", Errno::EIO));
            }
        };
        let parent = match dir.rsplit_once('/') {
            Some((parent, _)) => self.inodes.number(parent, false),
            None => inodes::ROOT,
        };
        let dots = [
            (ino.0, FileType::Directory, "."),
            (parent, FileType::Directory, ".."),
        ];
        let listed = entries.iter().map(|e| {
            let kind = match e.entry {
                Entry::File(_) => FileType::RegularFile,
                Entry::Dir => FileType::Directory,
            };
            (
                self.inodes.number(&inodes::child(&dir, &e.name), false),
                kind,
                e.name.as_str(),
            )
        });
        // An entry's offset is the one of the entry after it.
        for (i, (ino, kind, name)) in dots
            .into_iter()
            .chain(listed)
            .enumerate()
            .skip(offset as usize)
        {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        self.ok("readdir");
        reply.ok();
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.open_file(ino, flags) {
            Ok((fh, flags)) => {
                self.ok("open");
                reply.opened(FileHandle(fh), flags);
            }
            Err(errno) => reply.error(self.failed("open", errno)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let open = self
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fh.0)
            .cloned();
        let Some(open) = open else {
            return reply.error(self.failed("read", Errno::EBADF));
        };
        match self
            .runtime
            .block_on(open.read(&self.reading, offset, size))
        {
            Ok(bytes) => {
                self.ok("read");
                reply.data(&bytes);
            }
            Err(error) => {
                // The error lists every source tried and how each failed.
                tracing::error!(path = %open.file.path, offset, size, %error, "read failed");
                self.metadata.forget(&open.file.path);
                reply.error(self.failed("read", Errno::EIO));
            }
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Its windows, and the fetch ahead, go with the last reference.
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&fh.0);
        self.ok("release");
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.ok("statfs");
        reply.statfs(0, 0, 0, self.inodes.len() as u64, 0, 4096, 255, 4096);
    }

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(self.read_only("setattr"));
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(self.read_only("mknod"));
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(self.read_only("mkdir"));
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.read_only("unlink"));
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.read_only("rmdir"));
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(self.read_only("symlink"));
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(self.read_only("rename"));
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(self.read_only("link"));
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(self.read_only("write"));
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(self.read_only("create"));
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(self.read_only("setxattr"));
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // The UFS has no extended attributes.
        reply.error(Errno::ENODATA);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(self.read_only("removexattr"));
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(self.read_only("fallocate"));
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(self.read_only("copy_file_range"));
    }
}
