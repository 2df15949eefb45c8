//! The client end of the world: ZooKeeper clients opening sessions,
//! sending requests through the codec, reading replies and events,
//! pinging, moving between nodes with their session and re-arming their
//! watches, and ending their sessions by closing, vanishing or hanging.
//! Replies are checked here as they arrive (FIFO per connection, a
//! session never reads older state than it saw, reads see the session's
//! own writes); everything received is recorded for the watch oracle.

use crate::client::{
    body_len, create, Ending, Life, Link, Session, Time, Written, BIG_PARENT, BURST_MAX, PARENTS,
};
use crate::data;
use crate::watch::{End, Item, Reg, WatchKind};
use crate::world::{Ev, Up, World};
use synod_coord::EventKind;
use synod_front::Outgoing;
use synod_simcluster::Load;
use synod_zkproto as wire;
use synod_zkproto::{create_mode, Request, Response};

/// How the client's session ended, for the session-expiry oracle.
#[derive(Clone, Debug)]
pub(crate) struct SessionFate {
    pub(crate) client: u64,
    pub(crate) timeout_ms: i32,
    pub(crate) established_at: Time,
    /// When the client stopped keeping the session alive (closing it,
    /// vanishing, hanging, or learning that it had expired).
    pub(crate) stopped_at: Option<Time>,
    pub(crate) how: Option<Ending>,
    /// Its closeSession was acknowledged.
    pub(crate) closed_ack: bool,
}

/// Requests a client keeps in flight at most (an adversarial client's
/// bursts: `BURST_MAX`).
const PIPELINE_MAX: usize = 3;

impl World {
    pub(crate) fn client_wake(&mut self, c: u64) {
        let now = self.now();
        let next = now + self.cluster.rng().range(15_000, 40_000);
        self.cluster.schedule(next, Ev::ClientWake { client: c });
        let client = &self.clients[&c];
        let Some(life) = &client.life else {
            if now >= client.next_life_at {
                self.start_life(c);
            }
            return;
        };
        if now >= life.ends_at && !life.closing {
            self.end_life(c);
            return;
        }
        let timeout_us = life.timeout_ms as u64 * 1000;
        if life.closing {
            // As the Java client's close(): wait a while for the answer,
            // then give up on it (the session will expire instead).
            let waiting = life.link.is_some() && now - life.last_sent <= timeout_us * 2 / 3;
            if !waiting {
                self.drop_link(c, "closeSession went unanswered");
                self.life_over(c);
            }
            return;
        }
        match &life.link {
            None => self.connect(c),
            Some(link) if !link.established => {
                if now - link.opened_at > (timeout_us * 2 / 3).min(1_500_000) {
                    self.drop_link(c, "no answer to the handshake");
                }
            }
            Some(_) => {
                if now - life.last_heard > timeout_us * 2 / 3 {
                    self.drop_link(c, "the node stopped answering");
                    return;
                }
                if !life.closing {
                    self.client_work(c);
                }
            }
        }
    }

    fn start_life(&mut self, c: u64) {
        let now = self.now();
        let timeout_ms = self.cluster.rng().range(4_000, 6_001) as i32;
        let roll = self.cluster.rng().range(0, 100);
        let ending = match roll {
            0..=34 => Ending::Close,
            35..=54 => Ending::Vanish,
            55..=69 => Ending::Hang,
            _ => Ending::Never,
        };
        let adversarial = self.cfg.profile.load == Load::Adversarial;
        // Adversarial lives are short (many sessions come and go), and
        // one in three sends bursts.
        let lifetime_us = if adversarial {
            (300_000, 3_000_000)
        } else {
            (2_000_000, 8_000_000)
        };
        let ends_at = match ending {
            Ending::Never => Time::MAX,
            _ => now + self.cluster.rng().range(lifetime_us.0, lifetime_us.1),
        };
        let pipeline_max = if adversarial && self.cluster.rng().chance(1.0 / 3.0) {
            BURST_MAX
        } else {
            PIPELINE_MAX
        };
        let client = self.clients.get_mut(&c).expect("client exists");
        client.lives += 1;
        client.life = Some(Life {
            number: client.lives,
            started_at: now,
            timeout_ms,
            ending,
            ends_at,
            session: None,
            link: None,
            last_zxid: 0,
            next_xid: 0,
            outstanding: Default::default(),
            watches: Default::default(),
            last_sent: now,
            last_heard: now,
            next_op_at: now,
            closing: false,
            written: Default::default(),
            own_sequential: Vec::new(),
            setup_done: false,
            pipeline_max,
        });
        self.note(|| format!("client {c} starts life {ending:?}"));
        self.connect(c);
    }

    /// Opens a connection to a node, resuming the session if there is one.
    fn connect(&mut self, c: u64) {
        let now = self.now();
        let node = self.cluster.rng().range(1, crate::world::NODES + 1);
        let life = self.clients[&c].life.as_ref().expect("a life");
        let (session_id, passwd, timeout_ms) = match &life.session {
            Some(s) => (s.id, s.passwd.clone(), s.timeout_ms),
            None => (0, vec![0; 16], life.timeout_ms),
        };
        let request = wire::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: life.last_zxid,
            timeout_ms,
            session_id,
            passwd,
            read_only: Some(false),
        };
        // Through the codec, as a real client's bytes would go.
        let bytes = wire::encode_connect_request(&request);
        let connect =
            wire::decode_connect_request(&bytes[4..]).expect("own ConnectRequest decodes");
        assert_eq!(connect, request, "ConnectRequest round trip");
        if session_id != 0 {
            self.stats.reconnects += 1;
        }
        let serial = self.new_wire(c, node, session_id);
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        life.link = Some(Link {
            serial,
            node,
            established: false,
            // The client's jute.maxbuffer: a reply may carry a value as
            // long as the node takes, and its header and stat.
            decoder: wire::FrameDecoder::new(self.spec.zk.max_buffer_bytes + 1024),
            opened_at: now,
        });
        self.note(|| {
            format!("client {c} connects to n{node} (#{serial}, session {session_id:#x})")
        });
        self.send_to_server(serial, Up::Open { connect });
    }

    /// The client closes its socket (and will reconnect if its life goes on).
    fn drop_link(&mut self, c: u64, why: &str) {
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        let Some(link) = life.link.take() else {
            return;
        };
        life.outstanding.clear();
        let serial = link.serial;
        let why = why.to_string();
        self.note(|| format!("client {c} drops connection #{serial}: {why}"));
        self.close_client_end(serial, true);
    }

    fn close_client_end(&mut self, serial: u64, tell_server: bool) {
        let w = self.wires.get_mut(&serial).expect("wire exists");
        if !w.client_open {
            return;
        }
        w.client_open = false;
        let rec = self.records.get_mut(&serial).expect("record exists");
        rec.end.get_or_insert(End::Partial);
        if tell_server {
            self.send_to_server(serial, Up::Gone);
        }
    }

    fn end_life(&mut self, c: u64) {
        let now = self.now();
        let life = self.clients[&c].life.as_ref().expect("a life");
        let ending = life.ending;
        let established = life.link.as_ref().is_some_and(|l| l.established);
        if let Some(s) = &life.session {
            if let Some(f) = self.sessions.get_mut(&s.id) {
                f.stopped_at.get_or_insert(now);
                f.how.get_or_insert(ending);
            }
        }
        match ending {
            Ending::Close if established => {
                let life = self
                    .clients
                    .get_mut(&c)
                    .expect("exists")
                    .life
                    .as_mut()
                    .expect("a life");
                life.closing = true;
                let xid = life.next_xid();
                self.send_request(c, xid, Request::CloseSession);
                return;
            }
            Ending::Hang => {
                let life = self
                    .clients
                    .get_mut(&c)
                    .expect("exists")
                    .life
                    .as_mut()
                    .expect("a life");
                if let Some(link) = life.link.take() {
                    // The process stops reading; the socket stays open.
                    self.close_client_end(link.serial, false);
                }
            }
            _ => self.drop_link(c, "the client goes away"),
        }
        self.life_over(c);
    }

    fn life_over(&mut self, c: u64) {
        let next = self.now() + self.cluster.rng().range(100_000, 600_000);
        let client = self.clients.get_mut(&c).expect("exists");
        if let Some(life) = client.life.take() {
            if let Some(link) = life.link {
                let serial = link.serial;
                self.close_client_end(serial, true);
            }
        }
        client_next(self, c, next);
    }

    /// Sends the next requests, or a ping when idle for a third of the
    /// session timeout.
    fn client_work(&mut self, c: u64) {
        let now = self.now();
        let clients = self.cfg.clients as u64;
        let mut rng = synod_paxos::Rng::new(self.cluster.rng().next_u64());
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        let adversarial = self.cfg.profile.load == Load::Adversarial;
        let max_buffer = self.spec.zk.max_buffer_bytes;
        let mut batch: Vec<(i32, Request)> = Vec::new();
        if !life.setup_done {
            life.setup_done = true;
            let parents = PARENTS.iter().chain(adversarial.then_some(&BIG_PARENT));
            for p in parents {
                let xid = life.next_xid();
                batch.push((xid, create(p, Some(b""), create_mode::PERSISTENT)));
            }
        } else if now >= life.next_op_at && life.outstanding.len() < life.pipeline_max {
            let room = life.pipeline_max - life.outstanding.len();
            let n = rng.range(1, room as u64 + 1);
            for _ in 0..n {
                let mut reqs = Vec::new();
                if adversarial {
                    reqs = life.adversarial_requests(&mut rng, max_buffer);
                }
                if reqs.is_empty() {
                    reqs.push(life.next_request(c, clients, &mut rng));
                }
                for req in reqs {
                    let xid = match req {
                        Request::Ping => wire::xid::PING,
                        Request::Auth { .. } => wire::xid::AUTH,
                        _ => life.next_xid(),
                    };
                    batch.push((xid, req));
                }
            }
            life.next_op_at = now + rng.range(5_000, 120_000);
        } else if now - life.last_sent >= life.timeout_ms as u64 * 1000 / 3 {
            batch.push((wire::xid::PING, Request::Ping));
        }
        for (_, req) in &batch {
            if is_write_of_data(req) && body_len(req) > max_buffer {
                self.stats.oversized_sent += 1;
            }
        }
        let moving = !batch.is_empty() && rng.chance(0.01);
        for (xid, req) in batch {
            self.send_request(c, xid, req);
        }
        if moving {
            self.drop_link(c, "moving to another node");
            self.connect(c);
        }
    }

    fn send_request(&mut self, c: u64, xid: i32, req: Request) {
        let now = self.now();
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        let Some(link) = &life.link else {
            return;
        };
        let serial = link.serial;
        let bytes = wire::encode_request(xid, &req);
        life.outstanding.push_back((xid, req));
        life.last_sent = now;
        self.send_to_server(serial, Up::Bytes(bytes));
    }

    // ---- what reaches the client ----

    pub(crate) fn on_server_gone(&mut self, serial: u64) {
        let Some(w) = self.wires.get(&serial) else {
            return;
        };
        let c = w.client;
        if !w.client_open {
            return;
        }
        self.close_client_end(serial, false);
        if self.current_serial(c) == Some(serial) {
            let life = self
                .clients
                .get_mut(&c)
                .expect("exists")
                .life
                .as_mut()
                .expect("a life");
            life.link = None;
            life.outstanding.clear();
            if life.closing {
                self.life_over(c);
            }
        }
    }

    fn current_serial(&self, c: u64) -> Option<u64> {
        self.clients[&c]
            .life
            .as_ref()
            .and_then(|l| l.link.as_ref())
            .map(|l| l.serial)
    }

    pub(crate) fn on_to_client(&mut self, serial: u64, item: Outgoing) {
        let Some(w) = self.wires.get(&serial) else {
            return;
        };
        if !w.client_open {
            return;
        }
        let c = w.client;
        let bytes = match item {
            Outgoing::Close(_) => {
                let end = w.server_end.clone().unwrap_or(End::Partial);
                self.records.get_mut(&serial).expect("record").end = Some(end);
                self.wires.get_mut(&serial).expect("wire").client_open = false;
                self.digest_bytes(serial, b"close");
                if self.current_serial(c) == Some(serial) {
                    let life = self
                        .clients
                        .get_mut(&c)
                        .expect("exists")
                        .life
                        .as_mut()
                        .expect("a life");
                    life.link = None;
                    life.outstanding.clear();
                    if life.closing {
                        self.life_over(c);
                    }
                }
                return;
            }
            Outgoing::Frame(b) | Outgoing::Reply(b) => b,
        };
        self.digest_bytes(serial, &bytes);
        if self.current_serial(c) != Some(serial) {
            return;
        }
        let now = self.now();
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        let link = life.link.as_mut().expect("current link");
        link.decoder.push(&bytes);
        let mut bodies = Vec::new();
        while let Ok(Some(body)) = link.decoder.pop() {
            bodies.push(body);
        }
        life.last_heard = now;
        for body in bodies {
            if self.current_serial(c) != Some(serial) {
                return;
            }
            self.on_frame(c, serial, &body);
        }
    }

    fn on_frame(&mut self, c: u64, serial: u64, body: &[u8]) {
        let life = self.clients[&c].life.as_ref().expect("a life");
        if !life.link.as_ref().expect("link").established {
            self.on_connect_response(c, serial, body);
            return;
        }
        let xid = i32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
        if xid == wire::xid::WATCH_EVENT {
            self.on_watch_event(c, serial, body);
        } else {
            self.on_client_reply(c, serial, xid, body);
        }
    }

    fn on_connect_response(&mut self, c: u64, serial: u64, body: &[u8]) {
        let now = self.now();
        let response = match wire::decode_connect_response(body) {
            Ok(r) => r,
            Err(e) => {
                self.violation("client", format!("client {c}: bad ConnectResponse: {e}"));
                self.drop_link(c, "bad handshake");
                return;
            }
        };
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        if response.session_id == 0 {
            // The session is gone: this client starts over.
            if let Some(s) = &life.session {
                if let Some(f) = self.sessions.get_mut(&s.id) {
                    f.stopped_at.get_or_insert(now);
                }
            }
            self.note(|| format!("client {c} learns its session expired"));
            self.drop_link(c, "session expired");
            self.life_over(c);
            return;
        }
        let link = life.link.as_mut().expect("link");
        link.established = true;
        life.last_heard = now;
        let resumed = life.session.is_some();
        match &life.session {
            Some(s) if s.id != response.session_id => {
                let detail = format!(
                    "client {c} resumed session {:#x} but was given {:#x}",
                    s.id, response.session_id
                );
                self.violation("client", detail);
            }
            Some(_) => {}
            None => {
                life.session = Some(Session {
                    id: response.session_id,
                    passwd: response.passwd.clone(),
                    timeout_ms: response.timeout_ms,
                });
                self.records.get_mut(&serial).expect("record").session = response.session_id;
                self.sessions.insert(
                    response.session_id,
                    SessionFate {
                        client: c,
                        timeout_ms: response.timeout_ms,
                        established_at: now,
                        stopped_at: None,
                        how: None,
                        closed_ack: false,
                    },
                );
                self.stats.sessions += 1;
            }
        }
        let life = self.clients[&c].life.as_ref().expect("a life");
        if resumed && !life.watches.is_empty() {
            let req = life.watches.set_watches(life.last_zxid);
            self.stats.set_watches += 1;
            if let Request::SetWatches2 {
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
                ..
            } = &req
            {
                let paths = [data, exist, child, persistent, persistent_recursive];
                let rec = self.records.get_mut(&serial).expect("record");
                rec.unanswered_set_watches = paths.into_iter().flatten().cloned().collect();
            }
            self.send_request(c, wire::xid::SET_WATCHES, req);
        }
    }

    fn on_watch_event(&mut self, c: u64, serial: u64, body: &[u8]) {
        let event = match wire::decode_reply(body, wire::ReplyKind::Empty) {
            Ok((_, Response::WatchEvent(e))) => e,
            other => {
                self.violation("client", format!("client {c}: bad watch event: {other:?}"));
                return;
            }
        };
        let kind = match event.event_type {
            wire::event_type::NODE_CREATED => EventKind::Created,
            wire::event_type::NODE_DELETED => EventKind::Deleted,
            wire::event_type::NODE_DATA_CHANGED => EventKind::DataChanged,
            wire::event_type::NODE_CHILDREN_CHANGED => EventKind::ChildrenChanged,
            t => {
                self.violation("client", format!("client {c}: event type {t}"));
                return;
            }
        };
        self.stats.events += 1;
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        life.watches.on_event(event.event_type, &event.path);
        self.records
            .get_mut(&serial)
            .expect("record")
            .items
            .push(Item::Event {
                kind,
                path: event.path,
            });
    }

    fn on_client_reply(&mut self, c: u64, serial: u64, xid: i32, body: &[u8]) {
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        let head = life.outstanding.front().map(|(x, _)| *x);
        if head != Some(xid) {
            let detail = format!(
                "client {c} connection #{serial}: reply xid {xid} arrived while xid {head:?} was first in line"
            );
            let life = self
                .clients
                .get_mut(&c)
                .expect("exists")
                .life
                .as_mut()
                .expect("a life");
            let Some(i) = life.outstanding.iter().position(|(x, _)| *x == xid) else {
                self.violation("fifo", format!("{detail} (and was never sent)"));
                return;
            };
            life.outstanding.remove(i);
            // The watch oracle cannot trust this connection's order any more.
            self.violation("fifo", detail);
            return;
        }
        let (_, req) = life.outstanding.pop_front().expect("head");
        let (header, response) = match wire::decode_reply(body, req.reply_kind()) {
            Ok(r) => r,
            Err(e) => {
                self.violation(
                    "client",
                    format!("client {c}: undecodable reply to {req:?}: {e}"),
                );
                self.drop_link(c, "bad reply");
                return;
            }
        };
        self.stats.replies += 1;
        if matches!(req, Request::SetWatches2 { .. }) {
            let rec = self.records.get_mut(&serial).expect("record");
            rec.unanswered_set_watches.clear();
        }
        // Its node had applied this zxid: everything up to it is chosen.
        self.zxid_known = self.zxid_known.max(header.zxid);
        self.check_reply(c, serial, &req, &header, &response);
        let regs = registrations(&req, header.err);
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        for reg in &regs {
            if let Reg::Watch { path, kind } = reg {
                let set = match kind {
                    WatchKind::Data => &mut life.watches.data,
                    WatchKind::Exist => &mut life.watches.exist,
                    WatchKind::Child => &mut life.watches.child,
                    WatchKind::Persistent => &mut life.watches.persistent,
                    WatchKind::Recursive => &mut life.watches.recursive,
                };
                set.insert(path.clone());
            }
        }
        self.records
            .get_mut(&serial)
            .expect("record")
            .items
            .push(Item::Reply {
                xid,
                zxid: header.zxid,
                regs,
            });
        if header.err == wire::err::SESSION_EXPIRED {
            self.note(|| format!("client {c} is told its session expired"));
            let now = self.now();
            let life = self.clients[&c].life.as_ref().expect("a life");
            if let Some(s) = &life.session {
                if let Some(f) = self.sessions.get_mut(&s.id) {
                    f.stopped_at.get_or_insert(now);
                }
            }
            self.drop_link(c, "session expired");
            self.life_over(c);
        }
    }

    /// The per-reply oracles: a session never reads state older than it
    /// has seen, and a read of a path this session wrote shows that write
    /// (and, unchanged since, its data: `data.rs`).
    fn check_reply(
        &mut self,
        c: u64,
        serial: u64,
        req: &Request,
        header: &wire::ReplyHeader,
        response: &Response,
    ) {
        let life = self
            .clients
            .get_mut(&c)
            .expect("exists")
            .life
            .as_mut()
            .expect("a life");
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        if header.zxid < life.last_zxid {
            problems.push(("read-your-writes", format!(
                "client {c} connection #{serial}: reply to {} has zxid {:#x}, older than the {:#x} this session already saw",
                wire::op::name(req.op()),
                header.zxid,
                life.last_zxid
            )));
        }
        life.last_zxid = life.last_zxid.max(header.zxid);
        let ok = header.err == 0;
        let max_buffer = self.spec.zk.max_buffer_bytes;
        if is_write_of_data(req) && body_len(req) > max_buffer {
            problems.push(("oversized", format!(
                "client {c} connection #{serial}: a {} of {} bytes, over max_buffer_bytes {max_buffer}, was answered (error {})",
                wire::op::name(req.op()),
                body_len(req),
                header.err
            )));
        } else if ok && is_write_of_data(req) && body_len(req) > max_buffer / 2 {
            self.stats.big_writes_acked += 1;
        }
        if header.err == wire::err::AUTH_FAILED {
            self.stats.auth_failed += 1;
        }
        match (req, response) {
            (Request::GetData { path, .. }, Response::GetData { data, stat }) if ok => {
                let verdict = data::judge_read(path, life.written.get(path), data.as_deref(), stat);
                for (check, detail) in verdict.problems {
                    problems.push((check, format!("client {c} connection #{serial}: {detail}")));
                }
                if let Some(null) = verdict.compared_null {
                    self.stats.data_checked += 1;
                    self.stats.null_data_checked += u64::from(null);
                }
            }
            (Request::Create { data, flags, .. }, Response::Create { path: made })
            | (Request::Create { data, flags, .. }, Response::Create2 { path: made, .. })
                if ok =>
            {
                let written = Written {
                    zxid: header.zxid,
                    data: data.clone(),
                };
                life.written.insert(made.clone(), written);
                if *flags == create_mode::EPHEMERAL_SEQUENTIAL {
                    life.own_sequential.push(made.clone());
                }
                if *flags == create_mode::EPHEMERAL || *flags == create_mode::EPHEMERAL_SEQUENTIAL {
                    self.stats.ephemerals_created += 1;
                }
            }
            (Request::SetData { path, data, .. }, _) if ok => {
                let written = Written {
                    zxid: header.zxid,
                    data: data.clone(),
                };
                life.written.insert(path.clone(), written);
            }
            (Request::Delete { path, .. }, _) if ok => {
                life.written.remove(path);
            }
            (Request::CloseSession, _) if ok => {
                if let Some(s) = &life.session {
                    if let Some(f) = self.sessions.get_mut(&s.id) {
                        f.closed_ack = true;
                    }
                }
            }
            _ => {}
        }
        for (check, detail) in problems {
            self.violation(check, detail);
        }
    }
}

/// Whether `req` carries a value (a create or setData).
fn is_write_of_data(req: &Request) -> bool {
    matches!(req, Request::Create { .. } | Request::SetData { .. })
}

fn client_next(world: &mut World, c: u64, next: Time) {
    world.clients.get_mut(&c).expect("exists").next_life_at = next;
}

/// The watches a successful (or, for exists, NoNode) reply registered.
fn registrations(req: &Request, err: i32) -> Vec<Reg> {
    let ok = err == 0;
    let watch = |path: &String, kind| {
        vec![Reg::Watch {
            path: path.clone(),
            kind,
        }]
    };
    match req {
        Request::Exists { path, watch: true } if ok => watch(path, WatchKind::Data),
        Request::Exists { path, watch: true } if err == wire::err::NO_NODE => {
            watch(path, WatchKind::Exist)
        }
        Request::GetData { path, watch: true } if ok => watch(path, WatchKind::Data),
        Request::GetChildren { path, watch: true }
        | Request::GetChildren2 { path, watch: true }
            if ok =>
        {
            watch(path, WatchKind::Child)
        }
        Request::AddWatch { path, mode } if ok => watch(
            path,
            if *mode == wire::add_watch_mode::PERSISTENT {
                WatchKind::Persistent
            } else {
                WatchKind::Recursive
            },
        ),
        Request::SetWatches2 {
            relative_zxid,
            data,
            exist,
            child,
            persistent,
            persistent_recursive,
        } if ok => vec![Reg::SetWatches {
            relative_zxid: *relative_zxid,
            data: data.clone(),
            exist: exist.clone(),
            child: child.clone(),
            persistent: persistent.clone(),
            recursive: persistent_recursive.clone(),
        }],
        _ => Vec::new(),
    }
}
