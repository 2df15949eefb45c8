//! The bench the front door's rule tests drive: a front door whose
//! proposals are applied to a tree directly, as a one-node log would.

#![allow(dead_code)]

use synod_coord::Tree;
use synod_front::{Outgoing, Pending, ZkFront, ZkLimits};
use synod_paxos::{Outcome, StateMachine};
use synod_zkproto as wire;
use wire::{ReplyKind, Request, Response};

const PEER: &str = "127.0.0.1:5000";

pub fn limits() -> ZkLimits {
    ZkLimits {
        min_session_timeout_ms: 4000,
        max_session_timeout_ms: 40000,
        super_digest: None,
        x509_super_user: None,
        sasl_users: None,
        sasl_super_user: None,
        max_buffer_bytes: wire::DEFAULT_MAX_BUFFER,
        connections_max: 100,
        command_bytes_max: synod_front::budget::COMMAND_BYTES_MAX_DEFAULT,
        znodes_max: synod_front::ZkLimits::ZNODES_MAX_DEFAULT,
        data_bytes_max: synod_front::ZkLimits::DATA_BYTES_MAX_DEFAULT,
        read_only_mode: false,
    }
}

pub struct Bench {
    pub front: ZkFront,
    pub tree: Tree,
    /// Every frame sent, per connection, in order.
    pub sent: Vec<(u64, Outgoing)>,
    /// Commands applied.
    pub proposed: usize,
    /// Every command applied, in order.
    pub applied: Vec<synod_paxos::Command>,
}

impl Bench {
    pub fn new() -> Self {
        Self::with_limits(limits())
    }

    pub fn with_limits(limits: ZkLimits) -> Self {
        let mut front = ZkFront::new(limits, 7);
        front.set_clock(0, 1_000_000);
        Bench {
            front,
            tree: Tree::new(),
            sent: Vec::new(),
            proposed: 0,
            applied: Vec::new(),
        }
    }

    /// Applies everything proposed, as the log would, until quiet.
    pub fn commit(&mut self) {
        loop {
            let proposals = self.front.take_proposals();
            if proposals.is_empty() {
                break;
            }
            for cmd in proposals {
                self.apply(&cmd);
            }
        }
        self.sent.extend(self.front.take_output());
    }

    /// One command chosen and applied.
    pub fn apply(&mut self, cmd: &synod_paxos::Command) {
        self.proposed += 1;
        self.applied.push(cmd.clone());
        let (tag, op) = cmd.op.split_first().unwrap();
        assert_eq!(*tag, synod_front::front::COORD_TAG);
        let reply = self.tree.apply(op);
        let triggers = self.tree.take_triggers();
        self.front.on_triggers(triggers);
        self.front
            .on_reply(&self.tree, cmd.client, cmd.seq, &Outcome::Ok(reply));
    }

    pub fn connect(
        &mut self,
        session_id: i64,
        passwd: Vec<u8>,
        last_zxid_seen: i64,
    ) -> Result<u64, String> {
        let connect = wire::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            timeout_ms: 10_000,
            session_id,
            passwd,
            read_only: Some(false),
        };
        let conn = self.front.open(
            &self.tree,
            connect,
            PEER.parse().unwrap(),
            vec![9; 16],
            None,
        )?;
        self.commit();
        Ok(conn)
    }

    pub fn send(&mut self, conn: u64, xid: i32, request: Request) {
        let op = request.op();
        self.front
            .on_packet(&self.tree, conn, xid, op, Pending::Request(request));
        self.sent.extend(self.front.take_output());
    }

    pub fn frames(&mut self, conn: u64) -> Vec<Outgoing> {
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(c, _)| *c == conn);
        self.sent = rest;
        mine.into_iter().map(|(_, o)| o).collect()
    }
}

pub fn reply(frame: &Outgoing, kind: ReplyKind) -> (wire::ReplyHeader, Response) {
    let bytes = match frame {
        Outgoing::Reply(b) | Outgoing::Frame(b) => b,
        Outgoing::Close(r) => panic!("expected a frame, got close: {r}"),
    };
    wire::decode_reply(&bytes[4..], kind).unwrap()
}

pub fn session_of(b: &mut Bench, conn: u64) -> wire::ConnectResponse {
    let frames = b.frames(conn);
    let Outgoing::Frame(bytes) = &frames[0] else {
        panic!("no connect response: {frames:?}")
    };
    wire::decode_connect_response(&bytes[4..]).unwrap()
}

pub fn create(path: &str, flags: i32) -> Request {
    Request::Create {
        kind: wire::CreateKind::Create,
        path: path.into(),
        data: Some(b"d".to_vec()),
        acl: vec![wire::Acl {
            perms: 31,
            id: wire::Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }],
        flags,
    }
}
