//! The wire format of the peer port, and nothing else: pure encode and
//! decode of frames, with no sockets and no tasks, so every limit can be
//! tested on plain byte buffers.
//!
//! A frame on the wire is
//!
//! ```text
//! +----------------------+---------+---------------------------------+
//! | length: u32 big-end. | version | bincode(Frame)                  |
//! | (bytes that follow)  | u8 = 1  | fixint, little-endian, no trail |
//! +----------------------+---------+---------------------------------+
//! ```
//!
//! `length` counts the version byte and the bincode body. It is checked
//! against the receiver's `frame_bytes_max` before a single byte of the
//! body is buffered, so a peer cannot make us allocate by announcing a large
//! frame. The body is decoded with a bincode byte limit equal to the frame
//! length, rejects trailing bytes, and a batch announcing more than
//! [`BATCH_MESSAGES_MAX`] messages is refused before any of them is decoded.
//! Fixed-width integers (rather than varints) keep the decoded size of a
//! frame within a small constant factor of its wire size: every element of
//! every sequence costs at least eight bytes on the wire.

use crate::parcel::Parcel;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use synod_paxos::NodeId;
use thiserror::Error;

use bincode::Options;

/// The format of a frame's body. A receiver refuses any other value.
pub const FRAME_VERSION: u8 = 1;

/// The meaning of the messages carried (the `Message` enum and the
/// handshake rules). A hello with another value is refused.
/// 2: `Message::Forward` (followers forward client commands).
/// 3: `Message::SnapshotChunk` and `Message::SnapshotChunkRequest`
/// (snapshots larger than a chunk cross in chunks).
/// 4: promises in pages (`Promise` gains `commit` and `more`), snapshot
/// chunks carry the head in the stream (`total_bytes`, `head_bytes`).
/// 5: the hello carries the sender's incarnation.
/// 6: ZooKeeper writes travel as `CoordOp::RuledBatch` (the ACL rules in
/// the command: x509), which a build of version 5 cannot decode.
/// 7: ZooKeeper writes of null data travel as `Write::CreateNull` and
/// `Write::SetNullData`, which a build of version 6 cannot decode; and
/// `RuledBatch` rules 3 (the sasl ACL scheme), which a build of version 6
/// would answer Unimplemented while this one applies it: replicas of the
/// two must not share a log; and `Message::ReconfigForward` and
/// `ReconfigAnswer` (a follower hands a ZooKeeper client's reconfig to the
/// leader) and `CoordOp::ServerLines`, which a build of version 6 cannot
/// decode.
/// 8: a snapshot's state is a sequence of chunks (`SnapshotData`), in
/// `CatchupReply`, where version 7 had one byte string; and
/// `CoordOp::Acquire` and `CoordOp::Release` (Chubby's locks) and the
/// coordination snapshot version 4 (with the lock table), which a build of
/// version 7 can neither decode nor restore.
/// 9: a batch carries `Parcel`s (a group id with each Paxos message, and
/// messages between groups of the sharded tier) where version 8 carried
/// bare messages.
pub const PROTOCOL_VERSION: u32 = 9;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// The most messages one batch frame may carry. This is a wire limit that
/// both sides share: a receiver refuses a batch announcing more, before
/// decoding any of it, which bounds the per-message overhead a small frame
/// can make us allocate.
pub const BATCH_MESSAGES_MAX: usize = 4096;

/// The frame limit on a connection until its hello is accepted: a hello
/// takes 41 bytes, and a stranger must not make us buffer more.
pub const HANDSHAKE_FRAME_BYTES_MAX: usize = 1024;

/// The smallest `frame_bytes_max` a config may set: room for a hello and a
/// useful batch.
pub const FRAME_BYTES_MIN: usize = HANDSHAKE_FRAME_BYTES_MAX;

/// The largest frame limit the length prefix can express.
pub const FRAME_BYTES_LIMIT: usize = u32::MAX as usize;

/// The first frame on every connection: who is speaking, to whom, in
/// which cluster and protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hello {
    pub cluster_id: u64,
    pub from: NodeId,
    pub to: NodeId,
    pub protocol_version: u32,
    /// Which life of node `from` this is: a random number its data
    /// directory got when it was initialized. A node that lost its disk and
    /// was initialized again under the same id has another, and peers that
    /// remember the old one refuse it (see `NetConfig::peer_memory`).
    pub incarnation: u64,
}

/// Parcels written together in one frame, in the order they were sent.
/// Its decoder refuses more than [`BATCH_MESSAGES_MAX`] of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch(pub Vec<Parcel>);

/// Everything that can travel on a peer connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    Hello(Hello),
    Messages(Batch),
}

/// Why bytes could not be turned into a frame, or a frame into bytes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    #[error("frame to encode exceeds the limit of {max} bytes")]
    EncodeTooLarge { max: usize },
    #[error("empty frame (a frame holds at least its version byte)")]
    EmptyFrame,
    #[error("frame version {0} is not supported (expected {FRAME_VERSION})")]
    UnknownVersion(u8),
    #[error("malformed frame body: {0}")]
    Malformed(String),
    #[error("cannot encode frame: {0}")]
    Encode(String),
}

/// The bincode configuration of a frame body. `limit` bounds the bytes
/// read or written, so neither side can be pushed past the frame limit.
fn body_options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
        .with_limit(limit)
}

/// The length (as the prefix counts it: version byte and body) of a batch
/// frame whose messages take `messages_body_bytes` in all.
pub fn batch_frame_len(messages_body_bytes: u64) -> u64 {
    // Version byte, enum tag (u32) and sequence length (u64), fixint.
    1 + 4 + 8 + messages_body_bytes
}

/// What a `Parcel::Paxos` adds to its message in a batch body: the
/// parcel's enum tag (u32) and the group id (u64), fixint.
pub const PAXOS_PARCEL_HEADER_BYTES: u64 = 4 + 8;

/// The encoded size of `message` inside a batch body, as a group's
/// `Parcel::Paxos`, without copying it into one.
pub fn message_body_bytes(message: &synod_paxos::Message) -> Result<u64, CodecError> {
    body_options(u64::MAX)
        .serialized_size(message)
        .map(|bytes| PAXOS_PARCEL_HEADER_BYTES + bytes)
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// The encoded size of one parcel inside a batch body.
pub fn parcel_body_bytes(parcel: &Parcel) -> Result<u64, CodecError> {
    body_options(u64::MAX)
        .serialized_size(parcel)
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Appends `frame` to `out`, prefix included. On error `out` is left as it
/// was. Fails without writing the body when the frame would be larger than
/// `frame_bytes_max`.
pub fn encode_frame(
    frame: &Frame,
    out: &mut Vec<u8>,
    frame_bytes_max: usize,
) -> Result<(), CodecError> {
    let start = out.len();
    let body_max = frame_bytes_max.min(FRAME_BYTES_LIMIT).saturating_sub(1);
    out.extend_from_slice(&[0; LENGTH_PREFIX_BYTES]);
    out.push(FRAME_VERSION);
    // Written in one pass and measured afterwards: with a limit set, bincode
    // would walk the whole frame once more just to size it, on every batch
    // (the queue has checked every message's size already, so an oversized
    // frame here is rare and only costs the copy before it is refused).
    let result = body_options(u64::MAX).serialize_into(&mut *out, frame);
    if let Err(e) = result {
        out.truncate(start);
        return Err(CodecError::Encode(e.to_string()));
    }
    let len = out.len() - start - LENGTH_PREFIX_BYTES;
    // `len <= body_max + 1 <= u32::MAX` makes the prefix fit.
    let too_large = CodecError::EncodeTooLarge {
        max: frame_bytes_max,
    };
    if len > body_max + 1 {
        out.truncate(start);
        return Err(too_large);
    }
    let prefix = u32::try_from(len).map_err(|_| too_large)?;
    out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&prefix.to_be_bytes());
    Ok(())
}

/// Decodes one frame body (the bytes after the length prefix).
pub fn decode_body(body: &[u8]) -> Result<Frame, CodecError> {
    let (&version, rest) = body.split_first().ok_or(CodecError::EmptyFrame)?;
    if version != FRAME_VERSION {
        return Err(CodecError::UnknownVersion(version));
    }
    body_options(rest.len() as u64)
        .deserialize(rest)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Splits a byte stream into frames. Bytes go in with [`extend`], frames
/// come out of [`next_frame`]. The caller drains `next_frame` until it
/// returns `Ok(None)` after every `extend`; then the buffer never holds more
/// than one incomplete frame (at most `4 + frame_bytes_max` bytes) plus the
/// bytes of one `extend`. After an error the stream is unusable: the caller
/// closes the connection.
///
/// [`extend`]: FrameDecoder::extend
/// [`next_frame`]: FrameDecoder::next_frame
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` before this offset are already decoded.
    start: usize,
    /// The end of the frame being received, relative to `start`, once its
    /// length prefix is known; the buffer never grows past it needlessly.
    frame_end: Option<usize>,
    frame_bytes_max: usize,
}

impl FrameDecoder {
    pub fn new(frame_bytes_max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            frame_end: None,
            frame_bytes_max: frame_bytes_max.min(FRAME_BYTES_LIMIT),
        }
    }

    /// Changes the limit for frames not yet started; a connection raises
    /// it once the peer's hello is accepted.
    pub fn set_frame_bytes_max(&mut self, frame_bytes_max: usize) {
        self.frame_bytes_max = frame_bytes_max.min(FRAME_BYTES_LIMIT);
    }

    /// Appends bytes read from the wire.
    ///
    /// The buffer grows by doubling, as bytes actually arrive, but never
    /// past the end of the frame being received: announcing a large frame
    /// costs the sender the bytes, not us the memory, and a large frame is
    /// not followed by a doubling for the first bytes of the next one.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let ceiling = needed.max(self.frame_end.unwrap_or(0));
            let target = needed.max(2 * self.buf.capacity()).min(ceiling);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet decoded: non-zero at end of stream means
    /// the peer sent a truncated frame.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The memory the buffer holds, for tests of the bound.
    pub fn capacity_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CodecError> {
        let pending = &self.buf[self.start..];
        let Some(prefix) = pending.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; LENGTH_PREFIX_BYTES];
        len_bytes.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > self.frame_bytes_max {
            return Err(CodecError::FrameTooLarge {
                len,
                max: self.frame_bytes_max,
            });
        }
        if len == 0 {
            return Err(CodecError::EmptyFrame);
        }
        let end = LENGTH_PREFIX_BYTES + len;
        if pending.len() < end {
            self.frame_end = Some(end);
            return Ok(None);
        }
        self.frame_end = None;
        let frame = decode_body(&pending[LENGTH_PREFIX_BYTES..end]);
        self.start += end;
        frame.map(Some)
    }

    /// Drops decoded bytes from the front of the buffer.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        self.start = 0;
        // A big frame is gone: give its memory back rather than keep the
        // high-water mark for the life of the connection.
        if self.buf.capacity() > 4 * READ_CHUNK_BYTES && self.buf.len() < READ_CHUNK_BYTES {
            self.buf.shrink_to(READ_CHUNK_BYTES);
        }
    }
}

/// How many bytes a connection reads from its socket at a time.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.0)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BatchVisitor)
    }
}

struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Batch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a batch of at most {BATCH_MESSAGES_MAX} messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
        let announced = seq.size_hint().unwrap_or(0);
        if announced > BATCH_MESSAGES_MAX {
            return Err(de::Error::invalid_length(announced, &self));
        }
        let mut messages = Vec::with_capacity(announced);
        while let Some(message) = seq.next_element()? {
            if messages.len() == BATCH_MESSAGES_MAX {
                return Err(de::Error::invalid_length(messages.len() + 1, &self));
            }
            messages.push(message);
        }
        Ok(Batch(messages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_paxos::{Ballot, Command, Message, Value};

    const MAX: usize = 64 * 1024;

    fn hello() -> Frame {
        Frame::Hello(Hello {
            cluster_id: 7,
            from: 1,
            to: 2,
            protocol_version: PROTOCOL_VERSION,
            incarnation: 1,
        })
    }

    fn accept(slot: u64, op_bytes: usize) -> Parcel {
        accept_message(slot, op_bytes).into()
    }

    fn accept_message(slot: u64, op_bytes: usize) -> Message {
        Message::Accept {
            ballot: Ballot::new(3, 1),
            entries: vec![(
                slot,
                Value::Batch(vec![Command {
                    client: 9,
                    seq: slot,
                    op: vec![0xab; op_bytes],
                }]),
            )],
            commit: slot.saturating_sub(1),
        }
    }

    fn encode(frame: &Frame) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(frame, &mut out, MAX).expect("encodes");
        out
    }

    /// A small seeded generator, so failures replay.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn a_frame_round_trips_through_the_decoder() {
        let frames = vec![
            hello(),
            Frame::Messages(Batch(vec![accept(1, 10), accept(2, 0)])),
            Frame::Messages(Batch(Vec::new())),
        ];
        let mut wire = Vec::new();
        for f in &frames {
            encode_frame(f, &mut wire, MAX).unwrap();
        }
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&wire);
        for f in &frames {
            assert_eq!(decoder.next_frame().unwrap().as_ref(), Some(f));
        }
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert_eq!(decoder.buffered_bytes(), 0);
    }

    #[test]
    fn a_forward_of_client_commands_round_trips_with_the_newest_tag() {
        let forward = Message::Forward {
            commands: vec![
                Command {
                    client: 7,
                    seq: 1,
                    op: b"x".to_vec(),
                },
                Command {
                    client: 8,
                    seq: 4,
                    op: Vec::new(),
                },
            ],
        };
        let frame = Frame::Messages(Batch(vec![forward.into(), accept(1, 3)]));
        let wire = encode(&frame);
        // Prefix, version, frame tag (Messages) and batch length come
        // first; then the parcel's tag (Paxos) and group; then the
        // message's tag. `Forward` was added last, so the tags of the older
        // messages did not move.
        assert_eq!(&wire[17..21], &0u32.to_le_bytes());
        assert_eq!(&wire[21..29], &0u64.to_le_bytes());
        assert_eq!(&wire[29..33], &11u32.to_le_bytes());
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&wire);
        assert_eq!(decoder.next_frame().unwrap(), Some(frame));
    }

    #[test]
    fn a_snapshot_chunk_round_trips_with_the_next_tags_and_its_data_as_a_byte_string() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let chunk = Message::SnapshotChunk {
            last_slot: 40,
            total_bytes: 5000,
            head_bytes: 100,
            offset: 2000,
            data: data.clone().into(),
            commit: 41,
        };
        let request = Message::SnapshotChunkRequest {
            last_slot: 40,
            offset: 3000,
        };
        let frame = Frame::Messages(Batch(vec![chunk.clone().into(), request.into()]));
        let wire = encode(&frame);
        assert_eq!(&wire[29..33], &12u32.to_le_bytes(), "after Forward");
        // The data is its length and the bytes themselves: the frame is
        // about as long as the chunk.
        let at = wire
            .windows(data.len())
            .position(|w| w == &data[..])
            .expect("the data, contiguous");
        assert_eq!(&wire[at - 8..at], &1000u64.to_le_bytes());
        assert!(wire.len() < data.len() + 120, "{} bytes", wire.len());
        assert_eq!(
            parcel_body_bytes(&chunk.into()).unwrap(),
            // The parcel's tag and group, then the message.
            4 + 8 + 4 + 8 * 4 + 8 + 1000 + 8
        );
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&wire);
        assert_eq!(decoder.next_frame().unwrap(), Some(frame));
    }

    #[test]
    fn a_default_snapshot_chunk_fits_in_a_default_frame() {
        let chunk_bytes = synod_paxos::EngineConfig::default().snapshot_chunk_bytes;
        let chunk = Message::SnapshotChunk {
            last_slot: 1,
            total_bytes: u64::MAX,
            head_bytes: 0,
            offset: 0,
            data: vec![0; chunk_bytes].into(),
            commit: 1,
        };
        let frame_len = batch_frame_len(parcel_body_bytes(&chunk.into()).unwrap());
        assert!(frame_len * 4 <= crate::config::FRAME_BYTES_MAX_DEFAULT as u64);
    }

    #[test]
    fn the_largest_message_the_default_engine_sends_fits_a_default_frame() {
        use synod_paxos::{Command, Value};
        let cfg = synod_paxos::EngineConfig::default();
        // An Accept being resent with values filling the budget exactly,
        // the largest of them a command of `command_bytes_max` alone.
        let big = Value::Batch(vec![Command {
            client: u64::MAX,
            seq: u64::MAX,
            op: vec![0xff; cfg.command_bytes_max],
        }]);
        let mut entries = vec![(u64::MAX, big.clone())];
        let mut bytes = big.encoded_bytes() + 32;
        while bytes + big.encoded_bytes() + 32 <= cfg.message_bytes_max {
            entries.push((u64::MAX, big.clone()));
            bytes += big.encoded_bytes() + 32;
        }
        let accept = Message::Accept {
            ballot: synod_paxos::Ballot::new(u64::MAX, u64::MAX),
            entries,
            commit: u64::MAX,
        };
        assert!(accept.encoded_bytes_max() <= cfg.message_encoded_bytes_max());
        let parcel = Parcel::from(accept);
        let encoded = parcel_body_bytes(&parcel).unwrap() as usize;
        assert!(encoded <= parcel.encoded_bytes_max(), "{encoded}");
        let frame_len = batch_frame_len(encoded as u64) as usize;
        assert!(frame_len <= crate::config::FRAME_BYTES_MAX_DEFAULT);
    }

    #[test]
    fn the_prefix_is_big_endian_and_counts_version_and_body() {
        let wire = encode(&hello());
        let len = u32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
        assert_eq!(len, wire.len() - LENGTH_PREFIX_BYTES);
        assert_eq!(wire[4], FRAME_VERSION);
        // Enum tag 0 (Hello) as a little-endian u32, then cluster id 7.
        assert_eq!(&wire[5..9], &[0, 0, 0, 0]);
        assert_eq!(&wire[9..17], &7u64.to_le_bytes());
    }

    #[test]
    fn a_message_sizes_as_the_parcel_that_carries_it() {
        for message in [
            accept_message(1, 100),
            Message::CatchupRequest { from_slot: 3 },
        ] {
            assert_eq!(
                message_body_bytes(&message).unwrap(),
                parcel_body_bytes(&Parcel::Paxos {
                    group: u64::MAX,
                    msg: message.clone()
                })
                .unwrap()
            );
        }
    }

    #[test]
    fn batch_frame_len_predicts_the_encoded_size() {
        let messages = vec![
            accept(1, 5),
            accept(2, 100),
            Message::CatchupRequest { from_slot: 3 }.into(),
            Parcel::Group {
                from: 1,
                to: 2,
                bytes: vec![1, 2, 3],
                relayed: false,
            },
        ];
        let body: u64 = messages.iter().map(|m| parcel_body_bytes(m).unwrap()).sum();
        let wire = encode(&Frame::Messages(Batch(messages)));
        assert_eq!(
            batch_frame_len(body) + LENGTH_PREFIX_BYTES as u64,
            wire.len() as u64
        );
    }

    #[test]
    fn a_frame_split_at_every_byte_decodes_the_same() {
        let frame = Frame::Messages(Batch(vec![accept(5, 33)]));
        let wire = encode(&frame);
        for cut in 0..wire.len() {
            let mut decoder = FrameDecoder::new(MAX);
            decoder.extend(&wire[..cut]);
            assert_eq!(decoder.next_frame().unwrap(), None, "cut at {cut}");
            decoder.extend(&wire[cut..]);
            assert_eq!(decoder.next_frame().unwrap(), Some(frame.clone()));
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_buffering_the_body() {
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&((MAX as u32) + 1).to_be_bytes());
        assert_eq!(
            decoder.next_frame(),
            Err(CodecError::FrameTooLarge {
                len: MAX + 1,
                max: MAX
            })
        );
        assert!(decoder.capacity_bytes() < 64, "no body was reserved");
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decoder.next_frame(),
            Err(CodecError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn announcing_a_large_frame_costs_no_memory_until_its_bytes_arrive() {
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&(MAX as u32).to_be_bytes());
        decoder.extend(&[FRAME_VERSION, 1, 0]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.extend(&[0; 100]);
        assert_eq!(decoder.next_frame(), Ok(None));
        assert!(decoder.capacity_bytes() < 1024);
    }

    #[test]
    fn the_handshake_limit_holds_until_raised_after_the_hello() {
        let big = encode(&Frame::Messages(Batch(vec![accept(1, 2000)])));
        let mut decoder = FrameDecoder::new(HANDSHAKE_FRAME_BYTES_MAX);
        decoder.extend(&encode(&hello()));
        assert_eq!(decoder.next_frame(), Ok(Some(hello())));
        decoder.extend(&big);
        assert!(matches!(
            decoder.next_frame(),
            Err(CodecError::FrameTooLarge { .. })
        ));
        let mut decoder = FrameDecoder::new(HANDSHAKE_FRAME_BYTES_MAX);
        decoder.extend(&[encode(&hello()), big.clone()].concat());
        assert_eq!(decoder.next_frame(), Ok(Some(hello())));
        decoder.set_frame_bytes_max(MAX);
        assert!(matches!(decoder.next_frame(), Ok(Some(Frame::Messages(_)))));
    }

    #[test]
    fn a_frame_of_exactly_the_limit_is_accepted() {
        let mut wire = Vec::new();
        let probe = Frame::Messages(Batch(vec![accept(1, 0)]));
        encode_frame(&probe, &mut wire, MAX).unwrap();
        let overhead = wire.len() - LENGTH_PREFIX_BYTES;
        let frame = Frame::Messages(Batch(vec![accept(1, MAX - overhead)]));
        wire.clear();
        encode_frame(&frame, &mut wire, MAX).unwrap();
        assert_eq!(wire.len(), LENGTH_PREFIX_BYTES + MAX);
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&wire);
        assert_eq!(decoder.next_frame().unwrap(), Some(frame));
    }

    #[test]
    fn encoding_a_frame_over_the_limit_fails_and_leaves_the_buffer_alone() {
        let mut out = vec![1, 2, 3];
        let frame = Frame::Messages(Batch(vec![accept(1, MAX)]));
        assert!(matches!(
            encode_frame(&frame, &mut out, MAX),
            Err(CodecError::EncodeTooLarge { max: MAX })
        ));
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn an_empty_frame_a_wrong_version_and_trailing_bytes_are_refused() {
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&[0, 0, 0, 0]);
        assert_eq!(decoder.next_frame(), Err(CodecError::EmptyFrame));

        let mut wire = encode(&hello());
        wire[4] = 9;
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&wire);
        assert_eq!(decoder.next_frame(), Err(CodecError::UnknownVersion(9)));

        let mut wire = encode(&hello());
        wire.push(0);
        let len = (wire.len() - LENGTH_PREFIX_BYTES) as u32;
        wire[..4].copy_from_slice(&len.to_be_bytes());
        let mut decoder = FrameDecoder::new(MAX);
        decoder.extend(&wire);
        assert!(matches!(
            decoder.next_frame(),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn a_batch_announcing_too_many_messages_is_refused_before_decoding_them() {
        // Tag 1 (Messages), then a sequence length far above the bound.
        let mut body = vec![FRAME_VERSION];
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&(BATCH_MESSAGES_MAX as u64 + 1).to_le_bytes());
        assert!(matches!(decode_body(&body), Err(CodecError::Malformed(_))));
        let mut body = vec![FRAME_VERSION];
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(decode_body(&body), Err(CodecError::Malformed(_))));
    }

    #[test]
    fn a_huge_inner_length_fails_without_allocating_it() {
        // One Accept whose command claims a 2^60-byte op: bincode's byte
        // limit (the frame length) stops it before the allocation.
        let wire = encode(&Frame::Messages(Batch(vec![accept(1, 4)])));
        let mut body = wire[LENGTH_PREFIX_BYTES..].to_vec();
        let op_len_at = body.len() - 4 - 8 - 8;
        body[op_len_at..op_len_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(decode_body(&body), Err(CodecError::Malformed(_))));
    }

    /// Random bytes, fed in random chunks, never panic, and the decoder
    /// never buffers more than one frame's limit plus one chunk.
    #[test]
    fn random_bytes_never_panic_and_stay_within_the_buffer_bound() {
        const SMALL_MAX: usize = 4096;
        const CHUNK_MAX: usize = 512;
        let mut rng = SplitMix(0x5eed);
        for _ in 0..2000 {
            let len = rng.below(8192);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            feed_and_check(&bytes, &mut rng, SMALL_MAX, CHUNK_MAX);
        }
    }

    /// Valid frames with a few bytes flipped, cut short or duplicated:
    /// closer to real corruption than uniform noise, which mostly fails on
    /// the length prefix.
    #[test]
    fn mutated_valid_frames_never_panic_and_stay_within_the_buffer_bound() {
        const CHUNK_MAX: usize = 512;
        let mut rng = SplitMix(0xbad_f00d);
        for round in 0..2000 {
            let mut wire = Vec::new();
            let messages: Vec<Parcel> = (0..rng.below(5))
                .map(|i| accept(i as u64, rng.below(40)))
                .collect();
            encode_frame(&hello(), &mut wire, MAX).unwrap();
            encode_frame(&Frame::Messages(Batch(messages)), &mut wire, MAX).unwrap();
            for _ in 0..=rng.below(4) {
                let at = rng.below(wire.len());
                match round % 3 {
                    0 => wire[at] ^= 1 << rng.below(8),
                    1 => wire[at] = rng.next() as u8,
                    _ => wire.truncate(at),
                }
                if wire.is_empty() {
                    break;
                }
            }
            feed_and_check(&wire, &mut rng, MAX, CHUNK_MAX);
        }
    }

    fn feed_and_check(bytes: &[u8], rng: &mut SplitMix, frame_max: usize, chunk_max: usize) {
        let bound = LENGTH_PREFIX_BYTES + frame_max + chunk_max;
        let mut decoder = FrameDecoder::new(frame_max);
        let mut rest = bytes;
        'feed: while !rest.is_empty() {
            let take = 1 + rng.below(chunk_max.min(rest.len()));
            decoder.extend(&rest[..take]);
            rest = &rest[take..];
            loop {
                assert!(decoder.buffered_bytes() <= bound);
                assert!(decoder.capacity_bytes() <= bound);
                match decoder.next_frame() {
                    Ok(Some(Frame::Messages(batch))) => {
                        assert!(batch.0.len() <= BATCH_MESSAGES_MAX)
                    }
                    Ok(Some(Frame::Hello(_))) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }
}
