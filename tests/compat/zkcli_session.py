#!/usr/bin/env python3
"""Drive Apache ZooKeeper's own CLI (Debian's zkCli.sh, 3.8) against an endpoint.

  zkcli_session.py HOST:PORT[,HOST:PORT...] [--zkcli PATH] [-v]

Two zkCli sessions (one JVM each), commands fed on stdin. Without JLine
zkCli prints no prompt, so after every command we send `ls /<marker>` whose
"Node does not exist: /<marker>" line splits the output into one segment per
command. Each step checks its own segment with specific patterns (paths,
data, versions, error texts); watch events print asynchronously, so those
are looked for anywhere after the command that triggers them.
Session 2 (another server when several are given, no auth at first) checks
that the first session's ephemeral vanished with it, that a digest ACL keeps
it out, that the superDigest identity (super:test) gets in, and, as that
user, `config` and `reconfig -add`/`-remove` of an observer.
Exit status 0 when every step passes.
"""
import argparse
import base64
import hashlib
import os
import re
import subprocess
import sys
import time
import uuid

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
# The observer `reconfig -add` adds; nothing listens on its ports.
JOINING = "server.100=127.0.0.1:29991:29992:observer;127.0.0.1:29993"


def digest(user, pw):
    return base64.b64encode(hashlib.sha1(f"{user}:{pw}".encode()).digest()).decode()


def steps_session1(P):
    """(command, patterns in its own output, patterns anywhere after it)"""
    event = "WatchedEvent state:SyncConnected type:{} path:{}"
    return [
        (f"create {P} rootdata", [f"^Created {P}$"], []),
        (f"create {P}/p data1", [f"^Created {P}/p$"], []),
        (f"create -s {P}/s- seq", [f"^Created {P}/s-0000000001$"], []),   # parent cversion 1
        (f"create -e {P}/e ephem", [f"^Created {P}/e$"], []),
        (f"ls {P}", [r"^\[e, p, s-0000000001\]$"], []),
        (f"get {P}/p", ["^data1$"], []),
        (f"get -s {P}", ["^rootdata$", "^cversion = 3$", "^numChildren = 3$", "^dataLength = 8$",
                         "^ephemeralOwner = 0x0$"], []),
        (f"stat {P}/e", [r"^ephemeralOwner = 0x0*[1-9a-f][0-9a-f]*$", "^dataLength = 5$"], []),
        (f"set -v 0 {P}/p data2", [], []),
        (f"set -v 0 {P}/p data3", [f"^version No is not valid : {P}/p$"], []),
        (f"stat {P}/p", ["^dataVersion = 1$", "^dataLength = 5$", "^numChildren = 0$"], []),
        (f"get {P}/p", ["^data2$"], []),
        (f"get {P}/nope", [f"^Node does not exist: {P}/nope$"], []),
        (f"create {P}/p dup", [f"^Node already exists: {P}/p$"], []),
        (f"delete {P}", [f"^Node not empty: {P}$"], []),
        (f"create {P}/e/child x", [f"^Ephemerals cannot have children: {P}/e/child$"], []),
        (f"addWatch -m PERSISTENT_RECURSIVE {P}", [], []),
        (f"set {P}/p data4", [], [event.format("NodeDataChanged", f"{P}/p")]),
        (f"create {P}/p/c", [f"^Created {P}/p/c$"], [event.format("NodeCreated", f"{P}/p/c")]),
        (f"delete -v 5 {P}/p/c", [f"^version No is not valid : {P}/p/c$"], []),
        (f"delete {P}/p/c", [], [event.format("NodeDeleted", f"{P}/p/c")]),
        (f"get -w {P}/s-0000000001", ["^seq$"], []),
        (f"set {P}/s-0000000001 changed", [], [event.format("NodeDataChanged", f"{P}/s-0000000001")]),
        (f"create {P}/ro x", [f"^Created {P}/ro$"], []),
        (f"setAcl {P}/ro world:anyone:r", [], []),
        (f"getAcl {P}/ro", ["^'world,'anyone$", "^: r$"], []),
        (f"set {P}/ro y", [f"^Insufficient permission : {P}/ro$"], []),
        ("addauth digest alice:secret", [], []),
        (f"create {P}/d secretdata", [f"^Created {P}/d$"], []),
        (f"setAcl {P}/d auth::cdrwa", [], []),
        (f"getAcl {P}/d", [f"^'digest,'alice:{re.escape(digest('alice', 'secret'))}$", "^: cdrwa$"], []),
        (f"get {P}/d", ["^secretdata$"], []),
        (f"stat {P}/d", ["^aclVersion = 1$"], []),
        (f"deleteall {P}/p", [], []),
        (f"ls {P}", [r"^\[d, e, ro, s-0000000001\]$"], []),
        (f"create {P}/q1 x", [f"^Created {P}/q1$"], []),
        (f"delete {P}/q1", [], []),
        (f"ls {P}/q1", [f"^Node does not exist: {P}/q1$"], []),
    ]


def steps_session2(P):
    return [
        (f"stat {P}/e", [f"^Node does not exist: {P}/e$"], []),     # ephemeral gone with session 1
        (f"get {P}/d", [f"^Insufficient permission : {P}/d$"], []),
        (f"get {P}/ro", ["^x$"], []),
        ("addauth digest super:test", [], []),
        (f"get {P}/d", ["^secretdata$"], []),
        # Dynamic reconfiguration (reconfigEnabled / [zk] reconfig_enabled),
        # as the super user: an observer joins and leaves again. Its ports
        # are closed, so the servers that dial it get a reset at once.
        ("config", [r"^server\.1=", r"^version=[0-9a-f]+$"], []),
        (f"reconfig -add {JOINING}", ["^Committed new configuration:", f"^{re.escape(JOINING)}$",
                                      r"^version=[0-9a-f]+$"], []),
        ("config", [f"^{re.escape(JOINING)}$"], []),
        ("reconfig -remove 100", ["^Committed new configuration:", r"^server\.1="], []),
        ("config", [r"^version=[0-9a-f]+$"], []),
        (f"deleteall {P}", [], []),
        (f"ls {P}", [f"^Node does not exist: {P}$"], []),
    ]


def run_session(zkcli, server, steps, tag, timeout=120):
    marks = [f"/zkcli-mark-{tag}-{i}" for i in range(len(steps))]
    script = "".join(f"{cmd}\nls {m}\n" for (cmd, _, _), m in zip(steps, marks)) + "quit\n"
    t0 = time.time()
    env = dict(os.environ, CLIENT_JVMFLAGS="-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    p = subprocess.run([zkcli, "-server", server], input=script, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
    out = "\n".join(l for l in p.stdout.splitlines() if not l.startswith("SLF4J"))
    elapsed = time.time() - t0
    # Split into segments at each marker's "Node does not exist" line:
    # (own output, everything from it to the end) per step.
    segments, pos = [], 0
    for m in marks:
        end = out.find(f"Node does not exist: {m}", pos)
        if end < 0:
            segments.append((None, out[pos:pos + 600]))
            continue
        segments.append((out[pos:end], out[pos:]))
        pos = end + len(f"Node does not exist: {m}")
    return segments, out, elapsed


def check(steps, segments):
    failures = []
    for (cmd, own, later), seg in zip(steps, segments):
        if seg[0] is None:
            failures.append((cmd, "its end marker (`ls` of a missing node), which did not come; "
                             "output from here on", seg[1]))
            continue
        missing = [p for p in own if not re.search(p, seg[0], re.M)]
        missing += [p + "  (anywhere after it)" for p in later if p not in seg[1]]
        if missing:
            failures.append((cmd, "; ".join(missing), seg[0]))
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("endpoint", help="HOST:PORT[,HOST:PORT...]")
    ap.add_argument("--zkcli", default=ZKCLI)
    ap.add_argument("-v", "--verbose", action="store_true", help="print zkCli's whole output")
    a = ap.parse_args()
    servers = a.endpoint.split(",")
    P = f"/zkcli-{uuid.uuid4().hex[:8]}"
    total_fail, total = 0, 0
    for n, (steps, server) in enumerate([(steps_session1(P), servers[0]),
                                         (steps_session2(P), servers[-1])], 1):
        segments, out, elapsed = run_session(a.zkcli, server, steps, f"{n}")
        failures = check(steps, segments)
        for bad in ("ConnectionLoss", "state:Disconnected", "state:Expired", "SessionExpired"):
            if bad in out:
                i = out.index(bad)
                failures.append(("(whole session)", f"no `{bad}` anywhere", out[max(0, i - 300):i + 100]))
        total += len(steps)
        total_fail += len(failures)
        print(f"zkcli session {n} on {server}: {len(steps) - len(failures)}/{len(steps)} steps ok "
              f"in {elapsed:.1f}s")
        for cmd, why, seg in failures:
            print(f"  FAIL `{cmd}`: expected {why}\n    got: {seg.strip()!r}")
        if a.verbose:
            print(out)
    print(f"zkcli: {total - total_fail} passed, {total_fail} failed")
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
