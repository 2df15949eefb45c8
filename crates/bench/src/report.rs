//! The figures as a person reads them (stdout) and as a script reads them
//! (JSON, same numbers).

use crate::args::BenchArgs;
use crate::stats::Summary;

pub struct Report {
    /// None for `probe`, which measures one time only.
    pub summary: Option<Summary>,
    /// Workload-specific figures (watchers, ready_ms, ...).
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub wall_s: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

pub fn print(args: &BenchArgs, report: &Report) {
    println!(
        "synod bench: {} {} on {} ({} connections, {} in flight, {} keys, {}-byte values)",
        args.target.name(),
        args.workload.name(),
        args.endpoints().join(","),
        args.connections,
        args.in_flight,
        args.keys,
        args.value_bytes
    );
    if let Some(s) = &report.summary {
        println!(
            "  ops/s     {:.1}  ({} ops in {:.1} s, {} errors)",
            s.ops_per_s, s.ops, s.seconds, s.errors
        );
        let l = &s.latency_us;
        println!(
            "  latency   p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  mean {:.3} ms",
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            l.mean / 1e3
        );
        println!(
            "  longest stretch without a success: {:.1} ms (from {:.2} s)",
            s.longest_gap_ms, s.longest_gap_at_s
        );
        for e in &s.error_samples {
            println!("  error seen: {e}");
        }
    }
    for (k, v) in &report.extra {
        println!("  {k}: {v}");
    }
}

pub fn json(args: &BenchArgs, report: &Report) -> serde_json::Value {
    let mut out = serde_json::json!({
        "target": args.target.name(),
        "workload": args.workload.name(),
        "endpoints": args.endpoints(),
        "connections": args.connections,
        "in_flight": args.in_flight,
        "keys": args.keys,
        "value_bytes": args.value_bytes,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "read_ratio": args.read_ratio,
        "wall_s": report.wall_s,
    });
    let map = out.as_object_mut().expect("an object");
    if let Some(s) = &report.summary {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(s) {
            map.extend(fields);
        }
    }
    map.extend(report.extra.clone());
    out
}
