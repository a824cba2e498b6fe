//! The host's form of the contract's `candidate` record, lowered in bulk.
//!
//! Every read passes its candidates to the policy as a `list<candidate>`.
//! wasmtime's derived lowering writes a record field by field, looking up
//! linear memory and the field's offset for each one; profiled, that was over
//! half of a whole decision. A candidate is 16 bytes with fixed offsets (the
//! WIT orders its fields widest first), so this type writes each one with a
//! single store and a whole list through one view of memory. The direct
//! call path (`policy::direct`) writes the list with the same `store_list`.
//! The Rust type is laid out exactly like the record (`repr(C)`, no
//! padding), so on a little-endian host a list is copied as the values' own
//! bytes, one 16-byte move per candidate.
//!
//! The type check is still wasmtime's: `ComponentType` is derived from the
//! field names and types, and an instance refuses a policy whose `candidate`
//! differs. The differential test (Wasm against native on random reads)
//! checks the bytes land where the guest reads them.

use std::mem::MaybeUninit;

use wasmtime::component::__internal::{InterfaceType, LowerContext, bad_type_info};
use wasmtime::component::{ComponentType, Lower};

use super::bindings::CacheState;

/// One worker that holds (or would hold) a replica of the file; see
/// `candidate` in `wit/policy.wit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ComponentType)]
#[component(record)]
#[repr(C)]
pub struct Candidate {
    /// Bytes of the file the worker has cached (0 when unknown).
    #[component(name = "cached-bytes")]
    pub cached_bytes: u64,
    /// Observed round trip to the worker in microseconds; 0 when not observed.
    #[component(name = "rtt-us")]
    pub rtt_us: u32,
    /// The worker's cluster as a small index; the client's own is 0.
    pub cluster: u8,
    /// The worker's cache state for this file.
    pub cache: CacheState,
    /// The worker is in the client's own cluster.
    pub local: bool,
    /// The host considers the worker able to serve.
    pub healthy: bool,
}

/// Size of a candidate in linear memory.
pub(crate) const SIZE: usize = 16;
const _: () = assert!(<Candidate as ComponentType>::SIZE32 == SIZE);

// The canonical ABI's offsets for the record, and no padding: the Rust
// value's bytes are the record's bytes (`CacheState` is `repr(u8)`, as
// wasmtime requires of a component enum, and numbered in WIT order).
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Candidate>() == SIZE);
    assert!(offset_of!(Candidate, cached_bytes) == 0);
    assert!(offset_of!(Candidate, rtt_us) == 8);
    assert!(offset_of!(Candidate, cluster) == 12);
    assert!(offset_of!(Candidate, cache) == 13 && size_of::<CacheState>() == 1);
    assert!(offset_of!(Candidate, local) == 14);
    assert!(offset_of!(Candidate, healthy) == 15);
};

impl Candidate {
    /// The canonical-ABI bytes of this record: fields at their offsets.
    #[inline]
    fn to_bytes(self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0..8].copy_from_slice(&self.cached_bytes.to_le_bytes());
        b[8..12].copy_from_slice(&self.rtt_us.to_le_bytes());
        b[12] = self.cluster;
        b[13] = self.cache as u8;
        b[14] = u8::from(self.local);
        b[15] = u8::from(self.healthy);
        b
    }
}

/// Writes `items` at the start of `dst` as the canonical ABI lays out a
/// `list<candidate>`; `dst` must hold `SIZE` bytes per item.
pub(crate) fn store_list(dst: &mut [u8], items: &[Candidate]) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `Candidate` has no padding (asserted above), so all
        // `size_of_val(items)` bytes are initialized, and any byte is a
        // valid `u8`. On a little-endian host they are the canonical ABI's.
        let bytes = unsafe {
            std::slice::from_raw_parts(items.as_ptr().cast::<u8>(), std::mem::size_of_val(items))
        };
        // Record by record, 16-byte moves inline: for a handful of
        // candidates a `memcpy` call cost more than the copy.
        let (records, _) = bytes.as_chunks::<SIZE>();
        let (slots, _) = dst[..bytes.len()].as_chunks_mut::<SIZE>();
        for (slot, record) in slots.iter_mut().zip(records) {
            *slot = *record;
        }
    }
    #[cfg(not(target_endian = "little"))]
    for (chunk, candidate) in dst[..items.len() * SIZE].chunks_exact_mut(SIZE).zip(items) {
        chunk.copy_from_slice(&candidate.to_bytes());
    }
}

// SAFETY: the memory layout written matches `ComponentType::ABI` (asserted
// above for the size; offsets follow the canonical ABI for the WIT field
// order), and flat lowering delegates to each field's own `Lower`.
unsafe impl Lower for Candidate {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        // Only lists of candidates cross the boundary today; this path is
        // here for completeness and mirrors the derived implementation.
        let fields = match ty {
            InterfaceType::Record(i) => &cx.types[i].fields,
            _ => bad_type_info(),
        };
        let types: Vec<InterfaceType> = fields.iter().map(|f| f.ty).collect();
        use wasmtime::component::__internal::map_maybe_uninit;
        self.cached_bytes.linear_lower_to_flat(
            cx,
            types[0],
            map_maybe_uninit!(dst.cached_bytes),
        )?;
        self.rtt_us
            .linear_lower_to_flat(cx, types[1], map_maybe_uninit!(dst.rtt_us))?;
        self.cluster
            .linear_lower_to_flat(cx, types[2], map_maybe_uninit!(dst.cluster))?;
        self.cache
            .linear_lower_to_flat(cx, types[3], map_maybe_uninit!(dst.cache))?;
        self.local
            .linear_lower_to_flat(cx, types[4], map_maybe_uninit!(dst.local))?;
        self.healthy
            .linear_lower_to_flat(cx, types[5], map_maybe_uninit!(dst.healthy))?;
        Ok(())
    }

    #[inline]
    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        *cx.get::<SIZE>(offset) = self.to_bytes();
        Ok(())
    }

    fn linear_store_list_to_memory<T>(
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        offset: usize,
        items: &[Self],
    ) -> wasmtime::Result<()> {
        store_list(&mut cx.as_slice_mut()[offset..], items);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_stored_as_each_record_s_canonical_bytes() {
        let states = [
            CacheState::Unknown,
            CacheState::None,
            CacheState::Partial,
            CacheState::Full,
        ];
        let items: Vec<Candidate> = (0..9u32)
            .map(|i| Candidate {
                cached_bytes: 0x0102_0304_0506_0708u64.rotate_left(i * 7),
                rtt_us: 0xA0B0_C0D0 ^ i,
                cluster: i as u8 * 17,
                cache: states[i as usize % 4],
                local: i % 2 == 0,
                healthy: i % 3 != 0,
            })
            .collect();
        let mut dst = vec![0xEEu8; items.len() * SIZE + 5];
        store_list(&mut dst, &items);
        for (i, item) in items.iter().enumerate() {
            let record = &dst[i * SIZE..(i + 1) * SIZE];
            assert_eq!(record, item.to_bytes(), "record {i}");
            assert_eq!(record[..8], item.cached_bytes.to_le_bytes());
            assert_eq!(record[13], item.cache as u8);
        }
        assert_eq!(
            dst[items.len() * SIZE..],
            [0xEE; 5],
            "nothing written past the list"
        );
    }
}
