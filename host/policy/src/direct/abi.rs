//! The contract's canonical ABI, written out for the direct call path.
//!
//! These are the lowerings and liftings wasmtime's component call performs
//! for `rank` and `failover`, by the Canonical ABI's rules: `rank`'s
//! arguments fit in 12 flat values, `failover`'s do not (they are stored in
//! guest memory, a pointer passed), and both answers come back through a
//! pointer into guest memory. Every read of guest memory is bounds-checked:
//! a guest that answers with a bad pointer gets the error wasmtime would
//! give, and the engine treats it as a trap.
//!
//! Sizes and alignments are asserted against wasmtime's own figures for the
//! bindgen types; field offsets follow the Canonical ABI for the WIT field
//! order. `tests/all/abi_fidelity.rs` checks every field, both paths, against
//! a policy that echoes what it received.

use std::ops::Range;

use wasmtime::component::ComponentType;
use wasmtime::{Result, bail};

use crate::bindings::{Failure, FailureKind, NextStep, Plan, Request, Source};
use crate::plan::InvalidAnswer;

/// `rank`'s core parameters: the request's ten flat values, then the
/// candidate list's pointer and length.
pub(super) type RankParams = (i32, i32, i32, i32, i64, i64, i32, i64, i32, i64, i32, i32);

/// Alignment of the candidate list in guest memory.
pub(super) const CANDIDATE_ALIGN: u32 = 8;

/// `failover`'s arguments as a tuple in guest memory: the request at 0, the
/// candidate list at 64, the failure at 72.
pub(super) const FAILOVER_ARGS_SIZE: usize = 96;
pub(super) const FAILOVER_ARGS_ALIGN: u32 = 8;
const REQUEST_SIZE: usize = 64;
const LIST_AT: usize = REQUEST_SIZE;
const FAILURE_AT: usize = 72;

/// `plan` in guest memory: workers (pointer, length) at 0, then-ufs at 8,
/// passive-cache-to's case at 12 and value at 16.
const PLAN_SIZE: usize = 20;
const PLAN_ALIGN: u32 = 4;
/// `next-step` in guest memory: case at 0, value at 4.
const NEXT_STEP_SIZE: usize = 8;
const NEXT_STEP_ALIGN: u32 = 4;

const _: () = {
    assert!(<Request as ComponentType>::SIZE32 == REQUEST_SIZE);
    assert!(<Request as ComponentType>::ALIGN32 == 8);
    assert!(<Failure as ComponentType>::SIZE32 == FAILOVER_ARGS_SIZE - FAILURE_AT);
    assert!(<Failure as ComponentType>::ALIGN32 == 8);
    assert!(<Plan as ComponentType>::SIZE32 == PLAN_SIZE);
    assert!(<Plan as ComponentType>::ALIGN32 == PLAN_ALIGN);
    assert!(<NextStep as ComponentType>::SIZE32 == NEXT_STEP_SIZE);
    assert!(<NextStep as ComponentType>::ALIGN32 == NEXT_STEP_ALIGN);
};

/// `(case, value)` of an `option<u64>` as flat values.
fn flat_option(value: Option<u64>) -> (i32, i64) {
    match value {
        Some(v) => (1, v as i64),
        None => (0, 0),
    }
}

/// The flat arguments of `rank`, the candidates being at `list` (`len` of them).
pub(super) fn rank_params(request: &Request, list: u32, len: u32) -> RankParams {
    let (file_length_case, file_length) = flat_option(request.file_length);
    let (length_case, length) = flat_option(request.length);
    (
        i32::from(request.prefer_cached_replicas),
        i32::from(request.passive_cache),
        i32::from(request.ufs_fallback),
        file_length_case,
        file_length,
        request.offset as i64,
        length_case,
        length,
        request.attempt as i32,
        request.seed as i64,
        list as i32,
        len as i32,
    )
}

/// Writes `failover`'s arguments into `dst` (`FAILOVER_ARGS_SIZE` bytes).
pub(super) fn store_failover_args(
    dst: &mut [u8],
    request: &Request,
    list: u32,
    len: u32,
    failure: &Failure,
) {
    let dst = &mut dst[..FAILOVER_ARGS_SIZE];
    // Padding is zeroed so the guest never sees stale bytes there.
    dst.fill(0);
    dst[0] = u8::from(request.prefer_cached_replicas);
    dst[1] = u8::from(request.passive_cache);
    dst[2] = u8::from(request.ufs_fallback);
    store_option(&mut dst[8..24], request.file_length);
    dst[24..32].copy_from_slice(&request.offset.to_le_bytes());
    store_option(&mut dst[32..48], request.length);
    dst[48..52].copy_from_slice(&request.attempt.to_le_bytes());
    dst[56..64].copy_from_slice(&request.seed.to_le_bytes());
    dst[LIST_AT..LIST_AT + 4].copy_from_slice(&list.to_le_bytes());
    dst[LIST_AT + 4..LIST_AT + 8].copy_from_slice(&len.to_le_bytes());
    let f = &mut dst[FAILURE_AT..];
    match failure.source {
        Source::Worker(i) => {
            f[0] = 0;
            f[4..8].copy_from_slice(&i.to_le_bytes());
        }
        Source::Ufs => f[0] = 1,
    }
    f[8] = match failure.kind {
        FailureKind::Refused => 0,
        FailureKind::Timeout => 1,
        FailureKind::IoError => 2,
        FailureKind::Corrupt => 3,
        FailureKind::NotFound => 4,
    };
    f[12..16].copy_from_slice(&failure.retries.to_le_bytes());
    f[16..24].copy_from_slice(&failure.delivered.to_le_bytes());
}

/// An `option<u64>` in memory: case at 0, value at 8.
fn store_option(dst: &mut [u8], value: Option<u64>) {
    if let Some(v) = value {
        dst[0] = 1;
        dst[8..16].copy_from_slice(&v.to_le_bytes());
    }
}

/// The `len` bytes of guest memory at `ptr`, which must be aligned to `align`.
pub(super) fn region(
    memory: &[u8],
    ptr: u32,
    len: usize,
    align: u32,
    what: &str,
) -> Result<Range<usize>> {
    if !ptr.is_multiple_of(align) {
        bail!("{what} pointer {ptr:#x} is not aligned to {align}");
    }
    let start = ptr as usize;
    match start.checked_add(len) {
        Some(end) if end <= memory.len() => Ok(start..end),
        _ => bail!("{what} pointer/length out of bounds of memory"),
    }
}

/// The input buffer the descriptor at `ptr` names (see `super::INPUT_EXPORT`).
pub fn input_buffer(memory: &[u8], ptr: u32) -> Result<Range<usize>> {
    let descriptor = &memory[region(memory, ptr, 8, 4, "input-buffer descriptor")?];
    let (start, len) = (u32_at(descriptor, 0), u32_at(descriptor, 4));
    region(memory, start, len as usize, CANDIDATE_ALIGN, "input buffer")
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads the `plan` `rank` answered with at `ret`, for a call that passed
/// `candidates` candidates. A list longer than that is refused before a byte
/// of it is read: a hostile policy must not make the host copy megabytes.
pub fn lift_plan(memory: &[u8], ret: u32, candidates: usize) -> Result<Plan> {
    let plan = &memory[region(memory, ret, PLAN_SIZE, PLAN_ALIGN, "return")?];
    let (ptr, len) = (u32_at(plan, 0), u32_at(plan, 4) as usize);
    if len > candidates {
        return Err(wasmtime::Error::new(InvalidAnswer::TooManyWorkers {
            workers: len as u32,
            candidates,
        }));
    }
    let bytes = len
        .checked_mul(4)
        .map(|size| region(memory, ptr, size, 4, "list"))
        .unwrap_or_else(|| bail!("list pointer/length out of bounds of memory"))?;
    let workers = memory[bytes]
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
        .collect();
    let passive_cache_to = match plan[12] {
        0 => None,
        1 => Some(u32_at(plan, 16)),
        _ => bail!("invalid option discriminant"),
    };
    Ok(Plan {
        workers,
        then_ufs: plan[8] != 0,
        passive_cache_to,
    })
}

/// Reads the `next-step` `failover` answered with at `ret`.
pub fn lift_next_step(memory: &[u8], ret: u32) -> Result<NextStep> {
    let step = &memory[region(memory, ret, NEXT_STEP_SIZE, NEXT_STEP_ALIGN, "return")?];
    Ok(match step[0] {
        0 => NextStep::NextSource,
        1 => NextStep::RetryAfterMs(u32_at(step, 4)),
        2 => NextStep::GiveUp,
        case => bail!("unexpected discriminant: {case}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_at(memory: &mut [u8], ret: usize, list: u32, len: u32, ufs: u8, passive: (u8, u32)) {
        memory[ret..ret + 4].copy_from_slice(&list.to_le_bytes());
        memory[ret + 4..ret + 8].copy_from_slice(&len.to_le_bytes());
        memory[ret + 8] = ufs;
        memory[ret + 12] = passive.0;
        memory[ret + 16..ret + 20].copy_from_slice(&passive.1.to_le_bytes());
    }

    #[test]
    fn a_plan_is_read_from_its_fields() {
        let mut memory = vec![0u8; 256];
        memory[64..76].copy_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        plan_at(&mut memory, 8, 64, 3, 1, (1, 7));
        let plan = lift_plan(&memory, 8, 3).expect("valid");
        assert_eq!(plan.workers, [2, 0, 1]);
        assert!(plan.then_ufs);
        assert_eq!(plan.passive_cache_to, Some(7));
    }

    #[test]
    fn a_plan_longer_than_the_candidates_is_refused_before_it_is_read() {
        let mut memory = vec![0u8; 256];
        // In bounds and aligned, so only its length can refuse it.
        plan_at(&mut memory, 0, 64, 5, 0, (0, 0));
        let error = lift_plan(&memory, 0, 4).unwrap_err();
        assert_eq!(
            error.downcast_ref::<InvalidAnswer>(),
            Some(&InvalidAnswer::TooManyWorkers {
                workers: 5,
                candidates: 4
            })
        );
        // A length no memory could hold is refused the same way, not by
        // the bounds check that would have to compute its size first.
        plan_at(&mut memory, 0, 64, u32::MAX, 0, (0, 0));
        let error = lift_plan(&memory, 0, 4).unwrap_err();
        assert!(error.downcast_ref::<InvalidAnswer>().is_some(), "{error}");
        assert!(lift_plan(&memory, 0, usize::MAX).is_err());
    }

    #[test]
    fn an_input_buffer_must_be_aligned_and_inside_memory() {
        let mut memory = vec![0u8; 4096];
        let mut describe = |start: u32, bytes: u32| {
            memory[4..8].copy_from_slice(&start.to_le_bytes());
            memory[8..12].copy_from_slice(&bytes.to_le_bytes());
            input_buffer(&memory, 4)
        };
        assert_eq!(describe(2048, 2048).expect("fits"), 2048..4096);
        let error = describe(2048, 2049).unwrap_err().to_string();
        assert!(
            error.contains("input buffer") && error.contains("out of bounds"),
            "{error}"
        );
        assert!(describe(u32::MAX - 8, 16).is_err());
        let error = describe(2052, 16).unwrap_err().to_string();
        assert!(error.contains("aligned to 8"), "{error}");
        let error = input_buffer(&memory, 4094).unwrap_err().to_string();
        assert!(error.contains("descriptor"), "{error}");
    }

    #[test]
    fn answers_pointing_outside_memory_or_misaligned_are_errors() {
        let mut memory = vec![0u8; 128];
        plan_at(&mut memory, 0, 120, 4, 0, (0, 0));
        let error = lift_plan(&memory, 0, 4).unwrap_err().to_string();
        assert!(error.contains("out of bounds"), "{error}");
        plan_at(&mut memory, 0, 0, u32::MAX, 0, (0, 0));
        assert!(lift_plan(&memory, 0, usize::MAX).is_err());
        assert!(
            lift_plan(&memory, 2, 4)
                .unwrap_err()
                .to_string()
                .contains("aligned")
        );
        assert!(lift_plan(&memory, 112, 4).is_err());
        plan_at(&mut memory, 0, 0, 0, 0, (2, 0));
        let error = lift_plan(&memory, 0, 4).unwrap_err().to_string();
        assert!(error.contains("discriminant"), "{error}");
        memory[0] = 3;
        assert!(lift_next_step(&memory, 0).is_err());
        memory[0] = 1;
        memory[4] = 9;
        assert_eq!(
            lift_next_step(&memory, 0).unwrap(),
            NextStep::RetryAfterMs(9)
        );
    }
}
