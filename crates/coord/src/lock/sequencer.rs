//! Sequencers (Chubby, section 2.4): what a lock holder hands a resource
//! so the resource can tell a current holder from a superseded one.
//!
//! # Text form
//!
//! A sequencer's bytes are its text, one shell word:
//!
//! ```text
//! synod-seq1:<mode>:<generation>:<session>:<path>
//! synod-seq1:x:42:0001a2b3c4d50000:/app/leader
//! ```
//!
//! - `mode`: `x` exclusive, `s` shared;
//! - `generation`: decimal, no leading zeros;
//! - `session`: the holder's session id as 16 lowercase hex digits (its
//!   64 bits, as ZooKeeper prints session ids);
//! - `path`: the znode path, every byte outside `A-Z a-z 0-9 / . _ -`
//!   written `%XX` (uppercase hex), so the text has no spaces, colons or
//!   shell characters.
//!
//! Each sequencer has exactly one text: a parse refuses anything the
//! encoder would not write. `synod-seq1` names this form; another form
//! takes another prefix.
//!
//! # Validity
//!
//! An exclusive sequencer is valid while its holding lasts: a release, the
//! end of its session or a later holder ends it for good, since every
//! hand-over takes a new generation. A shared sequencer names a shared
//! epoch: it is valid while its session holds the lock in that epoch, so a
//! reader that leaves and joins again before the epoch ends holds a valid
//! one again (it reads the same state; no writer came between).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{LockMode, LockTable};

const PREFIX: &str = "synod-seq1:";

/// Names one holding of a lock: its path, mode, generation and holder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sequencer {
    pub path: String,
    pub mode: LockMode,
    pub generation: u64,
    pub session: i64,
}

/// Why a sequencer no longer protects anything (`Tree::check_sequencer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Invalid {
    #[error("no session holds the lock now")]
    Free,
    #[error("the lock changed hands: its generation is {current} now")]
    Superseded { current: u64 },
    #[error("its session no longer holds the lock (released, or the session ended)")]
    NotHolder,
    #[error("the lock is held in the other mode")]
    WrongMode,
}

/// A text that is not a sequencer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a sequencer ({0}); expected synod-seq1:<x|s>:<generation>:<session hex>:<path>")]
pub struct ParseError(&'static str);

impl Sequencer {
    pub fn new(path: &str, mode: LockMode, generation: u64, session: i64) -> Self {
        Sequencer {
            path: path.to_string(),
            mode,
            generation,
            session,
        }
    }

    /// The opaque bytes handed to resources: the text form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        std::str::from_utf8(bytes)
            .map_err(|_| ParseError("not UTF-8"))?
            .parse()
    }
}

impl fmt::Display for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mode = match self.mode {
            LockMode::Exclusive => 'x',
            LockMode::Shared => 's',
        };
        write!(
            f,
            "{PREFIX}{mode}:{}:{:016x}:",
            self.generation, self.session as u64
        )?;
        for &b in self.path.as_bytes() {
            if is_plain(b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Sequencer {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or(ParseError("no synod-seq1: prefix"))?;
        let mut fields = rest.splitn(4, ':');
        let mut next = || fields.next().ok_or(ParseError("too few fields"));
        let mode = match next()? {
            "x" => LockMode::Exclusive,
            "s" => LockMode::Shared,
            _ => return Err(ParseError("mode is neither x nor s")),
        };
        let generation_text = next()?;
        let generation: u64 = generation_text
            .parse()
            .map_err(|_| ParseError("generation is not a number"))?;
        let session_text = next()?;
        let session = u64::from_str_radix(session_text, 16)
            .map_err(|_| ParseError("session is not hex"))? as i64;
        let path = unescape(next()?)?;
        let seq = Sequencer {
            path,
            mode,
            generation,
            session,
        };
        if seq.to_string() != text {
            return Err(ParseError("not in canonical form"));
        }
        Ok(seq)
    }
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-')
}

fn unescape(text: &str) -> Result<String, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .ok_or(ParseError("a cut %XX escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ParseError("a bad %XX escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ParseError("path is not UTF-8"))
}

impl LockTable {
    /// Whether `seq` names the current holding of its lock.
    pub(crate) fn check_sequencer(&self, seq: &Sequencer) -> Result<(), Invalid> {
        let lock = self.get(&seq.path).ok_or(Invalid::Free)?;
        if lock.holders.is_empty() {
            return Err(Invalid::Free);
        }
        if lock.generation != seq.generation {
            return Err(Invalid::Superseded {
                current: lock.generation,
            });
        }
        if !lock.holders.contains_key(&seq.session) {
            return Err(Invalid::NotHolder);
        }
        if lock.mode != seq.mode {
            return Err(Invalid::WrongMode);
        }
        Ok(())
    }
}

/// A resource's own check (Chubby's "compare generation numbers"): the
/// newest generation it has accepted per lock, refusing older ones. It
/// remembers one number per lock path it has seen.
#[derive(Clone, Debug, Default)]
pub struct Fence {
    newest: BTreeMap<String, u64>,
}

/// A sequencer older than one the resource already accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stale sequencer: generation {got}, this resource has seen {newest}")]
pub struct Stale {
    pub got: u64,
    pub newest: u64,
}

impl Fence {
    /// Accepts `seq` if its generation is at least the newest seen for its
    /// lock (equal: the same holding, or the same shared epoch).
    pub fn admit(&mut self, seq: &Sequencer) -> Result<(), Stale> {
        let newest = self.newest.entry(seq.path.clone()).or_insert(0);
        if seq.generation < *newest {
            return Err(Stale {
                got: seq.generation,
                newest: *newest,
            });
        }
        *newest = seq.generation;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_is_one_plain_word_and_reads_back() {
        let seq = Sequencer::new("/app/my lock:1/é", LockMode::Shared, 42, 0x1a2b);
        let text = seq.to_string();
        assert_eq!(
            text,
            "synod-seq1:s:42:0000000000001a2b:/app/my%20lock%3A1/%C3%A9"
        );
        assert_eq!(text.parse::<Sequencer>(), Ok(seq.clone()));
        assert_eq!(Sequencer::from_bytes(&seq.to_bytes()), Ok(seq));
        let negative = Sequencer::new("/a", LockMode::Exclusive, 1, -1);
        assert_eq!(negative.to_string(), "synod-seq1:x:1:ffffffffffffffff:/a");
        assert_eq!(negative.to_string().parse(), Ok(negative));
    }

    #[test]
    fn a_parse_refuses_what_the_encoder_would_not_write() {
        for bad in [
            "",
            "synod-seq2:x:1:0000000000000001:/a",
            "synod-seq1:w:1:0000000000000001:/a",
            "synod-seq1:x:01:0000000000000001:/a",
            "synod-seq1:x:1:1:/a",
            "synod-seq1:x:1:0000000000000001:/a b",
            "synod-seq1:x:1:0000000000000001:/a%2",
            "synod-seq1:x:1:0000000000000001:/%61",
            "synod-seq1:x:1:0000000000000001",
        ] {
            assert!(bad.parse::<Sequencer>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_fence_refuses_generations_below_the_newest_it_saw() {
        let mut fence = Fence::default();
        let at = |g| Sequencer::new("/l", LockMode::Exclusive, g, 1);
        assert_eq!(fence.admit(&at(5)), Ok(()));
        assert_eq!(fence.admit(&at(5)), Ok(()));
        assert_eq!(fence.admit(&at(7)), Ok(()));
        assert_eq!(fence.admit(&at(5)), Err(Stale { got: 5, newest: 7 }));
        // Another lock's generations are its own.
        assert_eq!(
            fence.admit(&Sequencer::new("/m", LockMode::Shared, 1, 2)),
            Ok(())
        );
    }
}
