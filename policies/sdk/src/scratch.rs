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
        // Alignments are powers of two: round up with a mask, where
        // `next_multiple_of` divides (a Wasm `i32.rem_u` on every allocation).
        let mask = layout.align() - 1;
        let end = (self.base() + *next)
            .checked_add(mask)
            .map(|p| (p & !mask) - self.base())
            .and_then(|start| start.checked_add(layout.size()).map(|end| (start, end)));
        match end {
            Some((start, end)) if end <= ARENA_BYTES => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_disjoint_and_the_arena_rewinds_when_all_are_freed() {
        let scratch = Box::new(Scratch::new());
        let mut live = Vec::new();
        for (size, align) in [
            (1, 1),
            (16, 8),
            (3, 2),
            (96, 16),
            (4, 4),
            (8, 64),
            (1, 4096),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size.
            let ptr = unsafe { scratch.alloc(layout) };
            assert!(scratch.owns(ptr), "{size} bytes fit in the arena");
            assert_eq!(ptr as usize % align, 0, "{size} bytes aligned to {align}");
            live.push((ptr as usize, layout));
        }
        let mut spans: Vec<_> = live.iter().map(|(p, l)| (*p, *p + l.size())).collect();
        spans.sort();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "no overlap");
        for (ptr, layout) in live {
            // SAFETY: allocated above with this layout.
            unsafe { scratch.dealloc(ptr as *mut u8, layout) };
        }
        let layout = Layout::from_size_align(8, 8).unwrap();
        // SAFETY: non-zero size; freed right after.
        let again = unsafe { scratch.alloc(layout) };
        assert_eq!(again as usize, scratch.base(), "rewound to the start");
        // SAFETY: allocated just above.
        unsafe { scratch.dealloc(again, layout) };
    }

    #[test]
    fn what_does_not_fit_comes_from_the_system_allocator() {
        let scratch = Box::new(Scratch::new());
        let layout = Layout::from_size_align(ARENA_BYTES + 1, 8).unwrap();
        // SAFETY: non-zero size; freed below.
        let big = unsafe { scratch.alloc(layout) };
        assert!(!big.is_null() && !scratch.owns(big));
        // SAFETY: allocated above with this layout.
        unsafe { scratch.dealloc(big, layout) };
        let huge_align = Layout::from_size_align(8, 1 << 20).unwrap();
        // SAFETY: non-zero size; freed below.
        let aligned = unsafe { scratch.alloc(huge_align) };
        assert_eq!(aligned as usize % (1 << 20), 0);
        // SAFETY: allocated above with this layout.
        unsafe { scratch.dealloc(aligned, huge_align) };
    }
}
