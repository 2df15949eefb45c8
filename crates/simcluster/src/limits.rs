//! The peer transport's limits, as the simulated network enforces them.
//!
//! The numbers are not copied: [`NetLimits::transport`] reads them from
//! `synod_net::NetConfig`'s defaults, and a message's size is what
//! `synod_net::codec` says its frame would take, so a change to either is
//! simulated the moment it is made.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use synod_net::codec::{self, CodecError};
use synod_net::NetConfig;
use synod_paxos::Message;

/// The limits of crates/net that decide whether a message gets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetLimits {
    /// The largest frame (length prefix excluded) the transport writes. A
    /// message that alone needs a larger one is never sent: the transport
    /// drops it; the simulator reports a `frame-limit` violation, since
    /// the engine must never produce one.
    pub frame_bytes_max: usize,
    /// Messages queued per peer. At the limit the oldest queued message is
    /// dropped to make room for the new one, as the transport does. The
    /// transport has no byte bound on this queue (only a count), so none
    /// is modelled; the largest backlog in bytes is reported in the stats.
    pub queue_messages_max: usize,
}

impl NetLimits {
    /// The limits a `synod server` runs with: `NetConfig`'s defaults.
    pub fn transport() -> NetLimits {
        let defaults = NetConfig::new(0, 1, SocketAddr::from(([127, 0, 0, 1], 0)), BTreeMap::new());
        NetLimits {
            frame_bytes_max: defaults.frame_bytes_max,
            queue_messages_max: defaults.queue_messages_max,
        }
    }
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits::transport()
    }
}

/// The length of the frame that carries `message` alone, as the length
/// prefix counts it (version byte and body), computed by the transport's
/// codec without encoding it.
pub fn frame_bytes(message: &Message) -> Result<u64, CodecError> {
    Ok(codec::batch_frame_len(codec::message_body_bytes(message)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_net::codec::{encode_frame, Batch, Frame, LENGTH_PREFIX_BYTES};
    use synod_paxos::{Ballot, Bytes, Command, Rng, Value};

    #[test]
    fn the_transport_limits_are_net_config_defaults() {
        let limits = NetLimits::transport();
        assert_eq!(limits.frame_bytes_max, synod_net::FRAME_BYTES_MAX_DEFAULT);
        assert!(limits.queue_messages_max > 0);
        assert_eq!(NetLimits::default(), limits);
    }

    fn random_message(rng: &mut Rng) -> Message {
        let ballot = Ballot::new(rng.range(0, 1 << 40), rng.range(1, 6));
        let bytes = |rng: &mut Rng| -> Vec<u8> {
            (0..rng.range(0, 300))
                .map(|_| rng.next_u64() as u8)
                .collect()
        };
        let command = |rng: &mut Rng| Command {
            client: rng.next_u64(),
            seq: rng.next_u64(),
            op: bytes(rng),
        };
        match rng.range(0, 5) {
            0 => Message::Heartbeat {
                ballot,
                commit: rng.next_u64(),
                seq: rng.next_u64(),
            },
            1 => Message::Accept {
                ballot,
                entries: (0..rng.range(0, 8))
                    .map(|s| {
                        let batch = (0..rng.range(0, 5)).map(|_| command(rng)).collect();
                        (s, Value::Batch(batch))
                    })
                    .collect(),
                commit: rng.next_u64(),
            },
            2 => Message::Forward {
                commands: (0..rng.range(0, 10)).map(|_| command(rng)).collect(),
            },
            3 => Message::SnapshotChunk {
                last_slot: rng.next_u64(),
                total_bytes: rng.next_u64(),
                head_bytes: rng.next_u64(),
                offset: rng.next_u64(),
                data: Bytes::from(bytes(rng)),
                commit: rng.next_u64(),
            },
            _ => Message::Accepted {
                ballot,
                slots: (0..rng.range(0, 50)).collect(),
                commit: rng.next_u64(),
            },
        }
    }

    /// The size the simulator checks is the size the transport writes.
    #[test]
    fn frame_bytes_is_the_length_of_the_real_encoding() {
        let mut rng = Rng::new(0x5123);
        for _ in 0..2_000 {
            let m = random_message(&mut rng);
            let mut wire = Vec::new();
            encode_frame(
                &Frame::Messages(Batch(vec![m.clone().into()])),
                &mut wire,
                usize::MAX,
            )
            .expect("encodes");
            let expected = (wire.len() - LENGTH_PREFIX_BYTES) as u64;
            assert_eq!(frame_bytes(&m).expect("sizes"), expected, "{m:?}");
        }
    }
}
