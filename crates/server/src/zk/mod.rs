//! The ZooKeeper client protocol front door: kazoo, zkCli, Curator and the
//! C client talk to synod through it unchanged. `conn` does each
//! connection's I/O; the protocol's meaning lives in the pure synod-front
//! crate, driven from the engine task; `words` answers the four-letter
//! status commands.

pub mod conn;
pub mod words;
