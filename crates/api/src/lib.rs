//! The native client API of synod over gRPC.
//!
//! This crate owns the wire protocol only: `proto/synod.proto` and the Rust
//! code `tonic` generates from it (messages, the `Kv` client and the `Kv`
//! server trait). It holds no logic: the server runtime maps these messages
//! to the key-value state machine's operations, and `synod-client` wraps the
//! generated client with leader discovery and retries.
//!
//! How the cluster says "not the leader", "busy" or "stale sequence" is
//! in-band, as a `Refusal` arm of each response's `result` oneof; see the
//! comments at the top of the proto file, which are the specification.

#![warn(missing_docs)]

/// The generated code of package `synod` in `proto/synod.proto`.
pub mod pb {
    #![allow(missing_docs)]
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("synod");
}

/// The protocol definition, as text, for tools and documentation.
pub const PROTO: &str = include_str!("../proto/synod.proto");
