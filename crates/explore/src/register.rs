//! The tiny state machine the search replicates: an append-only register.
//!
//! Each operation is appended as-is, so the state records the exact order in
//! which commands were applied; two replicas that applied different values
//! in some slot, or the same command twice, end up with different or
//! visibly wrong states.

use std::io::Write as _;

use synod_paxos::{digest, RestoreError, SnapshotData, SnapshotWriter, StateMachine};

/// Every operation applied so far, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register {
    ops: Vec<Vec<u8>>,
}

impl Register {
    pub fn new() -> Self {
        Register::default()
    }

    /// The operations applied so far, oldest first.
    pub fn ops(&self) -> &[Vec<u8>] {
        &self.ops
    }

    /// The first operation that was applied twice, if any. Commands in the
    /// search are all distinct, so a repeat means a command took effect
    /// twice (exactly-once was broken).
    pub fn repeated_op(&self) -> Option<&[u8]> {
        self.ops
            .iter()
            .enumerate()
            .find(|(i, op)| self.ops[..*i].contains(op))
            .map(|(_, op)| op.as_slice())
    }
}

impl StateMachine for Register {
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        self.ops.push(op.to_vec());
        (self.ops.len() as u64).to_le_bytes().to_vec()
    }

    fn query(&self, _op: &[u8]) -> Vec<u8> {
        (self.ops.len() as u64).to_le_bytes().to_vec()
    }

    /// Length-prefixed operations: `u32` count, then per op a `u32` length
    /// and the bytes, all little-endian.
    fn snapshot(&self, out: &mut SnapshotWriter) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(self.ops.len() as u32).to_le_bytes());
        for op in &self.ops {
            bytes.extend_from_slice(&(op.len() as u32).to_le_bytes());
            bytes.extend_from_slice(op);
        }
        out.write_all(&bytes).expect("writing to memory");
    }

    /// A register holds a few operations: it is read whole.
    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], RestoreError> {
            if input.len() < n {
                return Err(RestoreError("register snapshot is truncated".into()));
            }
            let (head, tail) = input.split_at(n);
            *input = tail;
            Ok(head)
        }
        fn take_u32(input: &mut &[u8]) -> Result<usize, RestoreError> {
            let bytes = take(input, 4)?;
            Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")) as usize)
        }
        let bytes = snapshot.to_vec();
        let mut input = &bytes[..];
        let count = take_u32(&mut input)?;
        let mut ops = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let len = take_u32(&mut input)?;
            ops.push(take(&mut input, len)?.to_vec());
        }
        if !input.is_empty() {
            return Err(RestoreError("register snapshot has trailing bytes".into()));
        }
        self.ops = ops;
        Ok(())
    }

    fn digest(&self) -> u64 {
        digest(&self.ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_of(r: &Register) -> SnapshotData {
        let mut out = SnapshotWriter::new(3);
        r.snapshot(&mut out);
        out.finish()
    }

    #[test]
    fn snapshot_restores_an_equal_register() {
        let mut r = Register::new();
        r.apply(b"a");
        r.apply(b"bc");
        let mut back = Register::new();
        back.restore(&snapshot_of(&r)).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.digest(), r.digest());
    }

    #[test]
    fn a_repeated_operation_is_reported() {
        let mut r = Register::new();
        r.apply(b"a");
        r.apply(b"b");
        assert_eq!(r.repeated_op(), None);
        r.apply(b"a");
        assert_eq!(r.repeated_op(), Some(&b"a"[..]));
    }
}
