//! The contract's core exports written by hand, to answer with what the
//! canonical ABI forbids: a hostile policy controls every byte the host
//! reads back. `rank`'s seed (its tenth flat argument) picks the fault:
//!
//! | seed | answer |
//! | --- | --- |
//! | 1 | a return pointer past the end of memory |
//! | 2 | a return pointer not aligned to 4 |
//! | 3 | a list of 2^30 workers |
//! | 4 | a list pointer past the end of memory |
//! | 5 | a list pointer not aligned to 4 |
//! | 6 | grows memory until refused, then a valid plan |
//! | 7 | a valid plan, and from then on `cabi_realloc` answers garbage |
//! | other | a valid plan: every candidate in order, then the UFS |
//!
//! `failover` answers a return pointer past the end of memory when its
//! request's seed is 1, and `next-source` otherwise.

use core::ptr::addr_of_mut;

// Keeps the world's description in the module, as the SDK's macro does.
#[used]
static WORLD: &[u8] = &azimuth_policy_sdk::bindings::__WIT_BINDGEN_COMPONENT_TYPE;

/// The plan's 20 bytes: list pointer, list length, then-ufs, passive case
/// and value.
static mut PLAN: [u32; 5] = [0; 5];
static mut STEP: [u32; 2] = [0; 2];
static mut WORKERS: [u32; 64] = [0; 64];

/// Room `cabi_realloc` hands out, bump-allocated and reset by every call.
#[repr(align(8))]
struct Arena([u8; 1 << 16]);
static mut ARENA: Arena = Arena([0; 1 << 16]);
static mut USED: usize = 0;
static mut GARBAGE_REALLOC: bool = false;

const PAST_THE_END: u32 = 0xffff_fff0;

#[unsafe(export_name = "azimuth:policy/routing@0.1.0#rank")]
#[allow(clippy::too_many_arguments)]
extern "C" fn rank(
    _prefer_cached: u32,
    _passive: u32,
    ufs_fallback: u32,
    _file_length_case: u32,
    _file_length: u64,
    _offset: u64,
    _length_case: u32,
    _length: u64,
    _attempt: u32,
    seed: u64,
    _list: *mut u8,
    len: usize,
) -> u32 {
    // SAFETY: one call at a time (a policy instance is single-threaded).
    unsafe {
        USED = 0;
        let plan = addr_of_mut!(PLAN) as u32;
        let workers = addr_of_mut!(WORKERS) as u32;
        let n = len.min(64);
        for i in 0..n {
            WORKERS[i] = i as u32;
        }
        PLAN = [workers, n as u32, ufs_fallback & 1, 0, 0];
        match seed {
            1 => return PAST_THE_END,
            2 => return plan + 1,
            3 => PLAN[1] = 1 << 30,
            4 => PLAN[0] = PAST_THE_END,
            5 => PLAN[0] = workers + 2,
            6 => while core::arch::wasm32::memory_grow(0, 16) != usize::MAX {},
            7 => GARBAGE_REALLOC = true,
            _ => {}
        }
        plan
    }
}

#[unsafe(export_name = "azimuth:policy/routing@0.1.0#failover")]
extern "C" fn failover(args: *mut u8) -> u32 {
    // SAFETY: the host passes the arguments' tuple; the seed is at 56.
    unsafe {
        USED = 0;
        let seed = core::ptr::read_unaligned(args.add(56).cast::<u64>());
        if seed == 1 {
            return PAST_THE_END;
        }
        STEP = [0, 0];
        addr_of_mut!(STEP) as u32
    }
}

#[unsafe(export_name = "cabi_realloc")]
extern "C" fn cabi_realloc(_old: *mut u8, _old_size: usize, align: usize, size: usize) -> u32 {
    // SAFETY: one call at a time.
    unsafe {
        if GARBAGE_REALLOC {
            return PAST_THE_END - 8;
        }
        let base = addr_of_mut!(ARENA) as usize;
        let start = (base + USED).next_multiple_of(align.max(1));
        if start + size > base + (1 << 16) {
            return 0;
        }
        USED = start + size - base;
        start as u32
    }
}
