"""Self-test of differential.py, and ZooKeeper vs synod when synod serves.

- ZooKeeper vs ZooKeeper (A through one server, B through another, each under
  its own root) agrees: the tool has no false alarms.
- With --inject-bug K the divergence at op K is reported, exit status 1.
- ZooKeeper vs synod agrees on a few seeds (only when synod is under test).
"""
import os

import pytest

import clusters
import differential

ZK_PORT = int(os.environ.get("SYNOD_COMPAT_DIFF_PORT", "22481"))
SYNOD_PORT = int(os.environ.get("SYNOD_COMPAT_DIFF_SYNOD_PORT", "23681"))
OPS = int(os.environ.get("SYNOD_DIFF_OPS", "200"))


@pytest.fixture(scope="module")
def zk():
    with clusters.ZkCluster(base_port=ZK_PORT) as c:
        yield c


def test_zookeeper_agrees_with_itself(zk, capsys):
    rc = differential.main(["--a", zk.host(0), "--b", zk.host(2), "--seed", "11", "--ops", str(OPS)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"no divergence in {OPS} ops" in out


def test_injected_bug_is_reported(zk, capsys):
    rc = differential.main(["--a", zk.hosts, "--b", zk.hosts, "--seed", "5", "--ops", "80",
                            "--inject-bug", "37"])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "DIVERGENCE at op 37:" in out
    assert "INJECTED" in out
    assert "#36 " in out          # the history leading to it is shown
    assert "replay: differential.py" in out


@pytest.mark.skipif("synod" not in clusters.kinds_under_test(), reason="synod does not serve ZooKeeper yet")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synod_agrees_with_zookeeper(zk, seed, capsys):
    with clusters.SynodCluster(base_port=SYNOD_PORT) as sy:
        rc = differential.main(["--a", zk.hosts, "--b", sy.hosts, "--seed", str(seed), "--ops", str(OPS)])
    out = capsys.readouterr().out
    assert rc == 0, out
