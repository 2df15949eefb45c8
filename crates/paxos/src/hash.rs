//! A fixed 64-bit FNV-1a hasher: digests must be equal on every replica and
//! every run, which rules out std's randomly seeded hasher.

use std::hash::Hasher;

pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Digest of anything hashable with the fixed hasher.
pub fn digest<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    let mut h = Fnv64::default();
    value.hash(&mut h);
    h.finish()
}

/// Hashes (FNV-1a 64) what passes through it on its way to or from
/// `inner`: a snapshot's trailer, written and checked without holding the
/// snapshot in one buffer.
pub struct FnvIo<T> {
    inner: T,
    hasher: Fnv64,
}

impl<T> FnvIo<T> {
    pub fn new(inner: T) -> Self {
        FnvIo {
            inner,
            hasher: Fnv64::default(),
        }
    }

    /// The hash of every byte that passed so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }
}

impl<W: std::io::Write> std::io::Write for FnvIo<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.write(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: std::io::Read> std::io::Read for FnvIo<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(out)?;
        self.hasher.write(&out[..read]);
        Ok(read)
    }
}
