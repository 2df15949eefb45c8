#!/usr/bin/env python3
"""The container deployment, for real: builds the image (deploy/image.sh,
FROM scratch), starts deploy/compose/docker-compose.yml (three nodes, peers
on mutual TLS, data on named volumes), and drives it with kazoo:

- writes through the cluster, then `docker-compose stop` of one node: the
  other two keep serving; the node started again catches up (read on it
  alone, after a sync);
- SIGKILL of another node and a start: it recovers from its volume
  (`--init-if-empty` does not initialize it again) and serves what was
  written;
- an ephemeral znode lives while its session does and is gone once the
  session is closed.

    SYNOD_BIN=target/release/synod python3 tests/deploy/compose_test.py

Without a Docker engine or docker-compose it says so and exits 0 (the
README's Deployment section says what is then left unchecked).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from retry import create_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTS = ["172.30.77.11:2181", "172.30.77.12:2181", "172.30.77.13:2181"]


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, text=True, capture_output=True, **kw)


def have_docker():
    if not shutil.which("docker") or not shutil.which("docker-compose"):
        return False
    return sh("docker", "info", check=False).returncode == 0


def main():
    if not have_docker():
        print("compose test: SKIPPED, no Docker engine or docker-compose on this machine")
        return 0
    from kazoo.client import KazooClient

    env = dict(os.environ)
    image = f"synod:compose-test-{os.getpid()}"
    subprocess.run([os.path.join(ROOT, "deploy", "image.sh"), image], check=True, env=env)
    work = tempfile.mkdtemp(prefix="synod-compose-")
    shutil.copytree(os.path.join(ROOT, "deploy", "compose"), work, dirs_exist_ok=True)
    shutil.rmtree(os.path.join(work, "tls"), ignore_errors=True)
    project = f"synodtest{os.getpid()}"
    env["SYNOD_IMAGE"] = image
    compose = ["docker-compose", "-p", project, "-f", os.path.join(work, "docker-compose.yml")]

    def dc(*args):
        return subprocess.run(compose + list(args), check=True, env=env, text=True,
                              capture_output=True)

    ok = False
    try:
        subprocess.run([os.path.join(work, "certs.sh"), image], check=True)
        dc("up", "-d")
        client = KazooClient(hosts=",".join(HOSTS), timeout=10.0)
        client.start(timeout=90)
        client.ensure_path("/compose")
        for i in range(20):
            client.create(f"/compose/before-{i}", str(i).encode())
        client.create("/compose/eph", b"", ephemeral=True)
        print("compose test: 20 znodes and an ephemeral written through the cluster")

        dc("stop", "n2")
        create_all(client, [f"/compose/while-n2-down-{i}" for i in range(20)],
                   "no write succeeded with n2 stopped")
        print("compose test: n2 stopped, 20 more writes on n1 and n3")
        dc("start", "n2")
        alone = KazooClient(hosts=HOSTS[1], timeout=10.0)
        alone.start(timeout=90)
        deadline = time.time() + 60
        while True:
            alone.sync("/compose")
            if len(alone.get_children("/compose")) == 41:
                break
            assert time.time() < deadline, alone.get_children("/compose")
            time.sleep(0.5)
        assert alone.get("/compose/before-7")[0] == b"7"
        alone.stop()
        alone.close()
        print("compose test: n2 started again and caught up (41 znodes read on it alone)")

        dc("kill", "-s", "SIGKILL", "n3")
        dc("start", "n3")
        on_n3 = KazooClient(hosts=HOSTS[2], timeout=10.0)
        on_n3.start(timeout=90)
        on_n3.sync("/compose")
        assert on_n3.get("/compose/while-n2-down-19")[0] == b"x"
        on_n3.stop()
        on_n3.close()
        logs = dc("logs", "n3").stdout
        # One first start (a new IDENTITY) and one recovery from the volume.
        assert logs.count("a new IDENTITY (init)") == 1, logs[-5000:]
        assert "(began by init)" in logs, logs[-5000:]
        print("compose test: n3 killed (SIGKILL) and started: it recovered from its volume")

        client.stop()
        client.close()
        check = KazooClient(hosts=",".join(HOSTS), timeout=10.0)
        check.start(timeout=60)
        check.sync("/compose")
        assert check.exists("/compose/eph") is None, "the ephemeral outlived its closed session"
        check.stop()
        check.close()
        print("compose test: the ephemeral went with its session; all checks passed")
        ok = True
    finally:
        if not ok:
            logs = subprocess.run(compose + ["logs", "--tail", "40"], env=env, text=True,
                                  capture_output=True)
            print(logs.stdout[-20000:], file=sys.stderr)
        subprocess.run(compose + ["down", "-v", "--remove-orphans"], env=env,
                       capture_output=True)
        subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
