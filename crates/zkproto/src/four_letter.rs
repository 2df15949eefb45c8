//! Four-letter words: admin commands sent as 4 ASCII bytes where the first
//! frame's length would be, answered with text and a close.

use crate::error::DecodeError;

/// The four-letter words ZooKeeper 3.8 knows. The server must serve the
/// first nine; the rest are recognised so it can answer them politely.
/// ZooKeeper answers only before the handshake (the first four bytes of a
/// connection), then closes. `stmk` is followed by an 8-byte trace mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    Ruok,
    Srvr,
    Stat,
    Envi,
    Mntr,
    Isro,
    Cons,
    Wchs,
    Conf,
    Dump,
    Wchc,
    Wchp,
    Crst,
    Srst,
    Dirs,
    Gtmk,
    Stmk,
}

impl FourLetterWord {
    /// Every word, in the order above.
    pub const ALL: [FourLetterWord; 17] = [
        FourLetterWord::Ruok,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Envi,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Cons,
        FourLetterWord::Wchs,
        FourLetterWord::Conf,
        FourLetterWord::Dump,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Crst,
        FourLetterWord::Srst,
        FourLetterWord::Dirs,
        FourLetterWord::Gtmk,
        FourLetterWord::Stmk,
    ];

    /// The word's four ASCII bytes.
    pub fn as_bytes(self) -> &'static [u8; 4] {
        match self {
            FourLetterWord::Ruok => b"ruok",
            FourLetterWord::Srvr => b"srvr",
            FourLetterWord::Stat => b"stat",
            FourLetterWord::Envi => b"envi",
            FourLetterWord::Mntr => b"mntr",
            FourLetterWord::Isro => b"isro",
            FourLetterWord::Cons => b"cons",
            FourLetterWord::Wchs => b"wchs",
            FourLetterWord::Conf => b"conf",
            FourLetterWord::Dump => b"dump",
            FourLetterWord::Wchc => b"wchc",
            FourLetterWord::Wchp => b"wchp",
            FourLetterWord::Crst => b"crst",
            FourLetterWord::Srst => b"srst",
            FourLetterWord::Dirs => b"dirs",
            FourLetterWord::Gtmk => b"gtmk",
            FourLetterWord::Stmk => b"stmk",
        }
    }

    /// The word as text, e.g. "ruok".
    pub fn as_str(self) -> &'static str {
        std::str::from_utf8(self.as_bytes()).expect("four-letter words are ASCII")
    }

    /// Whether the server must answer it fully (ruok, srvr, stat, envi,
    /// mntr, isro, cons, wchs, conf).
    pub fn is_served(self) -> bool {
        !matches!(
            self,
            FourLetterWord::Dump
                | FourLetterWord::Wchc
                | FourLetterWord::Wchp
                | FourLetterWord::Crst
                | FourLetterWord::Srst
                | FourLetterWord::Dirs
                | FourLetterWord::Gtmk
                | FourLetterWord::Stmk
        )
    }
}

impl TryFrom<[u8; 4]> for FourLetterWord {
    type Error = DecodeError;

    fn try_from(word: [u8; 4]) -> Result<Self, DecodeError> {
        four_letter_word(word).ok_or(DecodeError::UnknownFourLetterWord { word })
    }
}

/// Recognises the first four bytes of a connection as a four-letter word.
/// Check this before framing: as a length, every word is far above
/// jute.maxbuffer, so the frame decoder would refuse it.
pub fn four_letter_word(first4: [u8; 4]) -> Option<FourLetterWord> {
    FourLetterWord::ALL
        .into_iter()
        .find(|word| *word.as_bytes() == first4)
}
