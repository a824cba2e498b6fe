//! The contract's types (`wit/policy.wit`, interface `routing`) as a policy
//! sees them.
//!
//! They are written here rather than generated so that a candidate has the
//! canonical ABI's memory layout (`#[repr(C)]`, fields widest first, as the
//! WIT orders them): the SDK hands a policy the host's candidate list where
//! the host wrote it, without copying it (see `abi`).

/// The settings and facts of one read that shape the choice of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Rank workers that have fully cached the file ahead of those that have
    /// not (`alluxio.user.replica.prefer.cached.replicas`).
    pub prefer_cached_replicas: bool,
    /// A read served by another cluster should leave a replica in the
    /// client's cluster (`alluxio.user.file.passive.cache.enabled`).
    pub passive_cache: bool,
    /// The UFS may serve the read when no worker can
    /// (`alluxio.dora.client.ufs.fallback.enabled`).
    pub ufs_fallback: bool,
    /// Length of the whole file in bytes, when the host knows it.
    pub file_length: Option<u64>,
    /// First byte of the requested range.
    pub offset: u64,
    /// Bytes requested from `offset`; `None` means to the end of the file.
    pub length: Option<u64>,
    /// 0 for the first decision of a read; the host increments it each time
    /// it asks again for the same read.
    pub attempt: u32,
    /// Random bits chosen by the host for this read, for policies that want
    /// randomness (a policy has no other source of it).
    pub seed: u64,
}

/// How much of the file a worker holds in its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CacheState {
    /// The host did not learn it (not probed, or the probe failed).
    Unknown = 0,
    /// No byte of the file is cached.
    None = 1,
    /// Some bytes are cached, not all.
    Partial = 2,
    /// Every byte of the file is cached.
    Full = 3,
}

/// One worker that holds (or would hold) a replica of the file.
///
/// Laid out exactly as the canonical ABI stores the WIT record: 16 bytes, no
/// padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Candidate {
    /// Bytes of the file the worker has cached (0 when unknown).
    pub cached_bytes: u64,
    /// Recently observed round-trip latency to the worker in microseconds; 0
    /// when nothing has been observed yet.
    pub rtt_us: u32,
    /// Which cluster the worker belongs to: a small index, stable for the life
    /// of the host, the same for every worker of one cluster. The client's own
    /// cluster is 0.
    pub cluster: u8,
    /// The worker's cache state for this file.
    pub cache: CacheState,
    /// The worker belongs to the client's own cluster, in its own zone.
    pub local: bool,
    /// The host considers the worker able to serve: it is live in membership
    /// and has not failed recently.
    pub healthy: bool,
}

const _: () = assert!(size_of::<Candidate>() == 16 && align_of::<Candidate>() == 8);

/// The answer of `rank`: which sources to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Indices into `candidates`, the worker to try first at the front. Each
    /// index at most once. Workers left out are not tried.
    pub workers: Vec<u32>,
    /// After the workers, read from the UFS. Only allowed when the request
    /// allows UFS fallback.
    pub then_ufs: bool,
    /// The index of a candidate in the client's own cluster that should
    /// receive a passive replica of the file, if any.
    pub passive_cache_to: Option<u32>,
}

/// A place a read can be served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The candidate with this index.
    Worker(u32),
    /// The under file system.
    Ufs,
}

/// How a source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The connection was refused or reset before any byte arrived.
    Refused,
    /// No answer, or no progress, within the host's time limit.
    Timeout,
    /// The source answered with an error, or the stream broke.
    IoError,
    /// The bytes did not match their checksum.
    Corrupt,
    /// The source does not have the file.
    NotFound,
}

/// A source that just failed during a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The source that failed.
    pub source: Source,
    /// How it failed.
    pub kind: FailureKind,
    /// How many times this read has already retried this same source.
    pub retries: u32,
    /// Bytes of the range already delivered to the caller; the read goes on
    /// from `offset + delivered` whatever source serves next.
    pub delivered: u64,
}

/// What the host does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Go on to the next source of the plan.
    NextSource,
    /// Try the same source again after this many milliseconds.
    RetryAfterMs(u32),
    /// Stop: the read fails with the error of the last source.
    GiveUp,
}
