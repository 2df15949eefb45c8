#!/usr/bin/env python3
"""Run kazoo's own test suite against real ZooKeeper 3.8 and against synod.

  kazoo_suite.py [--targets zk,synod] [--out DIR] [--timeout S] [-k EXPR] [--files F,...]

kazoo's harness (kazoo/testing) starts three servers itself with
`java -cp $ZOOKEEPER_CLASSPATH ... QuorumPeerMain zoo.cfg`. For ZooKeeper we
hand it Debian's jars; for synod we put tests/compat/shim first on PATH, whose
`java` execs `synod server` for QuorumPeerMain and the real java otherwise.

Default: the server-facing test files (DEFAULT_FILES, 320 tests, ~3 min
per target on the 2-core machine; the targets run side by side, or one
after the other with SYNOD_KAZOO_SERIAL=1); SYNOD_KAZOO_FULL=1 (or --full) runs every
file (493 tests, ~10.5 min on ZooKeeper), adding the gevent/eventlet re-runs
of the client tests. Each target's run stops after
--budget-min minutes, so a synod that hangs cannot stall CI. Writes OUT/kazoo-<target>.xml (JUnit), OUT/kazoo-report.json
and OUT/kazoo-report.md. Exit status 1 when a test passes on ZooKeeper but
not on synod and is not in kazoo_allowlist.txt ("TEST-ID-OR-GLOB  reason");
2 when a pytest run itself broke.
"""
import argparse
import fnmatch
import json
import os
import shutil
import concurrent.futures
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import clusters

HERE = os.path.dirname(os.path.abspath(__file__))
# Server-facing files; leaves out the handler re-runs (gevent 73, eventlet
# 100 tests: the same client tests over other I/O loops).
DEFAULT_FILES = [
    "test_client.py", "test_connection.py", "test_watchers.py", "test_lock.py",
    "test_election.py", "test_barrier.py", "test_counter.py", "test_party.py",
    "test_queue.py", "test_lease.py", "test_partitioner.py", "test_cache.py",
    "test_security.py", "test_exceptions.py", "test_paths.py", "test_retry.py",
    "test_hosts.py", "test_utils.py", "test_threading_handler.py",
    "test_selectors_select.py", "test_interrupt.py", "test_build.py",
    "test_sasl.py",
]
PORT_OFFSET = {"zk": 20000, "synod": 21000}


def port_offset(target):
    """Where kazoo's harness puts the target's ports: PORT_OFFSET, or with
    ZOOKEEPER_PORT_OFFSET=N set, N for zk and N+500 for synod (so runs
    side by side on one machine keep apart)."""
    base = os.environ.get("ZOOKEEPER_PORT_OFFSET")
    if base:
        return int(base) + (0 if target == "zk" else 500)
    return PORT_OFFSET[target]


def kazoo_tests_dir():
    import kazoo.tests
    return os.path.dirname(kazoo.tests.__file__)


def target_env(target):
    env = dict(os.environ)
    env.pop("CI", None)  # kazoo's tests change behaviour under CI (sleeps, version checks)
    env.update(ZOOKEEPER_CLASSPATH=clusters.KAZOO_CLASSPATH, ZOOKEEPER_VERSION="3.8.0",
               ZOOKEEPER_PORT_OFFSET=str(port_offset(target)))
    if target == "synod":
        env["PATH"] = os.path.join(HERE, "shim") + os.pathsep + env["PATH"]
        env["SYNOD_BIN"] = os.path.abspath(clusters.synod_bin())
    return env


def run_pytest(target, selectors, xml_path, timeout, kexpr, workdir, budget_s=None):
    kt = kazoo_tests_dir()
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--timeout={timeout}"] + \
          ([f"--session-timeout={budget_s}"] if budget_s else []) + [
           "-q", "-rfEs", "-W", "ignore::DeprecationWarning", f"--rootdir={kt}",
           f"--junitxml={xml_path}"] + (["-k", kexpr] if kexpr else []) + \
          [os.path.join(kt, s) for s in selectors]
    t0 = time.time()
    log_path = xml_path[:-4] + ".log"
    env = target_env(target)
    # The harness's server dirs and the SSL test's key files land in TMPDIR;
    # keep them in one place and remove them afterwards.
    env["TMPDIR"] = tempfile.mkdtemp(prefix=f"kazoo-{target}-", dir=workdir)
    try:
        with open(log_path, "w") as log:
            rc = subprocess.call(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    finally:
        shutil.rmtree(env["TMPDIR"], ignore_errors=True)
    return rc, time.time() - t0, log_path


def parse_junit(xml_path):
    """{test id: (outcome, message, seconds)}; ids look like file.py::Class::test."""
    results = {}
    if not os.path.exists(xml_path):
        return results
    for tc in ET.parse(xml_path).getroot().iter("testcase"):
        parts = tc.get("classname", "").split(".")
        tid = "::".join([parts[0] + ".py"] + parts[1:] + [tc.get("name")])
        outcome, msg = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                msg = (child.get("message") or "").strip().splitlines()[0:1]
                msg = msg[0][:200] if msg else ""
                break
        results[tid] = (outcome, msg, float(tc.get("time", 0)))
    return results


def load_allowlist(path):
    entries = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line and not line.startswith("#"):
                pat, _, reason = line.partition(" ")
                entries.append((pat, reason.strip() or "(no reason given)"))
    return entries


def allowed(tid, allowlist):
    for pat, reason in allowlist:
        if fnmatch.fnmatchcase(tid, pat):
            return reason
    return None


def selector(tid):
    return tid  # file.py::Class::test is a valid pytest node id relative to the tests dir


def write_report(out, runs, regressions, allowlisted, flaky, stale):
    data = {"runs": {t: {"seconds": round(r["seconds"], 1), "rc": r["rc"], "totals": r["totals"],
                         "tests": {k: {"outcome": v[0], "message": v[1], "seconds": v[2]}
                                   for k, v in sorted(r["results"].items())}}
                     for t, r in runs.items()},
            "regressions": regressions, "allowlisted": allowlisted,
            "flaky_on_synod": flaky, "stale_allowlist": stale}
    with open(os.path.join(out, "kazoo-report.json"), "w") as f:
        json.dump(data, f, indent=1)
    lines = ["# kazoo test suite: ZooKeeper 3.8 vs synod", ""]
    lines += ["| target | passed | failed | error | skipped | total | minutes |", "|---|---|---|---|---|---|---|"]
    for t, r in runs.items():
        tot = r["totals"]
        lines.append(f"| {t} | {tot['passed']} | {tot['failed']} | {tot['error']} | {tot['skipped']} "
                     f"| {sum(tot.values())} | {r['seconds'] / 60:.1f} |")
    names = list(runs)
    lines += ["", "## Per test", "", "| test | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    every = sorted(set().union(*(r["results"] for r in runs.values())))
    for tid in every:
        cells = []
        for t in names:
            o = runs[t]["results"].get(tid)
            cells.append(f"{o[0]}" + (f" ({o[1][:60]})" if o and o[0] != "passed" and o[1] else "") if o else "-")
        lines.append(f"| {tid} | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    if "synod" in runs:
        lines += ["", "## Pass on ZooKeeper, fail on synod", ""]
        lines += [f"- REGRESSION {t}" for t in regressions] or ["- none outside the allowlist"]
        lines += [f"- allowlisted {t}: {why}" for t, why in allowlisted.items()]
        lines += [f"- flaky (passed on rerun) {t}" for t in flaky]
        lines += [f"- allowlisted but passing now (remove?) {t}" for t in stale]
    with open(os.path.join(out, "kazoo-report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def totals(results):
    t = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome, _, _ in results.values():
        t[outcome] += 1
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=None, help="comma list of zk,synod (default: zk, plus "
                    "synod when its binary serves ZooKeeper)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--timeout", type=int, default=90, help="per-test timeout (s); the slowest "
                    "test takes 30 s on ZooKeeper")
    ap.add_argument("--budget-min", type=float, default=float(os.environ.get("SYNOD_KAZOO_BUDGET_MIN", "15")),
                    help="stop a target's run after this many minutes; tests not run count as "
                    "not passed (default 15, env SYNOD_KAZOO_BUDGET_MIN)")
    ap.add_argument("-k", dest="kexpr", default=None, help="pytest -k expression")
    ap.add_argument("--files", default=None, help="comma list of kazoo test files")
    ap.add_argument("--full", action="store_true", default=os.environ.get("SYNOD_KAZOO_FULL") == "1")
    ap.add_argument("--allowlist", default=os.path.join(HERE, "kazoo_allowlist.txt"))
    ap.add_argument("--no-rerun", action="store_true", help="do not rerun synod regressions once")
    a = ap.parse_args()
    targets = a.targets.split(",") if a.targets else clusters.kinds_under_test()
    selectors = a.files.split(",") if a.files else (["."] if a.full else DEFAULT_FILES)
    os.makedirs(a.out, exist_ok=True)
    workdir = os.path.join(a.out, "work")
    os.makedirs(workdir, exist_ok=True)

    runs = {}
    broken = False

    def run_target(t):
        xml = os.path.join(a.out, f"kazoo-{t}.xml")
        if os.path.exists(xml):
            os.remove(xml)
        print(f"kazoo suite on {t}: {'all files' if a.full else f'{len(selectors)} files'} ...", flush=True)
        rc, secs, log = run_pytest(t, selectors, xml, a.timeout, a.kexpr, workdir,
                                   int(a.budget_min * 60))
        return t, rc, secs, log, parse_junit(xml)

    # The targets' runs mostly wait (on sessions, timeouts, the network), on
    # ports and temp dirs of their own: side by side they take about as long
    # as one. SYNOD_KAZOO_SERIAL=1 runs them one after the other.
    workers = 1 if os.environ.get("SYNOD_KAZOO_SERIAL") == "1" else len(targets)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for t, rc, secs, log, res in pool.map(run_target, targets):
            runs[t] = {"rc": rc, "seconds": secs, "results": res, "totals": totals(res)}
            print(f"  {t}: {runs[t]['totals']} in {secs / 60:.1f} min (pytest rc {rc}, log {log})", flush=True)
            if rc not in (0, 1) or not res:
                broken = True

    regressions, allowlisted, flaky, stale = [], {}, [], []
    if "zk" in runs and "synod" in runs:
        allowlist = load_allowlist(a.allowlist)
        zk, sy = runs["zk"]["results"], runs["synod"]["results"]
        candidates = []
        for tid, (o, _, _) in sorted(zk.items()):
            if o != "passed":
                continue
            if sy.get(tid, ("missing",))[0] == "passed":
                if allowed(tid, allowlist):
                    stale.append(tid)
                continue
            why = allowed(tid, allowlist)
            if why:
                allowlisted[tid] = why
            else:
                candidates.append(tid)
        if candidates and not a.no_rerun:
            print(f"  rerunning {len(candidates)} synod regression(s) once ...", flush=True)
            xml = os.path.join(a.out, "kazoo-synod-rerun.xml")
            run_pytest("synod", [selector(t) for t in candidates], xml, a.timeout, None, workdir,
                       int(a.budget_min * 60))
            again = parse_junit(xml)
            flaky = [t for t in candidates if again.get(t, ("?",))[0] == "passed"]
        regressions = [t for t in candidates if t not in flaky]

    write_report(a.out, runs, regressions, allowlisted, flaky, stale)
    for t, r in runs.items():
        tot = r["totals"]
        print(f"kazoo[{t}]: {tot['passed']} passed, {tot['failed'] + tot['error']} failed, "
              f"{tot['skipped']} skipped in {r['seconds'] / 60:.1f} min")
    if "synod" in runs:
        print(f"kazoo: {len(regressions)} regression(s) on synod, {len(allowlisted)} allowlisted, "
              f"{len(flaky)} flaky, {len(stale)} stale allowlist entries")
        for t in regressions:
            print(f"  REGRESSION {t}: {runs['synod']['results'].get(t, ('missing', ''))[:2]}")
    print(f"report: {os.path.join(a.out, 'kazoo-report.md')}")
    if broken:
        return 2
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
