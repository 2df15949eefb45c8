//! The ZooKeeper 3.8 client wire protocol, as spoken by kazoo, zkCli and
//! Curator.
//!
//! This crate owns the byte layout of everything that crosses a client
//! connection: jute primitives ([`jute`]), the records built from them
//! ([`records`]), the protocol's numeric constants ([`consts`]), requests
//! ([`request`]), replies ([`response`]) and length-prefixed framing plus
//! four-letter words ([`frame`], [`four_letter`]), and the handshake
//! ([`connect`]). It covers both directions, so the server's
//! front door and our own clients (load generator, tests) share one codec.
//!
//! It must never do I/O: no sockets, no async runtime, no clocks, no
//! logging. Every function takes bytes and returns values or a typed
//! [`DecodeError`] that says what was wrong with the input, so the caller
//! can log the reason and close the connection.

pub mod connect;
pub mod consts;
pub mod error;
pub mod four_letter;
pub mod frame;
pub mod jute;
pub mod records;
pub mod request;
pub mod response;

pub use connect::*;
pub use consts::*;
pub use error::DecodeError;
pub use four_letter::{four_letter_word, FourLetterWord};
pub use frame::{check_frame_len, FrameDecoder};
pub use jute::{Reader, Record, Writer};
pub use records::*;
pub use request::{decode_request, encode_request, read_request_body, CreateKind, Request};
pub use response::{
    decode_reply, encode_reply, encode_watch_event, read_reply_body, MultiReadResult, MultiResult,
    ReplyKind, Response,
};
