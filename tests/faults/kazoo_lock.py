#!/usr/bin/env python3
"""The fenced-lock workload of the fault harness (crates/faults).

Workers, each with its own kazoo session, take turns holding kazoo's Lock
recipe on the lock of the current phase (the harness writes the phase number
into PHASE_FILE) and, while holding it, write to a fenced resource: a
register that accepts a write only if its fencing token (the sequence number
of the holder's lock znode, which grows with every acquisition) is not older
than the newest token it has accepted.

A hold is *clean* when its worker's connection stayed CONNECTED from the
acquisition to the release: the holder had every reason to believe it held
the lock. Checked at the end:
  - no two clean holds of one lock overlap in time (one process, one
    monotonic clock);
  - the fence never turned away a clean holder (that would mean a newer
    holder wrote while it believed it held the lock);
  - fencing tokens are never handed out twice.
Prints one JSON line with the figures per phase and the anomalies; exits 0
(the harness judges). Runs until STOP_FILE exists.
"""
import argparse
import json
import os
import random
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException
from kazoo.recipe.lock import Lock


class Fence:
    """The guarded resource: accepts a write only with the newest token."""

    def __init__(self):
        self.mutex = threading.Lock()
        self.newest = {}

    def write(self, lock, token):
        with self.mutex:
            if token < self.newest.get(lock, -1):
                return False
            self.newest[lock] = token
            return True


def token_of(node):
    return int(node.rsplit("__lock__", 1)[1]) if node and "__lock__" in node else None


def worker(n, args, fence, holds, holds_mutex, stop):
    zk = KazooClient(hosts=args.hosts, timeout=args.session_timeout,
                     connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1},
                     command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1})
    troubles = []  # monotonic times of every non-CONNECTED state

    def listener(state):
        if state != KazooState.CONNECTED:
            troubles.append(time.monotonic())

    zk.add_listener(listener)
    while not stop.is_set():
        try:
            zk.start(timeout=10)
            break
        except Exception:
            time.sleep(0.5)
    rng = random.Random(n)
    while not stop.is_set():
        phase = read_phase(args.phase_file)
        path = f"/locks/p{phase}"
        lock = Lock(zk, path, identifier=f"w{n}")
        try:
            if not lock.acquire(timeout=3):
                continue
        except Exception:
            time.sleep(0.2)
            continue
        acquired = time.monotonic()
        trouble_mark = len(troubles)
        token = token_of(lock.node)
        accepted = fence.write(path, token) if token is not None else None
        time.sleep(rng.uniform(0.02, 0.15))
        released = time.monotonic()
        clean = len(troubles) == trouble_mark and zk.state == KazooState.CONNECTED
        with holds_mutex:
            holds.append({"phase": phase, "lock": path, "worker": n, "token": token,
                          "acquired": acquired, "released": released,
                          "clean": clean, "accepted": accepted})
        try:
            lock.release()
        except Exception:
            pass
    try:
        zk.stop()
        zk.close()
    except Exception:
        pass


def read_phase(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def check(holds):
    anomalies = []
    by_lock = {}
    for h in holds:
        by_lock.setdefault(h["lock"], []).append(h)
    for lock, hs in by_lock.items():
        tokens = [h["token"] for h in hs if h["token"] is not None]
        if len(tokens) != len(set(tokens)):
            anomalies.append(f"{lock}: a fencing token was handed out twice")
        clean = sorted((h for h in hs if h["clean"]), key=lambda h: h["acquired"])
        for a, b in zip(clean, clean[1:]):
            if b["acquired"] < a["released"]:
                anomalies.append(
                    f"{lock}: workers {a['worker']} (token {a['token']}) and {b['worker']} "
                    f"(token {b['token']}) held it at once, both connected throughout")
        for h in clean:
            if h["accepted"] is False:
                anomalies.append(
                    f"{lock}: the fence turned away worker {h['worker']} (token {h['token']}) "
                    f"while it was connected throughout its hold")
    return anomalies


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--session-timeout", type=float, default=4.0)
    p.add_argument("--phase-file", required=True)
    p.add_argument("--stop-file", required=True)
    args = p.parse_args()
    fence = Fence()
    holds, holds_mutex, stop = [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=worker, args=(n, args, fence, holds, holds_mutex, stop),
                                daemon=True) for n in range(1, args.workers + 1)]
    for t in threads:
        t.start()
    while not os.path.exists(args.stop_file):
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    phases = {}
    for h in holds:
        f = phases.setdefault(str(h["phase"]), {"holds": 0, "clean": 0, "fenced_out": 0})
        f["holds"] += 1
        f["clean"] += h["clean"]
        f["fenced_out"] += h["accepted"] is False
    anomalies = check(holds)
    print(json.dumps({"phases": phases, "anomalies": anomalies}), flush=True)


if __name__ == "__main__":
    main()
