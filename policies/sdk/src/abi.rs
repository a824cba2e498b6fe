//! The canonical-ABI glue between the host and a policy's two functions,
//! written by hand instead of by wit-bindgen's `export!`. `rank` runs on every
//! read, and two things wit-bindgen does cost more than the decision itself:
//!
//! - it copies the candidate list into a new `Vec`, field by field, then frees
//!   the host's copy. Here the policy gets the host's list in place (checked,
//!   then borrowed as `&[Candidate]`, which has the same layout).
//! - it hands the answer's list to the host in a fresh allocation, so `rank`
//!   gets a post-return function that frees it, and the host enters the guest
//!   a third time per decision. Here the list is copied into a buffer the SDK
//!   keeps and reuses; it stays valid until the next call, after the host has
//!   read it, so there is nothing to free and no post-return.
//!
//! wit-bindgen still generates the component-type section that describes the
//! world; `wit-component` checks these exports against it, and the host's
//! differential test checks the bytes land where each side expects.
//!
//! Layouts below follow the canonical ABI for the WIT types: a record is laid
//! out like a `#[repr(C)]` struct of its fields, an `option<T>` or variant
//! like a struct of a one-byte tag and the payload.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

use crate::{CacheState, Candidate, Failure, FailureKind, NextStep, Plan, Request, Source};

/// `option<u64>` in memory.
#[repr(C)]
struct OptU64 {
    is_some: u8,
    value: u64,
}

/// `option<u32>` in memory.
#[repr(C)]
struct OptU32 {
    is_some: u8,
    value: u32,
}

/// `request` in memory.
#[repr(C)]
struct RawRequest {
    prefer_cached_replicas: u8,
    passive_cache: u8,
    ufs_fallback: u8,
    file_length: OptU64,
    offset: u64,
    length: OptU64,
    attempt: u32,
    seed: u64,
}

/// `list<candidate>` in memory.
#[repr(C)]
struct RawList {
    ptr: *mut u8,
    len: usize,
}

/// `source` in memory.
#[repr(C)]
struct RawSource {
    tag: u8,
    worker: u32,
}

/// `failure` in memory.
#[repr(C)]
struct RawFailure {
    source: RawSource,
    kind: u8,
    retries: u32,
    delivered: u64,
}

/// `failover`'s parameters, which the host passes in memory (they flatten to
/// more than 16 values).
#[repr(C)]
pub struct FailoverArgs {
    request: RawRequest,
    candidates: RawList,
    failure: RawFailure,
}

/// `plan` in memory: `rank`'s answer.
#[repr(C)]
pub struct RawPlan {
    workers: *const u32,
    workers_len: usize,
    then_ufs: u8,
    passive_cache_to: OptU32,
}

/// `next-step` in memory: `failover`'s answer.
#[repr(C)]
pub struct RawNextStep {
    tag: u8,
    retry_after_ms: u32,
}

// The offsets the canonical ABI gives these types on wasm32.
#[cfg(target_arch = "wasm32")]
const _: () = {
    use std::mem::offset_of;
    assert!(size_of::<RawRequest>() == 64 && offset_of!(RawRequest, file_length) == 8);
    assert!(offset_of!(RawRequest, length) == 32 && offset_of!(RawRequest, seed) == 56);
    assert!(offset_of!(FailoverArgs, candidates) == 64 && offset_of!(FailoverArgs, failure) == 72);
    assert!(size_of::<FailoverArgs>() == 96 && offset_of!(RawFailure, delivered) == 16);
    assert!(size_of::<RawPlan>() == 20 && offset_of!(RawPlan, passive_cache_to) == 12);
    assert!(size_of::<RawNextStep>() == 8);
};

/// A static only ever touched by the one thread a Wasm instance runs on.
struct Local<T>(UnsafeCell<T>);

// SAFETY: the glue is only compiled into single-threaded Wasm policies.
unsafe impl<T> Sync for Local<T> {}

/// Where `rank`'s answer is handed to the host: the plan and its list of
/// workers, grown as needed and reused by every call. Kept out of the global
/// allocator so the scratch arena can rewind between calls.
struct Answer {
    plan: RawPlan,
    workers: *mut u32,
    capacity: usize,
}

static ANSWER: Local<Answer> = Local(UnsafeCell::new(Answer {
    plan: RawPlan {
        workers: std::ptr::null(),
        workers_len: 0,
        then_ufs: 0,
        passive_cache_to: OptU32 {
            is_some: 0,
            value: 0,
        },
    },
    workers: std::ptr::null_mut(),
    capacity: 0,
}));

static STEP: Local<RawNextStep> = Local(UnsafeCell::new(RawNextStep {
    tag: 0,
    retry_after_ms: 0,
}));

/// Stops the call: the host sees a trap and falls back to its default.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    unreachable!("the ABI glue only runs in Wasm");
}

/// A lowered `bool` (the canonical ABI reads any non-zero value as true).
fn flag(value: u32) -> bool {
    value != 0
}

fn option(is_some: u32, value: u64) -> Option<u64> {
    (is_some != 0).then_some(value)
}

/// Borrows the host's candidate list in place.
///
/// # Safety
/// `ptr` points to `len` candidates the host wrote into memory this instance
/// owns, aligned to 8.
unsafe fn candidates<'a>(ptr: *mut u8, len: usize) -> &'a [Candidate] {
    if len == 0 {
        return &[];
    }
    // Every byte must be a valid Rust value before the list is read as one.
    // A conforming host writes booleans as 0 or 1 and cache states in range,
    // so one read-only pass ORs together each candidate's last four bytes
    // (cluster, cache state, local, healthy) and checks them once; it costs
    // a load per candidate, where fixing every byte cost two stores.
    let mut seen = 0u32;
    for i in 0..len {
        // SAFETY: within the list, as the caller promises; 4-aligned.
        seen |= unsafe { ptr.add(i * 16 + 12).cast::<u32>().read() };
    }
    // Cache state above 3 (bits 10-15), local or healthy above 1 (bits
    // 17-23, 25-31).
    if seen & 0xFEFE_FC00 != 0 {
        for i in 0..len {
            // SAFETY: within the list, as the caller promises.
            let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.add(i * 16), 16) };
            if bytes[13] > CacheState::Full as u8 {
                // A broken host: stop the call.
                trap();
            }
            // The canonical ABI reads any non-zero boolean as true.
            bytes[14] = u8::from(bytes[14] != 0);
            bytes[15] = u8::from(bytes[15] != 0);
        }
    }
    // SAFETY: same layout (`Candidate` is `repr(C)`, checked above to hold
    // only valid values), aligned, and the list lives until we free it.
    unsafe { std::slice::from_raw_parts(ptr.cast::<Candidate>(), len) }
}

/// Candidates that fit in the input buffer.
pub const INPUT_CANDIDATES: usize = 128;

/// Where a host may write `rank`'s and `failover`'s candidate list instead
/// of asking `cabi_realloc` for room: a fixed buffer, reused by every call.
/// Allocating through `cabi_realloc` costs the host a second entry into the
/// guest per decision (with its trap-handler setup), which was about a tenth
/// of a 6-candidate decision. A host that does not know the buffer calls
/// `cabi_realloc` as usual; the glue frees only what did not come from here.
#[repr(C, align(8))]
struct InputBuffer([u8; INPUT_CANDIDATES * 16]);

static INPUT: Local<InputBuffer> = Local(UnsafeCell::new(InputBuffer([0; INPUT_CANDIDATES * 16])));

/// What the input-buffer export answers: the buffer's address and size.
#[repr(C)]
pub struct InputDescriptor {
    start: *mut InputBuffer,
    bytes: usize,
}

// SAFETY: read-only, and Wasm policies are single-threaded.
unsafe impl Sync for InputDescriptor {}

static INPUT_DESCRIPTOR: InputDescriptor = InputDescriptor {
    start: INPUT.0.get(),
    bytes: INPUT_CANDIDATES * 16,
};

/// The body of the input-buffer export: where the buffer is. The host calls
/// it once per instance.
pub fn input_buffer() -> *const InputDescriptor {
    &INPUT_DESCRIPTOR
}

/// Frees the candidate list: the callee owns its parameters' memory, unless
/// the host wrote them into the input buffer.
///
/// # Safety
/// The list came from `cabi_realloc` with this length, or is the input
/// buffer, and is no longer used.
unsafe fn free_candidates(ptr: *mut u8, len: usize) {
    if len > 0 && ptr != INPUT.0.get().cast() {
        // SAFETY: allocated by `realloc` below with this size and alignment.
        unsafe { std::alloc::dealloc(ptr, Layout::from_size_align_unchecked(len * 16, 8)) }
    }
}

/// The body of `rank`'s export, its parameters flattened as the canonical
/// ABI passes them.
///
/// # Safety
/// Only called by the host, through the export `policy!` declares.
#[allow(clippy::too_many_arguments)]
pub unsafe fn rank(
    rank: fn(&Request, &[Candidate]) -> Plan,
    prefer_cached_replicas: u32,
    passive_cache: u32,
    ufs_fallback: u32,
    file_length_is_some: u32,
    file_length: u64,
    offset: u64,
    length_is_some: u32,
    length: u64,
    attempt: u32,
    seed: u64,
    candidates_ptr: *mut u8,
    candidates_len: usize,
) -> *const RawPlan {
    let request = Request {
        prefer_cached_replicas: flag(prefer_cached_replicas),
        passive_cache: flag(passive_cache),
        ufs_fallback: flag(ufs_fallback),
        file_length: option(file_length_is_some, file_length),
        offset,
        length: option(length_is_some, length),
        attempt,
        seed,
    };
    // SAFETY: the host passed this list.
    let plan = rank(&request, unsafe {
        candidates(candidates_ptr, candidates_len)
    });
    // SAFETY: the borrow ended with the call above.
    unsafe { free_candidates(candidates_ptr, candidates_len) };
    // SAFETY: single-threaded, and the host has finished reading the last
    // answer before it calls again.
    let answer = unsafe { &mut *ANSWER.0.get() };
    let n = plan.workers.len();
    if n > answer.capacity {
        let layout = |n: usize| Layout::array::<u32>(n).unwrap_or_else(|_| trap());
        let capacity = n.next_power_of_two();
        let grown = if answer.capacity == 0 {
            // SAFETY: non-zero size.
            unsafe { System.alloc(layout(capacity)) }
        } else {
            // SAFETY: allocated here with this layout.
            unsafe {
                System.realloc(
                    answer.workers.cast(),
                    layout(answer.capacity),
                    layout(capacity).size(),
                )
            }
        };
        if grown.is_null() {
            trap();
        }
        answer.workers = grown.cast();
        answer.capacity = capacity;
    }
    // Copied eight at a time in plain stores: `copy_nonoverlapping` of a
    // length known only at run time becomes `memory.copy`, which wasmtime
    // runs as a call into the host, and every turn of a loop pays the
    // CPU-deadline (epoch) check wasmtime puts at each loop header.
    let (chunks, rest) = plan.workers.as_chunks::<8>();
    let mut to = answer.workers;
    for &chunk in chunks {
        // SAFETY: the buffer holds at least `n` items; `to` is 4-aligned.
        unsafe {
            to.cast::<[u32; 8]>().write(chunk);
            to = to.add(8);
        }
    }
    for &worker in rest {
        // SAFETY: as above, within the first `n` items.
        unsafe {
            to.write(worker);
            to = to.add(1);
        }
    }
    answer.plan = RawPlan {
        workers: answer.workers,
        workers_len: n,
        then_ufs: u8::from(plan.then_ufs),
        passive_cache_to: OptU32 {
            is_some: u8::from(plan.passive_cache_to.is_some()),
            value: plan.passive_cache_to.unwrap_or(0),
        },
    };
    &answer.plan
}

/// The body of `failover`'s export.
///
/// # Safety
/// Only called by the host, through the export `policy!` declares; `args`
/// came from `cabi_realloc`.
pub unsafe fn failover(
    failover: fn(&Request, &[Candidate], &Failure) -> NextStep,
    args: *mut FailoverArgs,
) -> *const RawNextStep {
    // SAFETY: the host wrote the arguments there.
    let raw = unsafe { &*args };
    let r = &raw.request;
    let request = Request {
        prefer_cached_replicas: flag(r.prefer_cached_replicas.into()),
        passive_cache: flag(r.passive_cache.into()),
        ufs_fallback: flag(r.ufs_fallback.into()),
        file_length: option(r.file_length.is_some.into(), r.file_length.value),
        offset: r.offset,
        length: option(r.length.is_some.into(), r.length.value),
        attempt: r.attempt,
        seed: r.seed,
    };
    let f = &raw.failure;
    let failure = Failure {
        source: match f.source.tag {
            0 => Source::Worker(f.source.worker),
            1 => Source::Ufs,
            _ => trap(),
        },
        kind: match f.kind {
            0 => FailureKind::Refused,
            1 => FailureKind::Timeout,
            2 => FailureKind::IoError,
            3 => FailureKind::Corrupt,
            4 => FailureKind::NotFound,
            _ => trap(),
        },
        retries: f.retries,
        delivered: f.delivered,
    };
    let (list, len) = (raw.candidates.ptr, raw.candidates.len);
    // SAFETY: the host passed this list.
    let step = failover(&request, unsafe { candidates(list, len) }, &failure);
    // SAFETY: neither is used after this point; both came from `cabi_realloc`.
    unsafe {
        free_candidates(list, len);
        std::alloc::dealloc(args.cast(), Layout::new::<FailoverArgs>());
    }
    let (tag, retry_after_ms) = match step {
        NextStep::NextSource => (0, 0),
        NextStep::RetryAfterMs(ms) => (1, ms),
        NextStep::GiveUp => (2, 0),
    };
    // SAFETY: single-threaded; the host read the last answer already.
    let out = unsafe { &mut *STEP.0.get() };
    *out = RawNextStep {
        tag,
        retry_after_ms,
    };
    out
}

/// The canonical ABI's allocator export: the host calls it to place
/// parameters in the policy's memory.
///
/// # Safety
/// Only called by the host, with the canonical ABI's contract.
pub unsafe fn realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    let ptr = if old_size == 0 {
        if new_size == 0 {
            return align as *mut u8;
        }
        // SAFETY: non-zero size; the host passes a power-of-two alignment.
        unsafe { std::alloc::alloc(Layout::from_size_align_unchecked(new_size, align)) }
    } else {
        // SAFETY: `old` came from here with this size and alignment.
        unsafe {
            std::alloc::realloc(
                old,
                Layout::from_size_align_unchecked(old_size, align),
                new_size,
            )
        }
    };
    if ptr.is_null() {
        trap();
    }
    ptr
}
