//! Per-kernel GPU timing: a timestamp pair around each dispatch's pass, resolved at flush and aggregated by kernel name.
use std::collections::BTreeMap;

/// Most dispatches timed in one submit; the recorder flushes early when this many are pending.
pub const MAX_TIMED: u32 = 2048;

/// Calls and total time of one kernel while profiling was on.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KernelTime {
    /// Kernel name (shader::entry).
    pub name: String,
    /// Dispatches timed.
    pub calls: u64,
    /// Sum of their times in milliseconds.
    pub total_ms: f64,
    /// total_ms / calls.
    pub mean_ms: f64,
}

/// How times were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Clock {
    /// GPU timestamp queries around each compute pass.
    Timestamps,
    /// No timestamp queries on this adapter: wall-clock time of a submit-and-wait per dispatch (includes overhead).
    WallClock,
}

/// Raw timings, one entry per timed dispatch, in order.
#[derive(Default)]
pub struct Timings {
    /// (kernel name, milliseconds).
    pub samples: Vec<(String, f64)>,
}

impl Timings {
    /// Aggregates the samples by kernel name, sorted by total time, largest first.
    pub fn summary(&self) -> Vec<KernelTime> {
        let mut by: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
        for (n, ms) in &self.samples {
            let e = by.entry(n.as_str()).or_default();
            e.0 += 1;
            e.1 += ms;
        }
        let mut out: Vec<KernelTime> = by
            .into_iter()
            .map(|(name, (calls, total_ms))| KernelTime { name: name.to_string(), calls, total_ms, mean_ms: total_ms / calls as f64 })
            .collect();
        out.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        out
    }
}

/// A text table of a profile summary: kernel, calls, total and mean time, and each kernel's share of the total.
pub fn format_summary(rows: &[KernelTime], clock: Clock) -> String {
    let total: f64 = rows.iter().map(|r| r.total_ms).sum();
    let mut s = format!("{:<40} {:>8} {:>12} {:>12} {:>7}\n", "kernel", "calls", "total ms", "mean ms", "share");
    for r in rows {
        let share = if total > 0.0 { 100.0 * r.total_ms / total } else { 0.0 };
        s += &format!("{:<40} {:>8} {:>12.3} {:>12.4} {:>6.1}%\n", r.name, r.calls, r.total_ms, r.mean_ms, share);
    }
    s += &format!("{:<40} {:>8} {:>12.3}\n", "total", rows.iter().map(|r| r.calls).sum::<u64>(), total);
    if clock == Clock::WallClock {
        s += "note: this adapter has no timestamp queries; times are wall-clock per dispatch, submit and wait included\n";
    }
    s
}
