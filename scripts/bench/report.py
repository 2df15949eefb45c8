#!/usr/bin/env python3
"""Turns the JSON results of scripts/bench/compare.sh into docs/BENCHMARKS.md
and the plots in docs/bench/.

Results layout: RESULTS/env.json, RESULTS/load.txt and RESULTS/<system>/<run>.json,
where <system> is zookeeper, etcd, synod-zk (synod's ZooKeeper door) or
synod-native (synod's gRPC API), and each run file is what
`synod bench --json` wrote (memory.json and restart.json are the script's).
"""

import argparse
import json
import os
import sys

SYSTEMS = [
    ("zookeeper", "ZooKeeper"),
    ("synod-zk", "synod (ZK door)"),
    ("etcd", "etcd"),
    ("synod-native", "synod (native)"),
]
WORKLOADS = [
    ("write", "write (setData / put)"),
    ("read", "read (getData / linearizable get)"),
    ("mixed", "mixed, 90% reads"),
    ("create-delete", "create-delete churn"),
    ("watch", "watch fan-out, 64 watchers (events/s)"),
    ("lock", "lock, 8 contenders (acquisitions/s)"),
]
# synod's default election timeout (crates/paxos EngineConfig), in ms.
ELECTION_TIMEOUT_MS = 500


def load(results, system, run):
    path = os.path.join(results, system, run + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def failover_gaps(results, system):
    """Every failover round's longest gap in ms (failover-N.json; an older
    run's single failover.json counts as one round), sorted."""
    d = os.path.join(results, system)
    names = sorted(n for n in os.listdir(d) if n.startswith("failover") and n.endswith(".json")) \
        if os.path.isdir(d) else []
    gaps = [(load(results, system, n[:-5]) or {}).get("longest_gap_ms") for n in names]
    return sorted(v for v in gaps if v is not None)


def fmt_gaps(gaps):
    """'max 712 ms of 5 kills (median 640)' or 'n/a'."""
    if not gaps:
        return "n/a"
    if len(gaps) == 1:
        return f"{fmt_ms(gaps[0])} ms (1 kill)"
    return f"max {fmt_ms(gaps[-1])} ms of {len(gaps)} kills (median {fmt_ms(gaps[len(gaps) // 2])})"


def ops(r):
    return None if r is None else r.get("ops_per_s")


def lat_ms(r, key):
    if r is None or "latency_us" not in r or r.get("ops", 0) == 0:
        return None
    return r["latency_us"][key] / 1000.0


def fmt_ops(v):
    return "n/a" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(v):
    return "n/a" if v is None else f"{v:.2f}x"


def results_table(results):
    lines = [
        "| workload | ZooKeeper ops/s | p50 / p99 ms | synod (ZK door) ops/s | p50 / p99 ms "
        "| etcd ops/s | p50 / p99 ms | synod (native) ops/s | p50 / p99 ms "
        "| synod ZK door / ZooKeeper | synod native / etcd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, title in WORKLOADS:
        cells = [title]
        for system, _ in SYSTEMS:
            r = load(results, system, run)
            cells.append(fmt_ops(ops(r)))
            cells.append(f"{fmt_ms(lat_ms(r, 'p50'))} / {fmt_ms(lat_ms(r, 'p99'))}")
        cells.append(fmt_ratio(ratio(ops(load(results, "synod-zk", run)),
                                     ops(load(results, "zookeeper", run)))))
        cells.append(fmt_ratio(ratio(ops(load(results, "synod-native", run)),
                                     ops(load(results, "etcd", run)))))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chubby_table(results):
    """Chubby on synod against ZooKeeper's nearest equivalent."""
    rows = [
        ("lock, 8 contenders (acquisitions/s): Chubby lock vs the lock recipe",
         load(results, "synod-native", "lock"), load(results, "zookeeper", "lock")),
        ("reads of 1,000 znodes, 8 sessions: Chubby's cached reads vs getData",
         load(results, "synod-native", "cached-read"), load(results, "zookeeper", "read")),
    ]
    lines = [
        "| row | synod ops/s | p50 / p99 ms | ZooKeeper ops/s | p50 / p99 ms | synod / ZooKeeper |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for title, mine, theirs in rows:
        lines.append(
            f"| {title} | {fmt_ops(ops(mine))} | {fmt_ms(lat_ms(mine, 'p50'))} / "
            f"{fmt_ms(lat_ms(mine, 'p99'))} | {fmt_ops(ops(theirs))} | "
            f"{fmt_ms(lat_ms(theirs, 'p50'))} / {fmt_ms(lat_ms(theirs, 'p99'))} | "
            f"{fmt_ratio(ratio(ops(mine), ops(theirs)))} |")
    return "\n".join(lines)


SHARD_WORKLOADS = [
    ("write", "single-key write (put; a one-key transaction)"),
    ("read", "single-key read (linearizable get; a one-key transaction)"),
    ("txn", "two keys read and written atomically (etcd Txn; synod transaction)"),
]


def shards_table(results):
    """synod's sharded tier with 1 and 3 groups against etcd."""
    if not any(load(results, s, "write") for s in ("shards-g1", "shards-g3")):
        return "Not measured in this run (`--systems` without `shards`)."
    lines = [
        "| workload | etcd ops/s | p50 / p99 ms | synod 1 group ops/s | p50 / p99 ms "
        "| synod 3 groups ops/s | p50 / p99 ms | 3 groups / 1 | synod 3 groups / etcd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, title in SHARD_WORKLOADS:
        cells = [title]
        rows = [load(results, s, run) for s in ("etcd", "shards-g1", "shards-g3")]
        for r in rows:
            cells.append(fmt_ops(ops(r)))
            cells.append(f"{fmt_ms(lat_ms(r, 'p50'))} / {fmt_ms(lat_ms(r, 'p99'))}")
        cells.append(fmt_ratio(ratio(ops(rows[2]), ops(rows[1]))))
        cells.append(fmt_ratio(ratio(ops(rows[2]), ops(rows[0]))))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


OBSERVER_WORKLOADS = [
    ("write", "write (setData)"),
    ("read", "read (getData)"),
    ("mixed", "mixed, 90% reads"),
]


def observers_table(results):
    """The 3 voters + 2 observers runs beside the 3-node ones."""
    if not any(load(results, s, "read") for s in ("zookeeper-obs", "synod-obs")):
        return "Not measured in this run (`--skip-observers`, or the clusters did not come up)."
    lines = [
        "| workload | ZooKeeper 3 ops/s | ZooKeeper 3+2 ops/s | 3+2 / 3 "
        "| synod 3 ops/s | synod 3+2 ops/s | 3+2 / 3 | synod / ZooKeeper at 3+2 | p50 / p99 ms at 3+2 (ZooKeeper; synod) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, title in OBSERVER_WORKLOADS:
        zk3, zk5 = load(results, "zookeeper", run), load(results, "zookeeper-obs", run)
        sy3, sy5 = load(results, "synod-zk", run), load(results, "synod-obs", run)
        lat = (f"{fmt_ms(lat_ms(zk5, 'p50'))} / {fmt_ms(lat_ms(zk5, 'p99'))}; "
               f"{fmt_ms(lat_ms(sy5, 'p50'))} / {fmt_ms(lat_ms(sy5, 'p99'))}")
        cells = [title, fmt_ops(ops(zk3)), fmt_ops(ops(zk5)), fmt_ratio(ratio(ops(zk5), ops(zk3))),
                 fmt_ops(ops(sy3)), fmt_ops(ops(sy5)), fmt_ratio(ratio(ops(sy5), ops(sy3))),
                 fmt_ratio(ratio(ops(sy5), ops(zk5))), lat]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_points(results, system, kind):
    points = []
    for name in sorted(os.listdir(os.path.join(results, system)) if os.path.isdir(
            os.path.join(results, system)) else []):
        prefix = f"{kind}-if"
        if name.startswith(prefix) and name.endswith(".json"):
            r = load(results, system, name[:-5])
            if r and r.get("ops"):
                points.append((r["in_flight"], r))
    return sorted(points, key=lambda p: p[0])


def sweep_table(results):
    lines = [
        "| system | workload | in flight | connections | ops/s | p50 ms | p99 ms | p99.9 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for system, label in SYSTEMS:
        for kind in ("write", "read"):
            for n, r in sweep_points(results, system, kind):
                lines.append(
                    f"| {label} | {kind} | {n} | {r['connections']} | {fmt_ops(ops(r))} "
                    f"| {fmt_ms(lat_ms(r, 'p50'))} | {fmt_ms(lat_ms(r, 'p99'))} "
                    f"| {fmt_ms(lat_ms(r, 'p999'))} |")
    return "\n".join(lines)


def verdict(value, goal, better="higher"):
    """'met' or 'missed by ...' for a value against a goal."""
    if value is None or goal is None:
        return "not measured"
    if better == "higher":
        if value >= goal:
            return "met"
        return f"missed: {value / goal:.0%} of the goal"
    if value <= goal:
        return "met"
    return f"missed: {value / goal:.1f}x the goal"


def memory_figures(results, system):
    m = load(results, system, "memory")
    if not m:
        return None
    nodes = m.get("nodes", [])
    rss = [n["rss_kb"] / 1024 for n in nodes if n.get("rss_kb")]
    heap = [n["heap_used_kb"] / 1024 for n in nodes if n.get("heap_used_kb") is not None]
    return {
        "znodes": m.get("znodes"),
        "rss_mb": max(rss) if rss else None,
        "heap_mb": max(heap) if heap else None,
    }


def goals_table(results):
    g = lambda s, r: load(results, s, r)  # noqa: E731
    rows = []

    zk_w, szk_w = ops(g("zookeeper", "write")), ops(g("synod-zk", "write"))
    et_w, sn_w = ops(g("etcd", "write")), ops(g("synod-native", "write"))
    rows.append((
        "write throughput (setData / put), 64 in flight",
        ">= 4x ZooKeeper, >= 3x etcd",
        f"ZK door {fmt_ops(szk_w)}/s = {fmt_ratio(ratio(szk_w, zk_w))} ZooKeeper; "
        f"native {fmt_ops(sn_w)}/s = {fmt_ratio(ratio(sn_w, et_w))} etcd",
        f"ZooKeeper {fmt_ops(zk_w)}/s, etcd {fmt_ops(et_w)}/s",
        "; ".join([
            "vs ZooKeeper: " + verdict(ratio(szk_w, zk_w), 4.0),
            "vs etcd: " + verdict(ratio(sn_w, et_w), 3.0),
        ]),
    ))

    zk_r, szk_r = ops(g("zookeeper", "read")), ops(g("synod-zk", "read"))
    rows.append((
        "read throughput, ZooKeeper protocol",
        ">= 2x ZooKeeper",
        f"{fmt_ops(szk_r)}/s = {fmt_ratio(ratio(szk_r, zk_r))}",
        f"ZooKeeper {fmt_ops(zk_r)}/s",
        verdict(ratio(szk_r, zk_r), 2.0),
    ))

    et_r, sn_r = ops(g("etcd", "read")), ops(g("synod-native", "read"))
    rows.append((
        "linearizable read throughput (native, lease)",
        ">= 3x etcd",
        f"{fmt_ops(sn_r)}/s = {fmt_ratio(ratio(sn_r, et_r))}",
        f"etcd {fmt_ops(et_r)}/s (linearizable Range)",
        verdict(ratio(sn_r, et_r), 3.0),
    ))

    one = {s: lat_ms(g(s, "write-if1"), "p50") for s, _ in SYSTEMS}
    best = min([v for v in (one["synod-zk"], one["synod-native"]) if v is not None], default=None)
    rows.append((
        "single-client write latency, median (1 connection, 1 in flight)",
        "<= 0.4 ms",
        f"ZK door {fmt_ms(one['synod-zk'])} ms, native {fmt_ms(one['synod-native'])} ms",
        f"ZooKeeper {fmt_ms(one['zookeeper'])} ms, etcd {fmt_ms(one['etcd'])} ms",
        verdict(best, 0.4, better="lower"),
    ))

    p99 = {s: lat_ms(g(s, "write"), "p99") for s, _ in SYSTEMS}
    refs = [v for v in (p99["zookeeper"], p99["etcd"]) if v is not None]
    ref_min = min(refs) if refs else None
    worst = max([v for v in (p99["synod-zk"], p99["synod-native"]) if v is not None], default=None)
    rows.append((
        "write p99 latency at 64 in flight",
        "below both references",
        f"ZK door {fmt_ms(p99['synod-zk'])} ms, native {fmt_ms(p99['synod-native'])} ms",
        f"ZooKeeper {fmt_ms(p99['zookeeper'])} ms, etcd {fmt_ms(p99['etcd'])} ms",
        verdict(worst, ref_min, better="lower"),
    ))

    gap = {s: failover_gaps(results, s) for s, _ in SYSTEMS}
    synod_gaps = gap["synod-zk"] + gap["synod-native"]
    rows.append((
        "leader killed (kill -9) under a writer: time until writes succeed again",
        f"<= 2 election timeouts ({2 * ELECTION_TIMEOUT_MS} ms)",
        f"native {fmt_gaps(gap['synod-native'])}; ZK door {fmt_gaps(gap['synod-zk'])}",
        f"ZooKeeper {fmt_gaps(gap['zookeeper'])}; etcd {fmt_gaps(gap['etcd'])}",
        verdict(max(synod_gaps) if synod_gaps else None, 2 * ELECTION_TIMEOUT_MS, better="lower"),
    ))

    mem_s, mem_z, mem_e = (memory_figures(results, s) for s in ("synod", "zookeeper", "etcd"))
    n = (mem_s or mem_z or {}).get("znodes")
    s_rss = mem_s and mem_s["rss_mb"]
    z_heap = mem_z and mem_z["heap_mb"]
    rows.append((
        f"memory per node with {n:,} znodes of 100 bytes" if n else "memory per node, 1M znodes",
        "<= 1/3 of ZooKeeper's heap use",
        f"RSS {fmt_ms(s_rss)} MB (largest node)" if s_rss
        else "not measured: no synod node was running after populating (see Notes)",
        (f"ZooKeeper heap used {fmt_ms(z_heap)} MB after a full GC, RSS "
         f"{fmt_ms(mem_z['rss_mb'])} MB" if mem_z else "ZooKeeper not measured")
        + (f"; etcd RSS {fmt_ms(mem_e['rss_mb'])} MB (same count of keys)" if mem_e else ""),
        verdict(s_rss, z_heap / 3 if z_heap else None, better="lower"),
    ))

    rs = {s: (g(s, "restart") or {}).get("ready_ms") for s in ("synod", "zookeeper", "etcd")}
    rs_note = (g("synod", "restart") or {}).get("note") or ""
    rows.append((
        f"restart (all 3 nodes) with {n:,} znodes until a read succeeds" if n else "restart with 1M znodes",
        "<= 5 s",
        f"{fmt_ms(rs['synod'] / 1000)} s" if rs["synod"] is not None
        else f"not measured{': ' + rs_note if rs_note else ''}",
        f"ZooKeeper {fmt_ms(rs['zookeeper'] / 1000) if rs['zookeeper'] is not None else 'n/a'} s, "
        f"etcd {fmt_ms(rs['etcd'] / 1000) if rs['etcd'] is not None else 'n/a'} s",
        verdict(rs["synod"], 5000, better="lower"),
    ))

    lines = ["| figure | goal | synod | references | verdict |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def problems(results):
    out = []
    for system, label in SYSTEMS + [("synod", "synod (memory run)"),
                                    ("zookeeper-obs", "ZooKeeper 3+2 observers"),
                                    ("synod-obs", "synod 3+2 observers")]:
        d = os.path.join(results, system)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            try:
                with open(os.path.join(d, name)) as f:
                    r = json.load(f)
            except (OSError, ValueError):
                continue
            errors = r.get("errors", 0)
            samples = r.get("error_samples") or []
            if errors or samples:
                shown = "; ".join(f"`{s}`" for s in samples[:4])
                expected = (" (expected: the killed leader's connections break and the"
                            " client retries elsewhere)" if name.startswith("failover") else "")
                out.append(f"- {label}, {name[:-5]}: {errors} errors in the measured phase"
                           f"{expected}. {shown}")
    return "\n".join(out) if out else "- none: no request failed in any measured phase."


def plots(results, plot_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib missing; no plots", file=sys.stderr)
        return []
    os.makedirs(plot_dir, exist_ok=True)
    made = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, ("write", "read")):
        for system, label in SYSTEMS:
            pts = sweep_points(results, system, kind)
            if pts:
                ax.plot([p[0] for p in pts], [p[1]["ops_per_s"] for p in pts], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("requests in flight")
        ax.set_ylabel("ops/s")
        ax.set_title(f"{kind} throughput vs in-flight requests")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = os.path.join(plot_dir, "throughput-vs-inflight.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, ("write", "read")):
        for system, label in SYSTEMS:
            r = load(results, system, kind)
            if r and r.get("cdf"):
                ax.plot([p[1] / 1000 for p in r["cdf"]], [p[0] for p in r["cdf"]], label=label)
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"{kind} latency CDF, 64 in flight")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = os.path.join(plot_dir, "latency-cdf.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)
    return made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--logs", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--plots", required=True)
    a = ap.parse_args()
    with open(os.path.join(a.results, "env.json")) as f:
        env = json.load(f)
    load_lines = ""
    if os.path.exists(os.path.join(a.results, "load.txt")):
        with open(os.path.join(a.results, "load.txt")) as f:
            load_lines = "".join(f"- {line}" for line in f)
    made = plots(a.results, a.plots)
    notes = ""
    if os.path.exists(os.path.join(a.results, "notes.md")):
        with open(os.path.join(a.results, "notes.md")) as f:
            notes = "## Notes on this run\n\n" + f.read() + "\n"
    rel = os.path.relpath(a.plots, os.path.dirname(os.path.abspath(a.out)))
    mode = "quick mode: short runs, fewer points" if env.get("quick") else "full run"
    doc = f"""# Benchmarks: synod against ZooKeeper and etcd

Written by `scripts/bench/compare.sh` ({mode}) on {env['date']}. Figures are
measurements of one run on one machine, not assertions; the load generator
is `synod bench` (crates/bench).

## How it was run

```sh
{env['command']}
```

For each system in turn: a 3-node cluster on loopback, fsync on (ZooKeeper
`forceSync=yes`, etcd's default, synod always), started fresh; the same
workloads from `synod bench` on the same machine; the cluster stopped before
the next system starts. Each run: {env['warmup_s']} s warm-up, then
{env['duration_s']} s measured, 1,000 keys, 100-byte values, 8 connections
and 64 requests in flight unless said otherwise; the load generator runs
one client thread. Connections are spread over the three nodes (ZooKeeper
protocol and etcd); synod's native client sends to the leader, one
connection per in-flight request. ZooKeeper reads are served by whichever
node a session is on (ZooKeeper's own semantics); etcd reads are
linearizable Ranges; synod native reads are the leader's lease reads.

## Machine

| | |
|---|---|
| CPU | {env['cpu']} |
| cores | {env['cores']} |
| memory | {env['memory']} |
| disk | {env['disk']} |
| kernel | {env['kernel']} |
| ZooKeeper | {env['zookeeper']} (Debian), {env['java']} |
| etcd | {env['etcd']} (Debian) |
| synod | {env['synod']}, worker_threads = {env.get('synod_worker_threads', 'default')} per node |

Load average (1, 5, 15 min) at each step; the machine's two cores are
shared with other work, so figures taken under load are noisy:

{load_lines}
## Goals (issue 5)

{goals_table(a.results)}

## Results at 64 in flight

{results_table(a.results)}

## Chubby on synod against ZooKeeper (issue 12)

A cached read is answered from the session's own memory once filled; the
leader invalidates it before any write to the znode, so it stays
linearizable. ZooKeeper's clients have no such cache: their nearest read is
getData.

{chubby_table(a.results)}

## Throughput and latency against requests in flight

The 64-in-flight rows below repeat the `write` and `read` runs above with
the same settings; the difference between the two is a fair measure of
this machine's run-to-run noise.

{sweep_table(a.results)}

![throughput vs in-flight requests]({rel}/throughput-vs-inflight.png)

![latency CDF]({rel}/latency-cdf.png)

## Observers: 3 voters + 2 observers

ZooKeeper with two `peerType=observer` servers, and synod with two learners
(added by `synod reconfig add-learner`; ZooKeeper clients see them as
observers: they serve reads from their own copy and forward writes). The
read, write and mixed runs as above but with 10 connections, two on each
of the five servers (the 3-node columns are the 8-connection runs above).
Every process shares this machine's cores, so more servers add capacity
only where the machine has cores to spare; what the rows can show here is
that observers do not slow writes.

{observers_table(a.results)}

## The sharded tier against etcd (issue 13)

synod's sharded tier: three servers, each a replica of the controller and
of every group, 16 shards, first with one replica group and then with
three (`[shards] groups`), through `synod bench --target synod-shards`:
every op is a transaction, one key routed to its shard's group (one round
through that group's log), and the txn workload's two keys on two groups
whenever their shards are (two-phase commit between the groups' logs; two
thirds of the time with three groups). etcd runs the txn workload as one
`Txn` of two Ranges and two Puts.

{shards_table(a.results)}

{notes}## Errors counted by the load generator

{problems(a.results)}
"""
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(doc)
    print(f"report.py: wrote {a.out} and {len(made)} plots", file=sys.stderr)


if __name__ == "__main__":
    main()
