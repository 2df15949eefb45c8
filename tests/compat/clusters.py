#!/usr/bin/env python3
"""Launch a 3-node ensemble on loopback: real ZooKeeper 3.8 or synod.

Library use:   with ZkCluster(base_port=22181) as c: c.hosts, c.kill(0), c.leader()
Command line:  clusters.py run --kind zk --base 22181 --name A -- CMD ARGS...
               starts the cluster, waits until it serves, runs CMD with every
               "{A}" in ARGS replaced by "127.0.0.1:22181,127.0.0.1:22182,...",
               stops the cluster afterwards and exits with CMD's status.

Ports for base B, node i (0-based): client (ZooKeeper protocol) B+i,
peer/quorum B+100+i, ZooKeeper election / synod gRPC B+200+i.
The defaults (22181..) stay clear of `synod dev` (2181-2183, 7001-7003,
8001-8003) and of kazoo's own harness (20000-20034).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ZK_JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar",
           "/usr/share/java/log4j-1.2.jar"]
ZK_CLASSPATH = ":".join(ZK_JARS)
# kazoo's harness also turns on the Netty connection factory and the admin
# server, whose jars Debian's zookeeper.jar manifest does not list.
KAZOO_CLASSPATH = ":".join(ZK_JARS + ["/usr/share/java/" + j for j in (
    "netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar",
    "servlet-api.jar")])
# zkCli over TLS runs ZooKeeper's Netty client socket (the only one that
# speaks TLS); Debian's zkCli.sh puts zookeeper.jar alone on its class path,
# without Netty, which Apache's own tarball ships in lib/. So TLS tests run
# zkCli's main class, org.apache.zookeeper.ZooKeeperMain, with these.
ZKCLI_TLS_CLASSPATH = ":".join([KAZOO_CLASSPATH] + ["/usr/share/java/" + j for j in (
    "netty-handler.jar", "netty-transport.jar", "netty-buffer.jar", "netty-common.jar",
    "netty-transport-native-epoll.jar")])
# The password of this digest is "test" (the same one kazoo's harness uses).
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
# Modest JVMs: we share 2 cores with compilers.
JVM_OPTS = ["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8"]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def four_letter(port, cmd, host="127.0.0.1", timeout=2.0):
    """Send a four-letter word, return the reply text ('' if unreachable)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(cmd.encode())
            chunks = []
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def mode_of(port):
    """'leader', 'follower', 'standalone', ... or None when not serving."""
    for line in four_letter(port, "srvr").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


class Cluster:
    """Three nodes of one kind; subclasses say how to start one node."""
    kind = "?"

    def __init__(self, base_port=22181, size=3, workdir=None, keep=False):
        self.base, self.size = base_port, size
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"compat-{self.kind}-")
        self.keep = keep
        self.procs = [None] * size
        self.logs = [None] * size

    # ports -----------------------------------------------------------
    def client_port(self, i):
        return self.base + i

    def peer_port(self, i):
        return self.base + 100 + i

    def third_port(self, i):
        return self.base + 200 + i

    @property
    def hosts(self):
        return ",".join(f"127.0.0.1:{self.client_port(i)}" for i in range(self.size))

    def host(self, i):
        return f"127.0.0.1:{self.client_port(i)}"

    def node_dir(self, i):
        d = os.path.join(self.workdir, f"n{i + 1}")
        os.makedirs(d, exist_ok=True)
        return d

    # lifecycle -------------------------------------------------------
    def command(self, i):
        raise NotImplementedError

    def start_node(self, i):
        if self.procs[i] and self.procs[i].poll() is None:
            return
        log = open(os.path.join(self.node_dir(i), "server.log"), "ab")
        self.logs[i] = log
        self.procs[i] = subprocess.Popen(self.command(i), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.node_dir(i), start_new_session=True)

    def start(self, timeout=60):
        for i in reversed(range(self.size)):
            self.start_node(i)
        self.wait_ready(timeout)
        return self

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs[i]
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs[i] = None

    def stop_node(self, i):
        self.kill(i, signal.SIGTERM)

    def stop(self):
        for i in range(self.size):
            self.stop_node(i)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, i, lines=25):
        try:
            with open(os.path.join(self.node_dir(i), "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def mode(self, i):
        return mode_of(self.client_port(i))

    def leader(self):
        """Index of the node whose srvr says 'Mode: leader', or None."""
        for i in range(self.size):
            if self.alive(i) and self.mode(i) == "leader":
                return i
        return None

    def wait_ready(self, timeout=60, nodes=None):
        """Until every live node (or `nodes`) serves and one is leader."""
        deadline = time.time() + timeout
        nodes = [i for i in range(self.size) if self.alive(i)] if nodes is None else nodes
        while time.time() < deadline:
            for i in nodes:
                if self.procs[i] and self.procs[i].poll() is not None:
                    raise RuntimeError(f"{self.kind} node {i + 1} exited with "
                                       f"{self.procs[i].returncode}:\n{self.log_tail(i)}")
            modes = [self.mode(i) for i in nodes]
            if all(modes) and "leader" in modes:
                return modes
            time.sleep(0.2)
        raise TimeoutError(f"{self.kind} cluster not ready after {timeout}s: "
                           f"modes={[self.mode(i) for i in nodes]} (logs in {self.workdir})")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ZkCluster(Cluster):
    """Apache ZooKeeper 3.8 (Debian's jars), configured for parity with synod."""
    kind = "zk"

    def __init__(self, *a, tick_ms=2000, **kw):
        super().__init__(*a, **kw)
        self.tick_ms = tick_ms

    def command(self, i):
        d = self.node_dir(i)
        data = os.path.join(d, "data")
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "myid"), "w") as f:
            f.write(f"{i + 1}\n")
        servers = "\n".join(
            f"server.{j + 1}=127.0.0.1:{self.peer_port(j)}:{self.third_port(j)};127.0.0.1:{self.client_port(j)}"
            for j in range(self.size))
        cfg = os.path.join(d, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(f"""tickTime={self.tick_ms}
initLimit=10
syncLimit=5
dataDir={data}
clientPort={self.client_port(i)}
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
reconfigEnabled=true
forceSync=yes
standaloneEnabled=false
{servers}
""")
        with open(os.path.join(d, "log4j.properties"), "w") as f:
            f.write("log4j.rootLogger=INFO, CONSOLE\n"
                    "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
                    "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
                    "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n\n")
        return (["java", "-cp", ZK_CLASSPATH] + JVM_OPTS + [
            f"-Dlog4j.configuration=file:{d}/log4j.properties",
            "-Dzookeeper.extendedTypesEnabled=true",       # TTL nodes
            f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg])


def synod_bin():
    return os.environ.get("SYNOD_BIN") or os.path.join(REPO, "target", "release", "synod")


def synod_available(binary=None):
    """True when the synod binary exists and its `server` takes --zk-listen
    (the ZooKeeper front door has landed)."""
    binary = binary or synod_bin()
    if not os.access(binary, os.X_OK):
        return False
    try:
        out = subprocess.run([binary, "server", "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "zk-listen" in out.stdout + out.stderr


def kinds_under_test():
    """SYNOD_COMPAT_TARGETS=zk,synod picks targets; default zk, plus synod
    when the binary serves ZooKeeper."""
    env = os.environ.get("SYNOD_COMPAT_TARGETS")
    if env:
        return [k.strip() for k in env.split(",") if k.strip()]
    return ["zk"] + (["synod"] if synod_available() else [])


class SynodCluster(Cluster):
    """synod servers speaking the ZooKeeper protocol (`synod server --config`).

    tls=True: peers on mutual TLS and a ZooKeeper TLS port per node
    (`secure_zk_listen`, at base+300+i, client certificates required), with
    certificates from `synod certs` in <workdir>/tls: ca.crt, node-N.*,
    client-alice.crt|key (also client-bob, and client-root, the x509 super
    user) and client-alice.pem (key and certificate in one
    file, as ZooKeeper's Java client takes a PEM key store)."""
    kind = "synod"

    def __init__(self, *a, tick_ms=2000, binary=None, tls=False, **kw):
        super().__init__(*a, **kw)
        self.tick_ms = tick_ms
        self.binary = binary or synod_bin()
        self.tls = tls
        if tls:
            self._make_certs()

    @property
    def tls_dir(self):
        return os.path.join(self.workdir, "tls")

    def tls_file(self, name):
        return os.path.join(self.tls_dir, name)

    def secure_port(self, i):
        return self.base + 300 + i

    @property
    def secure_hosts(self):
        return ",".join(f"127.0.0.1:{self.secure_port(i)}" for i in range(self.size))

    def _make_certs(self):
        def certs(*args):
            subprocess.run([self.binary, "certs", *args, "--dir", self.tls_dir], check=True,
                           stdout=subprocess.DEVNULL)
        certs("create-ca", "--name", "compat")
        for i in range(self.size):
            certs("create-node", "--id", str(i + 1), "--host", "127.0.0.1", "--host", "localhost")
        for name in ("alice", "bob", "root"):
            certs("create-client", "--name", name)
        with open(self.tls_file("client-alice.pem"), "w") as pem:
            for part in ("client-alice.key", "client-alice.crt"):
                with open(self.tls_file(part)) as f:
                    pem.write(f.read())

    def command(self, i):
        d = self.node_dir(i)
        members = "".join(
            f"[members.{j + 1}]\npeer = \"127.0.0.1:{self.peer_port(j)}\"\n"
            f"client = \"127.0.0.1:{self.third_port(j)}\"\n" for j in range(self.size))
        tls = ""
        if self.tls:
            node = self.tls_file(f"node-{i + 1}")
            tls = f"""secure_zk_listen = "127.0.0.1:{self.secure_port(i)}"

[client_tls]
cert = "{node}.crt"
key = "{node}.key"
ca = "{self.tls_file('ca.crt')}"
client_auth = "need"

[peer_tls]
ca = "{self.tls_file('ca.crt')}"
cert = "{node}.crt"
key = "{node}.key"
"""
        cfg = os.path.join(d, "synod.toml")
        with open(cfg, "w") as f:
            f.write(f"""node_id = {i + 1}
cluster_id = 1
data_dir = "{d}/data"
peer_listen = "127.0.0.1:{self.peer_port(i)}"
client_listen = "127.0.0.1:{self.third_port(i)}"
zk_listen = "127.0.0.1:{self.client_port(i)}"
{tls}
{members}
[zk]
tick_ms = {self.tick_ms}
super_digest = "{SUPER_DIGEST}"
reconfig_enabled = true
{'x509_super_user = "CN=root"' if self.tls else ''}
max_client_cnxns = 0
four_letter_words = ["*"]
""")
        # --init on the first start only: a restarted node has its IDENTITY.
        init = [] if os.path.exists(os.path.join(d, "data", "IDENTITY")) else ["--init"]
        return [self.binary, "server", "--config", cfg] + init


KINDS = {"zk": ZkCluster, "synod": SynodCluster}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="start a cluster, run a command against it, stop it")
    r.add_argument("--kind", choices=KINDS, default="zk")
    r.add_argument("--base", type=int, default=22181)
    r.add_argument("--name", default="hosts", help="placeholder {NAME} in the command")
    r.add_argument("--keep", action="store_true", help="keep the data/log dir")
    r.add_argument("argv", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
    cluster = KINDS[a.kind](base_port=a.base, keep=a.keep)
    t0 = time.time()
    # Stop the cluster on SIGTERM/SIGINT too (we are the servers' only owner).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        cluster.start()
        print(f"[clusters] {a.kind} ready at {cluster.hosts} in {time.time() - t0:.1f}s "
              f"(dir {cluster.workdir})", file=sys.stderr, flush=True)
        argv = [x.replace("{" + a.name + "}", cluster.hosts) for x in argv]
        if not argv:
            print(cluster.hosts, flush=True)
            signal.pause()
        rc = subprocess.call(argv)
    finally:
        cluster.stop()
    sys.exit(rc)


if __name__ == "__main__":
    main()
