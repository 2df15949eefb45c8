"""Issue 10, finding 2, with kazoo, for each target kind:

  pytest tests/compat/test_large_writes.py        # zk, plus synod when it serves ZooKeeper

Through one connection to a follower, 80 pipelined setData of 1,000,000
bytes each (kazoo set_async; each under the 1 MB jute.maxbuffer, and
ZooKeeper 3.8 answers all 80). Then a leader and a write within two
election timeouts of synod's defaults (2 x 500 ms), through a second
client connected before the load.
"""
import os
import time

import pytest
from kazoo.client import KazooClient

import clusters

BASE_PORT = int(os.environ.get("SYNOD_COMPAT_LARGE_WRITES_PORT", "23981"))
WRITES = 80
VALUE_BYTES = 1_000_000
PATH = "/wedge"
LOAD_LIMIT_S = 60.0
AFTER_LOAD_S = 2 * 0.5  # two of synod's default election timeouts


@pytest.fixture(params=clusters.kinds_under_test())
def cluster(request):
    c = clusters.KINDS[request.param](base_port=BASE_PORT)
    c.start()
    yield c
    c.stop()


def value(i):
    return bytes([i]) * VALUE_BYTES


def test_pipelined_megabyte_writes_to_a_follower_leave_a_leader_and_a_working_cluster(cluster):
    leader = cluster.leader()
    follower = next(i for i in range(cluster.size) if i != leader)
    writer = KazooClient(cluster.host(follower), timeout=30)
    other = KazooClient(cluster.host(leader), timeout=30)
    writer.start(15)
    other.start(15)
    try:
        writer.create(PATH, b"0")
        started = time.time()
        pending = [writer.set_async(PATH, value(i)) for i in range(1, WRITES + 1)]
        ok, failed = 0, []
        for i, result in enumerate(pending, 1):
            try:
                result.get(timeout=max(0.1, LOAD_LIMIT_S - (time.time() - started)))
                ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted
                failed.append((i, type(e).__name__))
        print(f"{cluster.kind}: {ok} of {WRITES} ok after {time.time() - started:.1f}s; "
              f"failed {failed[:5]}{'...' if len(failed) > 5 else ''}")

        after = time.time()
        deadline = after + AFTER_LOAD_S
        while cluster.leader() is None and time.time() < deadline:
            time.sleep(0.02)
        assert cluster.leader() is not None, f"no leader {AFTER_LOAD_S}s after the load"
        other.create_async("/after-the-load", b"ok").get(timeout=max(0.01, deadline - time.time()))
        print(f"{cluster.kind}: leader and a write {time.time() - after:.2f}s after the load")

        other.sync(PATH)
        data, stat = other.get(PATH)
        assert data in {value(i) for i in range(1, WRITES + 1)}, \
            f"{PATH} holds {len(data)} bytes that are none of the values written"
        assert ok == WRITES, f"{WRITES - ok} writes failed: {failed[:5]}"
        assert (data, stat.version) == (value(WRITES), WRITES)
    finally:
        for c in (writer, other):
            try:
                c.stop()
                c.close()
            except Exception:  # noqa: BLE001
                pass
