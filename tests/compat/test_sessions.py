"""Sessions and failover on a 3-node cluster, for each target kind.

  pytest tests/compat/test_sessions.py            # zk, plus synod when it serves ZooKeeper
  SYNOD_COMPAT_TARGETS=synod pytest ...           # pick targets

- a session survives kill -9 of the server it is connected to, ephemeral and all;
- a session that ends (closed by a second client holding its id and password,
  or expired because its process stops pinging) loses its ephemerals, and
  another client's watch fires NodeDeleted;
- a kazoo Lock never has two holders while the leader is killed repeatedly.
"""
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

import clusters

BASE_PORT = int(os.environ.get("SYNOD_COMPAT_SESSIONS_PORT", "22781"))


@pytest.fixture(params=clusters.kinds_under_test())
def cluster(request):
    c = clusters.KINDS[request.param](base_port=BASE_PORT)
    c.start()
    yield c
    c.stop()


def connected_node(cluster, client):
    port = client._connection._socket.getpeername()[1]
    return port - cluster.base


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_session_survives_kill_of_its_server(cluster):
    c = KazooClient(cluster.hosts, timeout=10)
    states = []
    c.add_listener(states.append)
    c.start(15)
    try:
        path = f"/failover-{uuid.uuid4().hex[:8]}"
        c.create(path, b"mine", ephemeral=True)
        sid = c.client_id[0]
        victim = connected_node(cluster, c)
        cluster.kill(victim)                                    # kill -9
        wait_for(lambda: KazooState.SUSPENDED in states, 10, "the client to notice")
        wait_for(lambda: c.state == KazooState.CONNECTED and c.connected, 20, "reconnection")
        assert KazooState.LOST not in states, f"session was lost: {states}"
        assert c.client_id[0] == sid
        assert connected_node(cluster, c) != victim
        data, stat = c.retry(c.get, path)
        assert data == b"mine" and stat.ephemeralOwner == sid
        other = KazooClient(cluster.hosts, timeout=10)
        other.start(15)
        try:
            other.sync(path)
            assert other.exists(path).ephemeralOwner == sid
        finally:
            other.stop()
            other.close()
    finally:
        c.stop()
        c.close()


def test_closed_session_via_its_id_drops_ephemerals(cluster):
    owner = KazooClient(cluster.host(0), timeout=10)
    owner_states = []
    owner.add_listener(owner_states.append)
    watcher = KazooClient(cluster.host(1), timeout=10)
    owner.start(15)
    watcher.start(15)
    path = f"/expire-{uuid.uuid4().hex[:8]}"
    events = []
    try:
        owner.create(path, b"", ephemeral=True)
        watcher.sync(path)
        assert watcher.exists(path, watch=events.append) is not None
        # A second client takes over the session by id+password and closes it.
        twin = KazooClient(cluster.host(2), timeout=10, client_id=owner.client_id)
        twin.start(15)
        assert twin.client_id[0] == owner.client_id[0]
        twin.stop()
        twin.close()
        wait_for(lambda: events, 10, "the NodeDeleted watch")
        assert [(e.type, e.path) for e in events] == [("DELETED", path)]
        assert watcher.exists(path) is None
        wait_for(lambda: KazooState.LOST in owner_states, 20, "the first client to see its session end")
    finally:
        for cl in (owner, watcher):
            cl.stop()
            cl.close()


OWNER_SCRIPT = """
import sys, time
from kazoo.client import KazooClient
c = KazooClient(sys.argv[1], timeout=4)
c.start(15)
c.create(sys.argv[2], b"", ephemeral=True)
print(hex(c.client_id[0]), flush=True)
time.sleep(600)
"""


def test_expired_session_drops_ephemerals_and_fires_watch(cluster):
    """The owner process is frozen (SIGSTOP): no pings, so the session expires."""
    path = f"/expire-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT, cluster.host(0), path],
                            stdout=subprocess.PIPE, text=True)
    watcher = KazooClient(cluster.host(1), timeout=10)
    watcher.start(15)
    events = []
    try:
        sid = int(proc.stdout.readline(), 16)
        watcher.sync(path)
        assert watcher.exists(path, watch=events.append).ephemeralOwner == sid
        t0 = time.time()
        proc.send_signal(signal.SIGSTOP)
        # 4 s session: expiry within ~2 ticks after the timeout on ZooKeeper.
        wait_for(lambda: events, 20, "the NodeDeleted watch after expiry")
        took = time.time() - t0
        assert [(e.type, e.path) for e in events] == [("DELETED", path)]
        assert 3.0 < took < 15, f"expired after {took:.1f}s (session timeout 4s)"
        assert watcher.exists(path) is None
    finally:
        proc.kill()
        proc.wait()
        watcher.stop()
        watcher.close()


def test_lock_has_one_holder_while_leader_is_killed(cluster):
    lock_path = f"/lock-{uuid.uuid4().hex[:8]}"
    intervals = []           # (start, end, contender)
    stop = threading.Event()
    errors = []

    def contender(n):
        c = KazooClient(cluster.hosts, timeout=6, connection_retry={"max_tries": -1, "delay": 0.1})
        lost_at = []

        def listener(state):
            if state != KazooState.CONNECTED:
                lost_at.append(time.monotonic())
        c.add_listener(listener)
        c.start(30)
        lock = c.Lock(lock_path, f"c{n}")
        try:
            while not stop.is_set():
                try:
                    if not lock.acquire(timeout=5):
                        continue
                except Exception:       # connection trouble while waiting: try again
                    time.sleep(0.2)
                    continue
                start = time.monotonic()
                mark = len(lost_at)
                time.sleep(0.05 + 0.1 * (n % 3))
                end = time.monotonic()
                if len(lost_at) > mark:   # a careful holder stops trusting the lock
                    end = min(end, lost_at[mark])
                intervals.append((start, end, n))
                try:
                    lock.release()
                except Exception:
                    pass
        except Exception as e:           # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            c.stop()
            c.close()

    threads = [threading.Thread(target=contender, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    kills = []
    try:
        time.sleep(3)
        for _ in range(3):
            leader = cluster.leader()
            assert leader is not None, "no node says Mode: leader"
            before = len(intervals)
            cluster.kill(leader)
            kills.append(leader)
            time.sleep(4)
            cluster.start_node(leader)
            cluster.wait_ready(60)
            wait_for(lambda: len(intervals) > before + 2, 60, "lock progress after the kill")
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert len(intervals) >= 10, f"only {len(intervals)} acquisitions"
    held_until, holder = float("-inf"), None
    for start, end, n in sorted(intervals):
        assert start >= held_until, (f"two holders: contender {holder[2]} held "
                                     f"[{holder[0]:.3f}, {holder[1]:.3f}] and contender {n} "
                                     f"acquired at {start:.3f}")
        if end > held_until:
            held_until, holder = end, (start, end, n)
    print(f"{cluster.kind}: {len(intervals)} lock holds, leaders killed: {kills}")
