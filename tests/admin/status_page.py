#!/usr/bin/env python3
"""The status page in a real headless browser, on a real 3-node cluster.

Starts three `synod server` processes (tests/compat/clusters.py's
SynodCluster, plus an admin port each), loads each node's page at
http://127.0.0.1:<admin>/ with `chromium --headless --dump-dom
--screenshot=...`, and checks the DOM chromium built:
  - exactly one page says it is the leader (#role data-role="leader");
  - every page names that same node as leader (#leader data-leader);
  - every page lists all three members (tr.member data-node).
Then it kills the leader (SIGKILL) and checks the same of the two pages
left, with a new leader. Screenshots go to tests/admin/out/ (ignored by
git), named after the phase and node.

    SYNOD_BIN=target/release/synod tests/admin/status_page.py

Needs Python 3 (standard library only) and Debian's chromium, which it
installs with tests/admin/setup.sh (apt-get, as root) if missing. Exits
non-zero on any failed check, printing what each page showed.
"""
import html.parser
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "compat"))
import clusters  # noqa: E402  (tests/compat/clusters.py)

OUT = os.path.join(HERE, "out")
# Ports: ZooKeeper 26181-3, peers 26281-3, gRPC 26381-3, admin 26481-3;
# clear of `synod dev` and of tests/compat's clusters.
BASE = 26181
# Each wait for the pages to agree ends by this.
AGREE_TIMEOUT_S = 30
CHROMIUM_TIMEOUT_S = 60


class AdminCluster(clusters.SynodCluster):
    """SynodCluster with `admin_listen` on base+300+i."""

    def admin_port(self, i):
        return self.base + 300 + i

    def command(self, i):
        cmd = super().command(i)
        cfg = cmd[cmd.index("--config") + 1]
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(f'admin_listen = "127.0.0.1:{self.admin_port(i)}"\n{text}')
        return cmd


class PageFacts(html.parser.HTMLParser):
    """What a status page's DOM says: role, leader, members."""

    def __init__(self):
        super().__init__()
        self.node = None
        self.role = None
        self.leader = None
        self.members = set()
        self._in_node_id = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "role":
            self.role = a.get("data-role")
        elif a.get("id") == "leader":
            self.leader = a.get("data-leader")
        elif a.get("id") == "node-id":
            self._in_node_id = True
        if tag == "tr" and "member" in (a.get("class") or "").split():
            self.members.add(a.get("data-node"))

    def handle_data(self, data):
        if self._in_node_id:
            self.node = data.strip()
            self._in_node_id = False

    def __repr__(self):
        return (f"node={self.node} role={self.role} leader={self.leader} "
                f"members={sorted(m for m in self.members if m)}")


def chromium():
    exe = shutil.which("chromium")
    if exe:
        return exe
    subprocess.run([os.path.join(HERE, "setup.sh")], check=True)
    exe = shutil.which("chromium")
    if not exe:
        sys.exit("status_page: chromium is still missing after tests/admin/setup.sh")
    return exe


def load(browser, url, screenshot):
    """The DOM chromium built for `url`, and a screenshot of it."""
    profile = tempfile.mkdtemp(prefix="synod-chromium-")
    try:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={profile}", "--window-size=1200,1000",
             f"--screenshot={screenshot}", "--dump-dom", url],
            capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if out.returncode != 0:
        raise RuntimeError(f"chromium failed on {url} ({out.returncode}): {out.stderr[-2000:]}")
    facts = PageFacts()
    facts.feed(out.stdout)
    return facts


def agree(browser, cluster, nodes, phase, exclude_leader=None):
    """Loads the pages of `nodes` until they agree on one leader among them
    (other than `exclude_leader`); returns its index. Fails after
    AGREE_TIMEOUT_S with what each page showed."""
    deadline = time.time() + AGREE_TIMEOUT_S
    want_members = {str(i + 1) for i in range(cluster.size)}
    while True:
        pages = {}
        for i in nodes:
            shot = os.path.join(OUT, f"{phase}-node{i + 1}.png")
            pages[i] = load(browser, f"http://127.0.0.1:{cluster.admin_port(i)}/", shot)
        leaders = [i for i, p in pages.items() if p.role == "leader"]
        problems = []
        if len(leaders) != 1:
            problems.append(f"{len(leaders)} pages say they lead")
        else:
            named = str(leaders[0] + 1)
            for i, p in pages.items():
                if p.node != str(i + 1):
                    problems.append(f"node {i + 1}'s page says it is node {p.node}")
                if p.leader != named:
                    problems.append(f"node {i + 1}'s page names leader {p.leader}, not {named}")
                if p.members != want_members:
                    problems.append(f"node {i + 1}'s page lists members {sorted(p.members)}")
            if exclude_leader is not None and leaders[0] == exclude_leader:
                problems.append(f"node {named} was killed but still leads")
        if not problems:
            print(f"status_page: {phase}: node {leaders[0] + 1} leads; "
                  + "; ".join(f"node {i + 1}: {p}" for i, p in pages.items()), flush=True)
            return leaders[0]
        if time.time() > deadline:
            report = "\n".join(f"  node {i + 1}: {p}" for i, p in pages.items())
            raise AssertionError(f"{phase}: the pages do not agree after {AGREE_TIMEOUT_S}s: "
                                 f"{'; '.join(problems)}\n{report}")
        time.sleep(0.5)


def main():
    browser = chromium()
    os.makedirs(OUT, exist_ok=True)
    t0 = time.time()
    cluster = AdminCluster(base_port=BASE)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        cluster.start()
        leader = agree(browser, cluster, range(cluster.size), "all-up")
        cluster.kill(leader)
        rest = [i for i in range(cluster.size) if i != leader]
        agree(browser, cluster, rest, "leader-killed", exclude_leader=leader)
    except Exception:
        for i in range(cluster.size):
            print(f"---- node {i + 1} log ----\n{cluster.log_tail(i)}", file=sys.stderr)
        raise
    finally:
        cluster.stop()
    print(f"status_page: ok in {time.time() - t0:.1f}s; screenshots in {OUT}")


if __name__ == "__main__":
    main()
