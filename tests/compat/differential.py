#!/usr/bin/env python3
"""Differential test: the same seeded operation stream against two ZooKeeper
endpoints (A and B), in lockstep, comparing every result and watch event.

  differential.py --a 127.0.0.1:22181,... --b 127.0.0.1:2181,... --seed 1 --ops 500

Each side gets SESSIONS kazoo sessions chrooted at a fresh root (so A and B
may be the same ensemble). Session 0 authenticates as digest user0, session 1
as user1, session 2 as super (the superDigest password "test" both launchers
configure), any others not at all. Every op is drawn from the seed alone, so
both sides get the same stream. After each op, each session does sync +
exists (a barrier: a session receives a watch event before any reply that
reflects its cause), then for each session the watch events received since
the last op are compared as ordered lists of (type, path).

Compared per op: result or exception class; Stat without czxid, mzxid, pzxid,
ctime, mtime (ephemeralOwner as "which session"; Long.MIN_VALUE as
"container", 0xFF.. as "ttl" -- ZooKeeper 3.8 itself shows 0 for both);
children as sorted lists. The first divergence is printed with the ops
leading to it and a replay command; exit status 1. --exclude OP,... skips
op kinds (and acl:NAME the ops using that ACL) to look past a known divergence. --inject-bug K perturbs side B's
result of op K (a self-test that divergences are caught).

Needs ZooKeeper's extended types (TTL: zookeeper.extendedTypesEnabled=true)
and superDigest super:test on both sides, as clusters.py configures them.
"""
import argparse
import logging
import random
import struct
import sys
import time
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.states import ZnodeStat
from kazoo.security import (ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, CREATOR_ALL_ACL,
                            make_digest_acl)

import zkext

PATHS = ["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/q", "/e"]
PARENTS = ["/a", "/b", "/a/x"]
CONTAINERS = ["/ct0", "/ct1"]   # children under these are never deleted, so the containers never auto-vanish
DATA = [None, b"", b"v1", b"v2", b"\x00\xff" * 3, b"x" * 100]  # None: null data (not in multi: kazoo refuses it there)
VERSIONS = [-1, -1, 0, 1, 2]
TTL_MS = 3_600_000              # long enough never to expire during a run
ACLS = {
    "open": OPEN_ACL_UNSAFE,
    "read": READ_ACL_UNSAFE,
    "creator": CREATOR_ALL_ACL,
    "user0": [make_digest_acl("user0", "pw0", all=True)],
    "user1+read": [make_digest_acl("user1", "pw1", all=True),
                   ACL(1, READ_ACL_UNSAFE[0].id)],
}
CONTAINER_OWNER = -(1 << 63)
# Digest identities of sessions 0, 1, 2 (super's password matches the
# superDigest both launchers configure); further sessions are anonymous.
AUTH = ["user0:pw0", "user1:pw1", "super:test"]


# --------------------------------------------------------------------- ops
def gen_op(rng, sessions):
    """One op as (session, name, args); depends on the rng alone."""
    s = rng.randrange(sessions)
    p = rng.choice(PATHS)
    r = rng.random()
    if r < 0.25:
        mode = rng.choice(["persistent", "persistent", "ephemeral", "seq", "eph_seq",
                           "ttl", "ttl_seq", "container", "create2"])
        path = rng.choice(CONTAINERS) if mode == "container" else (
            rng.choice(CONTAINERS) + "/k" if rng.random() < 0.1 else p)
        if path.startswith("/ct") and mode in ("ephemeral", "eph_seq"):
            mode = "persistent"   # an ephemeral child would empty its container when the
            #                       session closes, and ZooKeeper reaps it on a 60 s timer
        acl = rng.choice(["open"] * 12 + list(ACLS))
        return s, "create", (path, rng.choice(DATA), mode, acl)
    if r < 0.33:
        return s, "delete", (p, rng.choice(VERSIONS))
    if r < 0.38:
        return s, "delete_nth_child", (rng.choice(PARENTS), rng.randrange(8), rng.choice(VERSIONS))
    if r < 0.48:
        return s, "set", (p, rng.choice(DATA), rng.choice(VERSIONS))
    if r < 0.70:
        kind = rng.choice(["exists", "get", "children", "children2"])
        return s, kind, (rng.choice(PATHS + PARENTS + CONTAINERS + ["/"]), rng.random() < 0.7)
    if r < 0.78:
        ops = []
        for _ in range(rng.randint(1, 4)):
            k = rng.choice(["create", "create", "delete", "set", "check"])
            q = rng.choice(PATHS)
            if k == "create":
                ops.append((k, q, rng.choice(DATA[1:]), rng.choice(["persistent", "ephemeral", "seq"])))
            elif k == "set":
                ops.append((k, q, rng.choice(DATA[1:]), rng.choice(VERSIONS)))
            else:
                ops.append((k, q, rng.choice(VERSIONS)))
        return s, "multi", tuple(ops)
    if r < 0.81:
        return s, "sync", (p,)
    if r < 0.85:
        return s, "get_acls", (p,)
    if r < 0.89:
        return s, "set_acls", (p, rng.choice(list(ACLS)), rng.choice(VERSIONS))
    if r < 0.92:
        return s, "add_watch", (rng.choice(PARENTS + PATHS), rng.choice([0, 1]))
    if r < 0.95:
        return s, rng.choice(["all_children_number", "ephemerals"]), (rng.choice(["/", "/a", "/b"]),)
    if r < 0.97:
        return s, "reopen", ()
    return s, "children", ("/", False)


# --------------------------------------------------------------- one side
class Side:
    def __init__(self, name, hosts, sessions, timeout):
        self.name, self.hosts, self.timeout = name, hosts, timeout
        self.root = f"/difftest-{name}-{uuid.uuid4().hex[:10]}"
        admin = KazooClient(hosts, timeout=timeout)
        admin.start(timeout)
        admin.ensure_path(self.root)
        admin.stop()
        admin.close()
        self.clients = [None] * sessions
        self.events = [[] for _ in range(sessions)]
        self.cursor = [0] * sessions
        self.owner = {}          # session id -> label (same labels on both sides)
        self.generation = [0] * sessions
        for s in range(sessions):
            self.open(s)

    def open(self, s):
        c = KazooClient(self.hosts + self.root, timeout=self.timeout)
        zkext.record_events(c, self.events[s])
        c.start(self.timeout)
        if s < len(AUTH) and AUTH[s]:
            c.add_auth("digest", AUTH[s])
        self.clients[s] = c
        self.owner[c.client_id[0]] = f"session{s}.{self.generation[s]}"
        self.generation[s] += 1

    def close(self):
        for c in self.clients:
            if c:
                c.stop()
                c.close()

    def watcher(self, _event):
        pass  # events are recorded at arrival by zkext.record_events

    def barrier(self):
        for c in self.clients:
            c.sync("/")
            c.exists("/")

    def new_events(self, s):
        new = self.events[s][self.cursor[s]:]
        self.cursor[s] = len(self.events[s])
        return list(new)

    # ---- normalization
    def norm(self, v):
        if isinstance(v, ZnodeStat):
            eo = v.ephemeralOwner
            owner = ("-" if eo == 0 else "container" if eo == CONTAINER_OWNER
                     else "ttl" if (eo >> 56) & 0xFF == 0xFF
                     else self.owner.get(eo, f"unknown-session:{eo:#x}"))
            return {"version": v.version, "cversion": v.cversion, "aversion": v.aversion,
                    "ephemeralOwner": owner, "dataLength": v.dataLength,
                    "numChildren": v.numChildren}
        if isinstance(v, ACL):
            return (v.perms, v.id.scheme, v.id.id)
        if isinstance(v, BaseException):
            return ("error", type(v).__name__)
        if isinstance(v, bytes):
            return v.hex() if v else ""
        if isinstance(v, (list, tuple)):
            return [self.norm(x) for x in v]
        return v

    # ---- execution
    def run(self, s, name, args):
        c = self.clients[s]
        w = self.watcher
        try:
            if name == "create":
                path, data, mode, acl = args
                acl = ACLS[acl]
                if mode == "container":
                    p, st = zkext.call(c, zkext.CreateContainer(
                        c.chroot + path, data, acl, zkext.CONTAINER))
                    return self.norm([c.unchroot(p), st])
                if mode in ("ttl", "ttl_seq"):
                    flags = zkext.PERSISTENT_WITH_TTL if mode == "ttl" else zkext.PERSISTENT_SEQUENTIAL_WITH_TTL
                    p, st = zkext.call(c, zkext.CreateTTL(c.chroot + path, data, acl, flags, TTL_MS))
                    return self.norm([c.unchroot(p), st])
                r = c.create(path, data, acl=acl, ephemeral=mode in ("ephemeral", "eph_seq"),
                             sequence=mode in ("seq", "eph_seq"), include_data=mode == "create2")
                return self.norm(r)
            if name == "delete":
                return self.norm(c.delete(args[0], version=args[1]))
            if name == "delete_nth_child":
                parent, k, version = args
                kids = sorted(c.get_children(parent))
                if not kids:
                    return "no children"
                victim = f"{parent}/{kids[k % len(kids)]}"
                return [victim, self.norm(c.delete(victim, version=version))]
            if name == "set":
                return self.norm(c.set(args[0], args[1], version=args[2]))
            if name == "exists":
                return self.norm(c.exists(args[0], watch=w if args[1] else None))
            if name == "get":
                return self.norm(c.get(args[0], watch=w if args[1] else None))
            if name in ("children", "children2"):
                r = c.get_children(args[0], watch=w if args[1] else None,
                                   include_data=name == "children2")
                return self.norm([sorted(r[0]), r[1]] if name == "children2" else sorted(r))
            if name == "multi":
                t = c.transaction()
                for op in args:
                    if op[0] == "create":
                        t.create(op[1], op[2], ephemeral=op[3] == "ephemeral", sequence=op[3] == "seq")
                    elif op[0] == "delete":
                        t.delete(op[1], version=op[2])
                    elif op[0] == "set":
                        t.set_data(op[1], op[2], version=op[3])
                    else:
                        t.check(op[1], op[2])
                return self.norm(t.commit())
            if name == "sync":
                return self.norm(c.sync(args[0]))
            if name == "get_acls":
                acls, st = c.get_acls(args[0])
                return self.norm([sorted(self.norm(a) for a in acls), st])
            if name == "set_acls":
                return self.norm(c.set_acls(args[0], ACLS[args[1]], version=args[2]))
            if name == "add_watch":
                return self.norm(zkext.call(c, zkext.AddWatch(c.chroot + args[0], args[1])))
            if name == "all_children_number":
                full = c.chroot + args[0] if args[0] != "/" else c.chroot
                return zkext.call(c, zkext.GetAllChildrenNumber(full))
            if name == "ephemerals":
                prefix = c.chroot + (args[0] if args[0] != "/" else "/")
                return sorted(c.unchroot(p) for p in zkext.call(c, zkext.GetEphemerals(prefix)))
            if name == "reopen":
                c.stop()
                c.close()
                self.open(s)
                return "reopened"
            raise ValueError(name)
        except KazooException as e:
            return ("error", type(e).__name__)
        except (ValueError, struct.error) as e:   # a reply kazoo could not decode
            return ("error", f"undecodable reply: {e}")


def fmt_op(i, s, name, args):
    return f"#{i} session{s} {name}{tuple(args)!r}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="HOST:PORT,... of target A")
    ap.add_argument("--b", required=True, help="HOST:PORT,... of target B")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=15.0, help="session timeout (s)")
    ap.add_argument("--history", type=int, default=25, help="ops shown before a divergence")
    ap.add_argument("--exclude", default="", metavar="OP,...",
                    help="skip these op kinds (e.g. add_watch,multi) and ops using ACL:NAME (e.g. "
                    "acl:creator) to look past a known divergence; "
                    "the stream is otherwise unchanged")
    ap.add_argument("--inject-bug", type=int, default=None, metavar="K",
                    help="perturb side B's result of op K (self-test)")
    a = ap.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="  (kazoo: %(message)s)")
    rng = random.Random(a.seed)
    excluded = set(filter(None, a.exclude.split(",")))
    t0 = time.time()
    A = Side("A", a.a, a.sessions, a.timeout)
    B = Side("B", a.b, a.sessions, a.timeout)
    print(f"differential: seed={a.seed} ops={a.ops} sessions={a.sessions} "
          f"A={a.a}{A.root} B={a.b}{B.root}", flush=True)
    history = []
    tally = {}
    try:
        for i in range(a.ops):
            s, name, args = gen_op(rng, a.sessions)
            acl = args[3] if name == "create" else args[1] if name == "set_acls" else None
            if name in excluded or f"acl:{acl}" in excluded:
                continue
            ra = A.run(s, name, args)
            rb = B.run(s, name, args)
            if a.inject_bug == i:
                rb = ["INJECTED", rb]
            A.barrier()
            B.barrier()
            ev_a = [A.new_events(k) for k in range(a.sessions)]
            ev_b = [B.new_events(k) for k in range(a.sessions)]
            history.append((fmt_op(i, s, name, args), ra, ev_a))
            kind = name + (":" + args[2] if name == "create" else "")
            outcome = ra[1] if isinstance(ra, tuple) and ra[:1] == ("error",) else "ok"
            if name == "multi" and any(isinstance(x, tuple) and x[:1] == ("error",) for x in ra):
                outcome = "aborted"
            tally.setdefault(kind, {}).setdefault(outcome, 0)
            tally[kind][outcome] += 1
            problem = None
            if ra != rb:
                problem = f"result differs\n  A: {ra!r}\n  B: {rb!r}"
            else:
                for k in range(a.sessions):
                    if ev_a[k] != ev_b[k]:
                        problem = (f"watch events of session{k} differ\n  A: {ev_a[k]!r}\n"
                                   f"  B: {ev_b[k]!r}")
                        break
            if problem:
                print(f"\nDIVERGENCE at op {i}: {fmt_op(i, s, name, args)}\n{problem}\n")
                print(f"ops before it (last {a.history}), with A's results and events:")
                for line, r, ev in history[-a.history - 1:-1]:
                    evs = "; ".join(f"s{k}:{e}" for k, e in enumerate(ev) if e)
                    print(f"  {line} -> {r!r}" + (f"  events {evs}" if evs else ""))
                print(f"\nreplay: differential.py --a {a.a} --b {a.b} --seed {a.seed} "
                      f"--ops {i + 1} --sessions {a.sessions}" + (f" --exclude {a.exclude}" if a.exclude else ""))
                return 1
    finally:
        A.close()
        B.close()
    n_events = sum(len(e) for e in A.events)
    for kind in sorted(tally):
        print(f"  {kind:<22} " + ", ".join(f"{o} {n}" for o, n in sorted(tally[kind].items())))
    print(f"differential: no divergence in {a.ops} ops ({n_events} watch events compared) "
          f"in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
