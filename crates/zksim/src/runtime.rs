//! The node end of every client connection: what the server's connection
//! code (crates/server/src/zk/conn.rs) and its runtime do between a socket
//! and the node, with the same decoders. A ConnectRequest becomes
//! `zk_open`; request bytes are cut into frames by a `wire::FrameDecoder`
//! at the front door's `max_buffer_bytes` and decoded by
//! `synod_front::decode_packet` into `NodeInput::ZkPacket`s; a frame that
//! does not decode (too long, malformed) ends the connection, as the
//! server ends it; a socket that closes, or a connection the node closed,
//! becomes `NodeInput::ZkClosed`. On the way out, the node's frames pass
//! the deliberate output bugs (`bugs.rs`), then go down the connection.

use crate::bugs::OutputBug;
use crate::watch::End;
use crate::world::{Up, World};
use synod_front::{ConnId, Outgoing};
use synod_node::{NodeInput, NodeOutput};
use synod_paxos::NodeId;
use synod_simcluster::ClientInput;
use synod_zkproto as wire;

/// Bytes of a session password the node hands out (the runtime draws them).
const PASSWD_BYTES: usize = 16;

impl World {
    /// What a client sent reaches the node end of connection `serial`.
    pub(crate) fn on_to_server(&mut self, serial: u64, up: Up) {
        let w = &self.wires[&serial];
        let (node, incarnation) = (w.node, w.incarnation);
        // A node that restarted since the client connected does not know
        // the connection: its socket is gone (the client finds out).
        if !self.cluster.is_up(node) || self.cluster.incarnation(node) != incarnation {
            if matches!(up, Up::Open { .. }) {
                self.refuse(serial);
            }
            return;
        }
        match up {
            Up::Open { connect } => {
                self.wires.get_mut(&serial).expect("wire").last_zxid_seen = connect.last_zxid_seen;
                let passwd = (0..PASSWD_BYTES)
                    .map(|_| self.cluster.rng().next_u64() as u8)
                    .collect();
                let input = ClientInput::ZkOpen {
                    token: serial,
                    connect,
                    passwd,
                };
                // Answered by `Out::ZkOpened`.
                self.cluster.input_now(node, input);
            }
            Up::Bytes(bytes) => self.on_request_bytes(serial, &bytes),
            Up::Gone => {
                self.wires.get_mut(&serial).expect("wire").gone = true;
                self.release(serial);
            }
        }
    }

    /// Request bytes: every complete frame goes to the node as a packet.
    fn on_request_bytes(&mut self, serial: u64, bytes: &[u8]) {
        let w = self.wires.get_mut(&serial).expect("wire");
        let (node, Some(conn)) = (w.node, w.conn) else {
            return;
        };
        if !w.server_open {
            return;
        }
        w.decoder.push(bytes);
        loop {
            let w = self.wires.get_mut(&serial).expect("wire");
            let body = match w.decoder.pop() {
                Ok(Some(body)) => body,
                Ok(None) => return,
                Err(e) => return self.end_connection(serial, format!("bad frame: {e}")),
            };
            let (header, request) = match synod_front::decode_packet(&body) {
                Ok(decoded) => decoded,
                Err(e) => {
                    return self.end_connection(serial, format!("malformed request: {e}"));
                }
            };
            let input = NodeInput::ZkPacket {
                conn,
                xid: header.xid,
                op: header.op,
                request,
            };
            self.cluster.input_now(node, ClientInput::Node(input));
        }
    }

    /// The runtime ends a connection (a frame it cannot read): the node
    /// is told, and the client sees its socket close after what the node
    /// sent before.
    fn end_connection(&mut self, serial: u64, reason: String) {
        let node = self.wires[&serial].node;
        self.stats.connections_ended_by_runtime += 1;
        let zxid = self.node_zxid(node);
        self.wires.get_mut(&serial).expect("wire").server_end = Some(End::Zxid(zxid));
        let why = reason.clone();
        self.note(|| format!("n{node}'s runtime ends connection #{serial}: {why}"));
        self.release(serial);
        self.send_to_client(serial, Outgoing::Close(reason));
    }

    /// The node end of `serial` is closed: the node forgets it.
    pub(crate) fn release(&mut self, serial: u64) {
        let w = self.wires.get_mut(&serial).expect("wire");
        let node = w.node;
        let Some(conn) = w.conn.take() else {
            return;
        };
        w.server_open = false;
        self.conns.remove(&(node, conn));
        self.held.remove(&(node, conn));
        let input = NodeInput::ZkClosed { conn };
        self.cluster.input_now(node, ClientInput::Node(input));
    }

    /// The node's frames of one step, on their way to their connections:
    /// each goes down its connection, through the deliberate output bugs.
    pub(crate) fn send_frames(&mut self, frames: Vec<Frame>) {
        for (node, conn, item, zxid) in self.apply_output_bugs(frames) {
            let Some(&serial) = self.conns.get(&(node, conn)) else {
                continue;
            };
            let closing = matches!(item, Outgoing::Close(_));
            self.on_frame_out(node, serial, item, zxid);
            if closing {
                // The connection's task ends, and tells the node (as the
                // server's does).
                self.release(serial);
            }
        }
    }

    /// A frame leaves node `node` for connection `serial`; the node had
    /// applied up to `zxid` when it emitted it.
    fn on_frame_out(&mut self, node: NodeId, serial: u64, item: Outgoing, zxid: i64) {
        let w = self.wires.get_mut(&serial).expect("wire exists");
        match &item {
            Outgoing::Close(reason) => {
                w.server_open = false;
                w.server_end = Some(if reason == "the session expired" {
                    End::SessionClosed(w.session)
                } else if reason == synod_node::SNAPSHOT_CLOSE {
                    // What the snapshot skipped was never seen by the
                    // front door: the client must only have a prefix.
                    End::Partial
                } else {
                    End::Zxid(zxid)
                });
                let reason = reason.clone();
                self.note(|| format!("n{node} closes connection #{serial}: {reason}"));
            }
            Outgoing::Frame(bytes) if !w.saw_first_frame => {
                w.saw_first_frame = true;
                if let Ok(r) = wire::decode_connect_response(&bytes[4..]) {
                    if r.session_id != 0 {
                        w.session = r.session_id;
                    }
                }
            }
            _ => {}
        }
        self.send_to_client(serial, item);
    }

    /// The deliberate output bugs, over one step's frames in order.
    fn apply_output_bugs(&mut self, frames: Vec<Frame>) -> Vec<Frame> {
        let bugs = self.cfg.bugs.clone();
        if bugs == crate::bugs::Bugs::none() {
            return frames;
        }
        let mut out: Vec<Frame> = Vec::with_capacity(frames.len());
        for (node, conn, item, zxid) in frames {
            let key = (node, conn);
            let event = is_event(&item);
            if event {
                self.event_frames += 1;
                if bugs.has(OutputBug::DropEvent) && self.event_frames.is_multiple_of(5) {
                    continue;
                }
            }
            if bugs.has(OutputBug::EventAfterReply) {
                // Holds an event, and every later one so their order stays,
                // until the next reply on the connection has gone out.
                let holding = self.held.contains_key(&key);
                if event && (holding || self.event_frames.is_multiple_of(3)) {
                    self.held.entry(key).or_default().push((item, zxid));
                    continue;
                }
                if matches!(item, Outgoing::Reply(_)) && holding {
                    let held = self.held.remove(&key).unwrap_or_default();
                    out.push((node, conn, item, zxid));
                    out.extend(held.into_iter().map(|(h, z)| (node, conn, h, z)));
                    continue;
                }
            }
            let swap = match out.last() {
                Some((n, c, prev, _)) if (*n, *c) == key => {
                    (bugs.has(OutputBug::SwapEvents) && event && is_event(prev))
                        || (bugs.has(OutputBug::SwapReplies)
                            && matches!(item, Outgoing::Reply(_))
                            && matches!(prev, Outgoing::Reply(_)))
                }
                _ => false,
            };
            if swap {
                let prev = out.pop().expect("checked");
                out.push((node, conn, item, zxid));
                out.push(prev);
            } else {
                out.push((node, conn, item, zxid));
            }
        }
        out
    }
}

/// Whether a frame is a watch event (its xid is the event xid).
fn is_event(item: &Outgoing) -> bool {
    match item {
        Outgoing::Frame(bytes) | Outgoing::Reply(bytes) => {
            bytes.len() >= 8
                && i32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"))
                    == wire::xid::WATCH_EVENT
        }
        Outgoing::Close(_) => false,
    }
}

/// A frame on its way out: the node, its connection, the frame, and the
/// zxid the node had applied when it emitted it.
pub(crate) type Frame = (NodeId, ConnId, Outgoing, i64);

/// A node output that is one of its ZooKeeper frames.
pub(crate) fn zk_frame(output: NodeOutput) -> Result<(ConnId, Outgoing), NodeOutput> {
    match output {
        NodeOutput::Zk { conn, item } => Ok((conn, item)),
        other => Err(other),
    }
}
