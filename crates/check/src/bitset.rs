//! The set of operations linearized so far, with a hash kept up to date on
//! every change so that looking it up in the cache costs O(1) to hash.

use crate::hash::mix64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub(crate) fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }
}

/// A [`Bitset`] and the XOR of a per-member hash, which set and clear
/// update incrementally.
pub(crate) struct HashedBitset {
    bits: Bitset,
    hash: u64,
}

impl HashedBitset {
    pub(crate) fn new(len: usize) -> Self {
        HashedBitset {
            bits: Bitset::new(len),
            hash: 0,
        }
    }

    pub(crate) fn insert(&mut self, i: usize) {
        assert!(!self.bits.contains(i), "operation {i} linearized twice");
        self.bits.words[i / 64] |= 1 << (i % 64);
        self.hash ^= mix64(i as u64 + 1);
    }

    pub(crate) fn remove(&mut self, i: usize) {
        assert!(self.bits.contains(i), "operation {i} was not linearized");
        self.bits.words[i / 64] &= !(1 << (i % 64));
        self.hash ^= mix64(i as u64 + 1);
    }

    pub(crate) fn bits(&self) -> &Bitset {
        &self.bits
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}
