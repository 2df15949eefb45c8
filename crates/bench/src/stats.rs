//! What a run measured: a latency histogram for the whole measured phase,
//! one for the current second (the progress line), counts of successes and
//! errors, and the longest stretch without a success (failover time).

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, from 1 µs to this (longer ones
/// are clamped to it and so still counted).
const LATENCY_US_MAX: u64 = 120_000_000;
/// Distinct error messages kept for the report; further ones are counted
/// but not stored.
const ERROR_SAMPLES_MAX: usize = 8;

/// Shared by every worker of a run.
pub struct Stats {
    /// Set when warm-up ends; successes before it are not recorded.
    measuring: AtomicBool,
    /// Set when the measured phase ends: workers stop issuing requests.
    stopping: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    total: Histogram<u64>,
    interval: Histogram<u64>,
    ops: u64,
    errors: u64,
    interval_errors: u64,
    error_samples: Vec<String>,
    measure_start: Option<Instant>,
    measure_end: Option<Instant>,
    last_ok: Option<Instant>,
    gap_max: Duration,
    /// When the longest gap began, from the start of measuring.
    gap_max_at: Duration,
}

/// A snapshot for the progress line.
pub struct Interval {
    pub ops: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// The figures of a finished run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_s: f64,
    pub latency_us: Percentiles,
    /// (quantile, latency in µs) pairs for a CDF plot.
    pub cdf: Vec<(f64, u64)>,
    /// The longest stretch of the measured phase without a success (from
    /// its start to the first success, between two successes, or from the
    /// last success to its end), in milliseconds.
    pub longest_gap_ms: f64,
    /// When that stretch began, in seconds from the start of measuring.
    pub longest_gap_at_s: f64,
    pub error_samples: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            measuring: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                total: histogram(),
                interval: histogram(),
                ops: 0,
                errors: 0,
                interval_errors: 0,
                error_samples: Vec::new(),
                measure_start: None,
                measure_end: None,
                last_ok: None,
                gap_max: Duration::ZERO,
                gap_max_at: Duration::ZERO,
            }),
        }
    }
}

impl Stats {
    pub fn start_measuring(&self) {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("stats lock");
        inner.measure_start = Some(now);
        inner.last_ok = Some(now);
        inner.total.reset();
        self.measuring.store(true, Ordering::SeqCst);
    }

    pub fn stop(&self) {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("stats lock");
        if inner.measure_end.is_none() {
            inner.measure_end = Some(now);
        }
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Records one success that took `latency`.
    pub fn on_success(&self, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, LATENCY_US_MAX);
        let now = Instant::now();
        let measuring = self.measuring.load(Ordering::Relaxed) && !self.stopping();
        let mut inner = self.inner.lock().expect("stats lock");
        inner.interval.saturating_record(us);
        if !measuring {
            return;
        }
        inner.total.saturating_record(us);
        inner.ops += 1;
        if let (Some(last), Some(start)) = (inner.last_ok, inner.measure_start) {
            let gap = now.saturating_duration_since(last);
            if gap > inner.gap_max {
                inner.gap_max = gap;
                inner.gap_max_at = last.saturating_duration_since(start);
            }
        }
        inner.last_ok = Some(now);
    }

    /// Records one failed request.
    pub fn on_error(&self, message: &str) {
        let measuring = self.measuring.load(Ordering::Relaxed) && !self.stopping();
        let mut inner = self.inner.lock().expect("stats lock");
        inner.interval_errors += 1;
        if measuring {
            inner.errors += 1;
        }
        let known = inner.error_samples.iter().any(|m| m == message);
        if !known && inner.error_samples.len() < ERROR_SAMPLES_MAX {
            inner.error_samples.push(message.to_string());
        }
    }

    /// The figures since the last call, for the progress line.
    pub fn take_interval(&self) -> Interval {
        let mut inner = self.inner.lock().expect("stats lock");
        let interval = Interval {
            ops: inner.interval.len(),
            errors: inner.interval_errors,
            p50_us: inner.interval.value_at_quantile(0.5),
            p99_us: inner.interval.value_at_quantile(0.99),
        };
        inner.interval.reset();
        inner.interval_errors = 0;
        interval
    }

    pub fn summary(&self) -> Summary {
        let inner = self.inner.lock().expect("stats lock");
        let start = inner.measure_start.unwrap_or_else(Instant::now);
        let end = inner.measure_end.unwrap_or_else(Instant::now);
        let seconds = end.saturating_duration_since(start).as_secs_f64();
        let h = &inner.total;
        // The stretch from the last success to the end counts too: a
        // cluster that never came back has one long final gap.
        let (mut gap, mut gap_at) = (inner.gap_max, inner.gap_max_at);
        if let Some(last) = inner.last_ok {
            let tail = end.saturating_duration_since(last);
            if tail > gap {
                gap = tail;
                gap_at = last.saturating_duration_since(start);
            }
        }
        Summary {
            ops: inner.ops,
            errors: inner.errors,
            seconds,
            ops_per_s: if seconds > 0.0 {
                inner.ops as f64 / seconds
            } else {
                0.0
            },
            latency_us: Percentiles {
                p50: h.value_at_quantile(0.5),
                p90: h.value_at_quantile(0.9),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
                mean: h.mean(),
            },
            cdf: cdf_points(h),
            longest_gap_ms: gap.as_secs_f64() * 1000.0,
            longest_gap_at_s: gap_at.as_secs_f64(),
            error_samples: inner.error_samples.clone(),
        }
    }
}

/// Quantiles dense enough for a CDF plot with a log-scaled tail.
fn cdf_points(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut quantiles: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
    quantiles.extend([0.995, 0.999, 0.9995, 0.9999, 1.0]);
    quantiles
        .into_iter()
        .map(|q| (q, h.value_at_quantile(q)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successes_after_warmup_are_counted() {
        let stats = Stats::default();
        stats.on_success(Duration::from_micros(5));
        stats.start_measuring();
        stats.on_success(Duration::from_micros(100));
        stats.on_success(Duration::from_micros(300));
        stats.on_error("boom");
        stats.stop();
        stats.on_success(Duration::from_micros(1));
        let s = stats.summary();
        assert_eq!(s.ops, 2);
        assert_eq!(s.errors, 1);
        assert_eq!(s.latency_us.max, 300);
        assert_eq!(s.error_samples, vec!["boom".to_string()]);
        assert_eq!(s.cdf.last().unwrap().1, 300);
    }
}
