#!/usr/bin/env python3
"""The Kubernetes manifests (deploy/k8s/synod.yaml), checked and then run.

No Kubernetes cluster exists on a CI machine, so this test does two things:

1. Checks the manifests against each other and against the config they
   carry: the StatefulSet's service is the headless Service, which publishes
   pods before they are ready; pods start in parallel; the members of the
   ConfigMap's synod.toml are the pods' stable names with the container's
   ports; readiness is /readyz and liveness /livez on the admin port; the
   data volume claim is mounted at data_dir; the TLS Secret is mounted
   where [peer_tls] looks; the PodDisruptionBudget keeps a majority.
2. Runs the StatefulSet's pod template as a kubelet would, in Docker: the
   image built FROM scratch, one container per pod with the pod's host name
   (synod-0, ...) and its DNS name under the Service (synod-0.synod) on a
   network of its own, the ConfigMap and the Secret (made by
   deploy/k8s/certs.sh) mounted as files, the pod's user and read-only root
   file system, a volume per pod, the container's args as written. It waits
   for every pod's readiness probe, writes with kazoo, then reschedules
   synod-1 (removed, started again on its volume at another IP address) and
   stops synod-2, so that writes can only commit if synod-0 finds synod-1 at
   its new address by its name.

    SYNOD_BIN=target/release/synod python3 tests/deploy/k8s_test.py

Part 1 always runs; part 2 is skipped, with a message, without a Docker
engine.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request

import yaml

from retry import create_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "deploy", "k8s", "synod.yaml")


def sh(*args, check=True, **kw):
    r = subprocess.run(args, text=True, capture_output=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return r


def load():
    docs = [d for d in yaml.safe_load_all(open(MANIFEST)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


def port_of(container, name):
    for p in container["ports"]:
        if p["name"] == name:
            return p["containerPort"]
    raise AssertionError(f"the container has no port named {name}")


def check_manifests(k):
    """Part 1: every cross-reference a typo would break. Returns what part 2 needs."""
    (sts,) = k["StatefulSet"]
    (cm,) = k["ConfigMap"]
    (pdb,) = k["PodDisruptionBudget"]
    services = {s["metadata"]["name"]: s for s in k["Service"]}
    name = sts["metadata"]["name"]
    spec = sts["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items(), "the selector misses the pods"
    headless = services[spec["serviceName"]]
    assert headless["spec"].get("clusterIP") == "None", "the StatefulSet's Service is not headless"
    assert headless["spec"].get("publishNotReadyAddresses") is True, (
        "peers must find each other before they are ready (readiness needs a leader)")
    for s in services.values():
        assert s["spec"]["selector"].items() <= labels.items(), f"Service {s['metadata']['name']} misses the pods"
    assert spec["podManagementPolicy"] == "Parallel", "OrderedReady would wait for a lone synod-0"
    replicas = spec["replicas"]

    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    assert "--node-id-from-hostname" in args and "--init-if-empty" in args, args
    config_path = args[args.index("--config") + 1]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_mount = mounts[config_path]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    config_volume = volumes[config_mount["name"]]
    assert config_volume["configMap"]["name"] == cm["metadata"]["name"]
    toml_text = cm["data"][config_mount["subPath"]]
    cfg = tomllib.loads(toml_text)

    # Members: node N is pod N-1, by its stable name, on the container's ports.
    members = cfg["members"]
    assert sorted(members, key=int) == [str(i) for i in range(1, replicas + 1)], members
    peer_port, grpc_port = port_of(container, "peer"), port_of(container, "grpc")
    for i in range(1, replicas + 1):
        host = f"{name}-{i - 1}.{headless['metadata']['name']}"
        assert members[str(i)]["peer"] == f"{host}:{peer_port}", members[str(i)]
        assert members[str(i)]["client"] == f"{host}:{grpc_port}", members[str(i)]
    for key, port in [("peer_listen", "peer"), ("client_listen", "grpc"), ("zk_listen", "zk"),
                      ("admin_listen", "admin")]:
        assert cfg[key].endswith(f":{port_of(container, port)}"), (key, cfg[key])
    for svc in services.values():
        for p in svc["spec"]["ports"]:
            port_of(container, p["targetPort"])

    # Probes on the admin port.
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], ready["port"]) == ("/readyz", "admin"), ready
    assert (live["path"], live["port"]) == ("/livez", "admin"), live

    # Data on the claim, TLS where [peer_tls] looks.
    (claim,) = spec["volumeClaimTemplates"]
    assert mounts[cfg["data_dir"]]["name"] == claim["metadata"]["name"], "data_dir is not on the claim"
    tls_dir = os.path.dirname(cfg["peer_tls"]["ca"])
    tls_volume = volumes[mounts[tls_dir]["name"]]
    for f in ("ca", "cert", "key"):
        assert os.path.dirname(cfg["peer_tls"][f]) == tls_dir, cfg["peer_tls"]
    assert "{node_id}" in cfg["peer_tls"]["cert"] and "{node_id}" in cfg["peer_tls"]["key"]

    # The budget keeps a majority of the voters.
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] <= (replicas - 1) // 2, pdb["spec"]
    print(f"k8s test: manifests consistent ({replicas} pods, headless Service "
          f"{headless['metadata']['name']}, budget {pdb['spec']['maxUnavailable']})")
    return {
        "name": name, "service": headless["metadata"]["name"], "replicas": replicas,
        "container": container, "toml": toml_text, "config_path": config_path,
        "data_dir": cfg["data_dir"], "tls_dir": tls_dir,
        "secret": tls_volume["secret"]["secretName"],
        "security": spec["template"]["spec"]["securityContext"],
        "admin_port": port_of(container, "admin"), "zk_port": port_of(container, "zk"),
    }


def have_docker():
    return shutil.which("docker") and sh("docker", "info", check=False).returncode == 0


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def run_pods(p):
    """Part 2: the pod template in Docker, as a kubelet would run it."""
    from kazoo.client import KazooClient

    tag = os.getpid()
    image = f"synod:k8s-test-{tag}"
    net = f"synodk8s{tag}"
    subnet = "172.30.78"
    work = tempfile.mkdtemp(prefix="synod-k8s-")
    containers, volumes = [], []
    sh(os.path.join(ROOT, "deploy", "image.sh"), image, env=dict(os.environ))
    ok = False
    try:
        # The Secret as deploy/k8s/certs.sh writes it, mounted as files.
        shutil.copytree(os.path.join(ROOT, "deploy", "k8s"), os.path.join(work, "k8s"))
        shutil.rmtree(os.path.join(work, "k8s", "tls"), ignore_errors=True)
        sh(os.path.join(work, "k8s", "certs.sh"), image, str(p["replicas"]))
        secret = yaml.safe_load(open(os.path.join(work, "k8s", "tls", "synod-peer-tls.yaml")))
        assert secret["metadata"]["name"] == p["secret"], "certs.sh writes another Secret"
        tls = os.path.join(work, "secret")
        os.mkdir(tls)
        for f, data in secret["data"].items():
            path = os.path.join(tls, f)
            with open(path, "wb") as out:
                out.write(base64.b64decode(data))
            os.chmod(path, 0o400)
            os.chown(path, p["security"]["runAsUser"], p["security"]["fsGroup"])
        config = os.path.join(work, "synod.toml")
        with open(config, "w") as out:
            out.write(p["toml"])
        os.chmod(config, 0o444)

        sh("docker", "network", "create", "--subnet", f"{subnet}.0/24", net)
        c = p["container"]
        user = f"{p['security']['runAsUser']}:{p['security']['runAsGroup']}"

        def start(i, ip):
            pod = f"{p['name']}-{i}"
            cname = f"{pod}-{tag}"
            vol = f"{cname}-data"
            if vol not in volumes:
                sh("docker", "volume", "create", vol)
                volumes.append(vol)
            cmd = ["docker", "run", "-d", "--name", cname, "--hostname", pod,
                   "--network", net, "--ip", ip, "--network-alias", f"{pod}.{p['service']}",
                   "--user", user, "--read-only",
                   "-v", f"{vol}:{p['data_dir']}",
                   "-v", f"{config}:{p['config_path']}:ro",
                   "-v", f"{tls}:{p['tls_dir']}:ro"]
            for e in c.get("env", []):
                cmd += ["-e", f"{e['name']}={e['value']}"]
            sh(*cmd, image, *c["args"])
            if cname not in containers:
                containers.append(cname)
            return cname

        def wait_ready(ips, what):
            deadline = time.time() + 90
            while True:
                codes = [http_status(f"http://{ip}:{p['admin_port']}/readyz") for ip in ips]
                if all(code == 200 for code in codes):
                    return
                assert time.time() < deadline, f"{what}: readiness {codes}"
                time.sleep(0.5)

        ips = [f"{subnet}.{11 + i}" for i in range(p["replicas"])]
        names = [start(i, ip) for i, ip in enumerate(ips)]
        wait_ready(ips, "first start")
        print(f"k8s test: {p['replicas']} pods ready (/readyz) from one config, ids from host names")

        hosts = ",".join(f"{ip}:{p['zk_port']}" for ip in ips)
        client = KazooClient(hosts=hosts, timeout=10.0)
        client.start(timeout=60)
        client.ensure_path("/k8s")
        for i in range(20):
            client.create(f"/k8s/before-{i}", str(i).encode())
        client.stop()
        client.close()

        # synod-1 is rescheduled: gone, then back on its volume at another address.
        sh("docker", "rm", "-f", names[1])
        containers.remove(names[1])
        ips[1] = f"{subnet}.{31}"
        start(1, ips[1])
        wait_ready(ips, "after synod-1 moved")
        # With synod-2 stopped, a write commits only on synod-0 and synod-1,
        # which synod-0 reaches by its name at the new address.
        sh("docker", "stop", "-t", "10", names[2])
        two = ",".join(f"{ip}:{p['zk_port']}" for ip in ips[:2])
        client = KazooClient(hosts=two, timeout=10.0)
        client.start(timeout=60)
        create_all(client, [f"/k8s/after-{i}" for i in range(10)],
                   "no write committed on synod-0 and the moved synod-1")
        client.stop()
        client.close()
        alone = KazooClient(hosts=f"{ips[1]}:{p['zk_port']}", timeout=10.0)
        alone.start(timeout=60)
        alone.sync("/k8s")
        assert len(alone.get_children("/k8s")) == 30, alone.get_children("/k8s")
        assert alone.get("/k8s/before-7")[0] == b"7"
        alone.stop()
        alone.close()
        logs = sh("docker", "logs", names[1]).stderr
        assert "a new IDENTITY (init)" not in logs, "the moved pod initialized again"
        print("k8s test: synod-1 moved to another address and found by name; "
              "30 znodes read on it alone with synod-2 stopped")
        ok = True
    finally:
        if not ok:
            for name in containers:
                logs = sh("docker", "logs", "--tail", "30", name, check=False)
                print(f"--- {name}\n{logs.stderr[-6000:]}", file=sys.stderr)
        for name in containers:
            sh("docker", "rm", "-f", name, check=False)
        for vol in volumes:
            sh("docker", "volume", "rm", "-f", vol, check=False)
        sh("docker", "network", "rm", net, check=False)
        sh("docker", "image", "rm", "-f", image, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return ok


def main():
    p = check_manifests(load())
    if not have_docker():
        print("k8s test: pods SKIPPED, no Docker engine on this machine (manifests checked)")
        return 0
    return 0 if run_pods(p) else 1


if __name__ == "__main__":
    sys.exit(main())
