//! A scratch allocator for policies: most of a decision's allocations (the
//! candidate list the host writes in, the copy the bindings make, the plan
//! the policy returns) live exactly as long as one call. Bumping a pointer in
//! a fixed arena and rewinding it when nothing is left alive costs a few
//! instructions, against dlmalloc's bookkeeping three times per call.
//!
//! An allocation that outlives its call (a policy keeping state) keeps the
//! arena from rewinding; once the arena is full, allocations go to the
//! system allocator, so the worst case is today's cost, never unbounded
//! growth. Wasm policies are single-threaded, so plain cells suffice.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Bytes in the arena: room for a decision over thousands of candidates.
pub const ARENA_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

/// The allocator; install with `#[global_allocator]`.
pub struct Scratch {
    arena: Arena,
    /// Offset of the first free byte.
    next: UnsafeCell<usize>,
    /// Allocations in the arena not yet freed.
    live: UnsafeCell<usize>,
}

// SAFETY: only used on wasm32 policies, which run on one thread.
unsafe impl Sync for Scratch {}

impl Scratch {
    /// An empty arena.
    pub const fn new() -> Self {
        Self {
            arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
            next: UnsafeCell::new(0),
            live: UnsafeCell::new(0),
        }
    }

    fn base(&self) -> usize {
        self.arena.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= self.base() && p < self.base() + ARENA_BYTES
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every pointer returned is either inside the arena, aligned as
// asked and not handed out twice while live, or from `System`; `dealloc`
// sends each pointer back to where it came from.
unsafe impl GlobalAlloc for Scratch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync`), so no other borrow exists.
        let (next, live) = unsafe { (&mut *self.next.get(), &mut *self.live.get()) };
        let start = (self.base() + *next).next_multiple_of(layout.align()) - self.base();
        match start.checked_add(layout.size()) {
            Some(end) if end <= ARENA_BYTES => {
                *next = end;
                *live += 1;
                (self.base() + start) as *mut u8
            }
            // SAFETY: forwarded with the caller's layout.
            _ => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            // SAFETY: single-threaded (see `Sync`).
            let (next, live) = unsafe { (&mut *self.next.get(), &mut *self.live.get()) };
            *live -= 1;
            if *live == 0 {
                *next = 0;
            }
        } else {
            // SAFETY: not ours, so it came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}
