"""The ZooKeeper protocol over TLS on synod (`secure_zk_listen`, ZooKeeper's
secureClientPort), with peers on mutual TLS, driven by unchanged clients.

  pytest tests/compat/test_tls.py     # needs SYNOD_BIN or target/release/synod

- kazoo with use_ssl=True and a client certificate of the cluster's CA:
  reads, writes, an ephemeral, a watch, and its session surviving kill -9 of
  the node it is connected to (it reconnects to another over TLS);
- zkCli (ZooKeeperMain, with Netty on its class path) with
  zookeeper.client.secure=true and PEM trust and key stores: create and get;
- a plaintext client on the TLS port, and a TLS client without a client
  certificate, get no session;
- the x509 ACL scheme: a client certificate's subject is an ACL identity
  (`x509:CN=alice`, also through the `auth` scheme), another certificate
  gets NoAuth, and the configured `x509_super_user` passes every ACL.
Only synod: the comparison with ZooKeeper's own TLS port is left for later
(it needs Java key stores and ZooKeeper's x509 provider configured).
"""
import os
import signal
import socket
import struct
import subprocess
import time
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.security import ACL, Id, Permissions

import clusters

BASE_PORT = int(os.environ.get("SYNOD_COMPAT_TLS_PORT", "25381"))
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

pytestmark = pytest.mark.skipif(not clusters.synod_available(),
                                reason="no synod binary that serves ZooKeeper")


@pytest.fixture(scope="module")
def cluster():
    c = clusters.SynodCluster(base_port=BASE_PORT, tls=True)
    c.start()
    yield c
    c.stop()


def tls_client(cluster, hosts=None, cert=True, timeout=10.0, name="alice"):
    kw = {}
    if cert:
        kw = dict(certfile=cluster.tls_file(f"client-{name}.crt"),
                  keyfile=cluster.tls_file(f"client-{name}.key"))
    return KazooClient(hosts=hosts or cluster.secure_hosts, use_ssl=True, verify_certs=True,
                       ca=cluster.tls_file("ca.crt"), timeout=timeout, **kw)


def test_kazoo_over_tls_reads_writes_watches_and_keeps_its_session_through_a_kill(cluster):
    zk = tls_client(cluster)
    zk.start(timeout=30)
    try:
        path = f"/tls-{uuid.uuid4().hex[:8]}"
        zk.create(path, b"one")
        assert zk.get(path)[0] == b"one"
        zk.create(f"{path}/eph", b"", ephemeral=True)
        fired = []
        zk.get(path, watch=fired.append)
        zk.set(path, b"two")
        deadline = time.time() + 10
        while not fired and time.time() < deadline:
            time.sleep(0.05)
        assert fired and fired[0].type == "CHANGED", fired
        session = zk.client_id[0]

        # Kill the node this client is connected to; the session moves.
        port = zk._connection._socket.getpeername()[1]
        victim = port - cluster.base - 300
        cluster.kill(victim, signal.SIGKILL)
        deadline = time.time() + 60
        while True:
            try:
                assert zk.get(path)[0] == b"two"
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        assert zk.client_id[0] == session
        assert zk.exists(f"{path}/eph") is not None, "the ephemeral outlived its session's move"
        cluster.start_node(victim)
        cluster.wait_ready(60)
    finally:
        zk.stop()
        zk.close()


def connect_request():
    # protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly
    body = struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16 + b"\0"
    return struct.pack(">i", len(body)) + body


def test_a_plaintext_client_on_the_tls_port_gets_no_session(cluster):
    with socket.create_connection(("127.0.0.1", cluster.secure_port(0)), timeout=10) as s:
        s.sendall(connect_request())
        answer = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    # Whatever came back (a TLS alert at most) is not a ConnectResponse.
    assert len(answer) < 20, answer


def test_a_tls_client_without_a_certificate_gets_no_session(cluster):
    zk = tls_client(cluster, cert=False, timeout=3.0)
    with pytest.raises(Exception):
        zk.start(timeout=6)
    zk.stop()
    zk.close()
    # A plaintext kazoo against the TLS port does not get one either.
    zk = KazooClient(hosts=cluster.secure_hosts, timeout=3.0)
    with pytest.raises(Exception):
        zk.start(timeout=6)
    zk.stop()
    zk.close()


@pytest.mark.skipif(not os.path.exists(ZKCLI), reason="no zkCli.sh (tests/compat/setup.sh)")
def test_x509_acls_admit_the_certificate_they_name_and_the_super_user(cluster):
    alice, bob, root = (tls_client(cluster, name=n) for n in ("alice", "bob", "root"))
    for zk in (alice, bob, root):
        zk.start(timeout=30)
    try:
        base = f"/x509-{uuid.uuid4().hex[:8]}"
        named = ACL(Permissions.ALL, Id("x509", "CN=alice"))
        alice.create(base, b"alice's", acl=[named])
        assert alice.get(base)[0] == b"alice's"
        acl, _ = alice.get_acls(base)
        assert [(a.id.scheme, a.id.id) for a in acl] == [("x509", "CN=alice")]
        with pytest.raises(NoAuthError):
            bob.get(base)
        with pytest.raises(NoAuthError):
            bob.set(base, b"bob's")
        # The super user's certificate passes every ACL.
        assert root.get(base)[0] == b"alice's"
        root.set(base, b"root's")
        # `auth` expands to the creator's authenticated ids: its certificate.
        alice.create(f"{base}-auth", b"", acl=[ACL(Permissions.ALL, Id("auth", ""))])
        acl, _ = alice.get_acls(f"{base}-auth")
        assert [(a.id.scheme, a.id.id) for a in acl] == [("x509", "CN=alice")]
        with pytest.raises(NoAuthError):
            bob.get(f"{base}-auth")
    finally:
        for zk in (alice, bob, root):
            zk.stop()
            zk.close()


def test_zkcli_over_tls_creates_and_reads(cluster):
    # zkCli.sh's program with Netty on the class path (see clusters.py).
    flags = [
        "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        "-Dzookeeper.client.secure=true",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        f"-Dzookeeper.ssl.keyStore.location={cluster.tls_file('client-alice.pem')}",
        "-Dzookeeper.ssl.keyStore.type=PEM",
        f"-Dzookeeper.ssl.trustStore.location={cluster.tls_file('ca.crt')}",
        "-Dzookeeper.ssl.trustStore.type=PEM",
    ]
    path = f"/tls-zkcli-{uuid.uuid4().hex[:8]}"
    commands = f"create {path} over-tls\nget {path}\nquit\n"
    out = subprocess.run(["java", "-cp", clusters.ZKCLI_TLS_CLASSPATH, *flags,
                          "org.apache.zookeeper.ZooKeeperMain", "-server", cluster.secure_hosts],
                         input=commands, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=120).stdout
    lines = [line.strip() for line in out.splitlines()]
    assert f"Created {path}" in lines, out
    assert "over-tls" in lines, out


def test_synod_dev_secure_prints_commands_that_connect(tmp_path):
    """`synod dev --secure` serves TLS on every client port, and the synod,
    kazoo and zkCli commands it prints connect as printed."""
    import re
    import shlex
    base = BASE_PORT + 500
    dev = subprocess.Popen(
        [clusters.synod_bin(), "dev", "--secure", "--dir", str(tmp_path / "dev"),
         "--peer-port", str(base), "--client-port", str(base + 10), "--zk-port", str(base + 20),
         "--secure-zk-port", str(base + 30), "--admin-port", str(base + 40)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in dev.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                break
        text = "\n".join(lines)
        export = next(l for l in lines if l.strip().startswith("export SYNOD_CA="))
        env = dict(os.environ)
        for assignment in shlex.split(export.strip())[1:]:
            k, v = assignment.split("=", 1)
            env[k] = v
        endpoints = ",".join(f"127.0.0.1:{base + 10 + i}" for i in range(3))
        synod = [clusters.synod_bin(), "kv", "--endpoints", endpoints]
        deadline = time.time() + 60
        while True:
            put = subprocess.run(synod + ["put", "greeting", "hello"], env=env,
                                 capture_output=True, text=True, timeout=60)
            if put.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert put.returncode == 0, (put, text)
        get = subprocess.run(synod + ["get", "greeting"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert get.stdout.strip() == "hello", get
        # Without the CA the same command gets nothing.
        plain = {k: v for k, v in env.items() if not k.startswith("SYNOD_")}
        bare = subprocess.run(synod + ["get", "greeting"], env=plain, capture_output=True,
                              text=True, timeout=60)
        assert bare.returncode != 0, bare

        # The admin port speaks HTTPS; its metrics need an identity.
        curl_line = next(l for l in lines if l.strip().startswith("curl "))
        curl = shlex.split(curl_line.strip())
        metrics = subprocess.run(curl + ["--silent", "--show-error"], capture_output=True,
                                 text=True, timeout=60)
        assert "synod_has_leader" in metrics.stdout, (metrics, text)
        url = curl[-1]
        anonymous = subprocess.run(["curl", "--silent", "--output", "/dev/null",
                                    "--write-out", "%{http_code}", "--cacert",
                                    curl[curl.index("--cacert") + 1], url],
                                   capture_output=True, text=True, timeout=60)
        assert anonymous.stdout == "401", anonymous
        probe = subprocess.run(["curl", "--silent", "--output", "/dev/null",
                                "--write-out", "%{http_code}", "--cacert",
                                curl[curl.index("--cacert") + 1],
                                url.replace("/metrics", "/livez")],
                               capture_output=True, text=True, timeout=60)
        assert probe.stdout == "200", probe

        kazoo_line = next(l for l in lines if "KazooClient(" in l)
        kwargs = dict(re.findall(r'(\w+)="([^"]*)"', kazoo_line))
        zk = KazooClient(hosts=kwargs["hosts"], use_ssl=True, ca=kwargs["ca"],
                         certfile=kwargs["certfile"], keyfile=kwargs["keyfile"])
        zk.start(timeout=30)
        zk.ensure_path("/dev-secure")
        assert zk.exists("/dev-secure") is not None
        zk.stop()
        zk.close()

        if os.path.exists(ZKCLI):
            zkcli_line = next(l for l in lines if "CLIENT_JVMFLAGS=" in l)
            flags = shlex.split(zkcli_line.split('CLIENT_JVMFLAGS="', 1)[1].split('"', 1)[0])
            hosts = zkcli_line.rsplit("-server ", 1)[1].strip()
            out = subprocess.run(["java", "-cp", clusters.ZKCLI_TLS_CLASSPATH, *flags,
                                  "org.apache.zookeeper.ZooKeeperMain", "-server", hosts],
                                 input="ls /\nquit\n", stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=120).stdout
            assert "dev-secure" in out, out
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(timeout=60)
