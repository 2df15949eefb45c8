//! The ZooKeeper client protocol front door: kazoo, zkCli, Curator and the
//! C client talk to synod through it unchanged. `conn` does each
//! connection's I/O, `front` (on the engine task) gives requests their
//! meaning against the coordination tree, `watches` is the per-server watch
//! table, `words` the four-letter status commands.

pub mod conn;
pub mod convert;
pub mod front;
pub mod watches;
pub mod words;
