//! Deterministic, fast hashing for the search cache.
//!
//! std's default hasher is seeded per process; the checker wants the same
//! work for the same history on every run, and speed over DoS resistance.

use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The multiplicative hash of rustc ("FxHash").
#[derive(Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Hashes one value with [`FxHasher`].
pub(crate) fn hash_one<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A hasher for keys that are already well-mixed `u64` hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher {
    hash: u64,
}

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the cache; fold anything else in.
        for &byte in bytes {
            self.hash = self.hash.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.hash = n;
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type BuildIdentityHasher = BuildHasherDefault<IdentityHasher>;

/// The SplitMix64 finalizer: spreads a small integer over all 64 bits.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// HashMaps keyed by anything, hashed with [`FxHasher`]: the same layout
/// (and so the same work) on every run. Never iterate one into output.
pub(crate) type BuildFxHasher = BuildHasherDefault<FxHasher>;
