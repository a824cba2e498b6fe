//! The host's reading of a policy's answer from guest memory on the direct
//! call path (host/policy/src/direct/abi.rs): a hostile policy controls
//! every byte of its memory and the pointer it answers with. Whatever they
//! are, the host reads in bounds or refuses, and never copies more workers
//! than there were candidates.
#![no_main]

use azimuth_policy::fuzzing::{input_buffer, lift_next_step, lift_plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let pointer = u32::from_le_bytes(data[..4].try_into().unwrap());
    let candidates = usize::from(data[4]);
    let memory = &data[6..];
    // Half the inputs point into the memory, so that the fields behind the
    // pointer are reached, not only the bounds check.
    let ret = match (data[5] & 1, memory.len()) {
        (0, len) if len > 0 => pointer % len as u32,
        _ => pointer,
    };
    if let Ok(plan) = lift_plan(memory, ret, candidates) {
        assert!(plan.workers.len() <= candidates);
        assert!(ret as usize + 20 <= memory.len());
    }
    if lift_next_step(memory, ret).is_ok() {
        assert!(ret as usize + 8 <= memory.len());
    }
    if let Ok(buffer) = input_buffer(memory, ret) {
        assert!(buffer.end <= memory.len() && buffer.start % 8 == 0);
    }
});
