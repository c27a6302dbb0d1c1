//! `pretext bench`: the device's own ceilings, then every kernel family at realistic sizes,
//! timed with GPU timestamp queries (median of repeated runs after a warm-up).
use std::io::Write;
use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use crate::gpu::Gpu;
use crate::kernels::launch;
use crate::optim::{Schedule, ScheduleKind};
use crate::tensor::{DType, Tensor};
use crate::train::{Task, TrainConfig, Trainer};
use crate::Result;

pub mod attention;
pub mod bert;
pub mod contrastive;
pub mod flops;
pub mod norms;
pub mod losses;
pub mod mae;
pub mod matmul;
pub mod optim;

/// One measured row; printed as a JSON line with `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub kernel: String,
    pub shape: String,
    pub ms: f64,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    pub pct_peak: Option<f64>,
    /// The most bytes live tensors held on the device during the row's runs (whole-step rows), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
}

/// The benchmark session: device, filter, measured peaks, and the rows so far.
pub struct Bench<'a> {
    pub gpu: &'a Gpu,
    filter: Option<String>,
    json: bool,
    /// Print no rows (measurements for other commands, e.g. the demo's `peak_fma`).
    pub quiet: bool,
    /// Timed runs per row (after one warm-up run).
    pub reps: usize,
    /// Print the per-kernel breakdown of one step of each whole-step row (`pretext --profile bench`).
    pub profile: bool,
    /// Measured FMA peak, GFLOP/s.
    pub peak_gflops: f64,
    /// Measured copy bandwidth, GB/s.
    pub peak_gbps: f64,
    pub rows: Vec<BenchRow>,
}

/// Work done by one run of a benchmarked kernel, for the rate columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Work {
    /// Floating-point operations (multiply-add = 2).
    pub flops: Option<f64>,
    /// Bytes read and written.
    pub bytes: Option<f64>,
}

impl Work {
    /// Compute-bound work of `flops` operations.
    pub fn flops(flops: f64) -> Work {
        Work { flops: Some(flops), bytes: None }
    }
    /// Memory-bound work of `bytes` bytes.
    pub fn bytes(bytes: f64) -> Work {
        Work { flops: None, bytes: Some(bytes) }
    }
}

/// With `--profile`: prints the per-kernel breakdown of one more step (GPU timestamps per dispatch) against its wall time.
pub fn profile_step(b: &Bench, name: &str, t: &mut Trainer, task: &mut dyn Task) -> Result<()> {
    if !b.profile {
        return Ok(());
    }
    let gpu = b.gpu;
    let was_profiling = gpu.set_profiling(true)?;
    gpu.take_timings()?;
    let s = Instant::now();
    let stepped = t.step(task, false).and_then(|_| gpu.wait());
    let wall = s.elapsed().as_secs_f64() * 1e3;
    let rows = gpu.take_profile();
    gpu.set_profiling(was_profiling)?;
    stepped?;
    let rows = rows?;
    let kernels: f64 = rows.iter().map(|r| r.total_ms).sum();
    eprintln!(
        "per-kernel breakdown of one {name} on {} ({} dispatches; kernel time {kernels:.1} ms of a {wall:.1} ms step, \
         timed one dispatch at a time):",
        gpu.name(),
        rows.iter().map(|r| r.calls).sum::<u64>()
    );
    eprint!("{}", crate::gpu::timing::format_summary(&rows, gpu.clock()));
    Ok(())
}

/// Trainer settings for timing steps: a constant learning rate of 1e-4; no logging, evaluation,
/// checkpoints or progress bar.
pub fn timing_config() -> TrainConfig {
    TrainConfig {
        steps: 1000,
        schedule: Schedule { peak_lr: 1e-4, min_lr: 0.0, warmup: 0, total: 1000, kind: ScheduleKind::Constant },
        seed: 1,
        log_every: 1000,
        eval_every: 0,
        save_every: 0,
        keep_last: None,
        out_dir: None,
        progress: false,
        phase: "bench".into(),
    }
}

/// Wall time in ms of `n` steps of `task`, each waited for.
pub fn time_steps(t: &mut Trainer, task: &mut dyn Task, n: usize) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        t.step(task, false)?;
        t.gpu.wait()?;
        times.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(times)
}

/// The median of `v` (which must not be empty).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

impl<'a> Bench<'a> {
    /// A session on `gpu`; rows that `filter` does not match are skipped (see `wants_row`).
    pub fn new(gpu: &'a Gpu, filter: Option<String>, json: bool) -> Bench<'a> {
        Bench { gpu, filter, json, quiet: false, reps: 10, profile: false, peak_gflops: f64::NAN, peak_gbps: f64::NAN, rows: Vec::new() }
    }

    /// Whether some row of `kernel` may pass the filter: the filter's first word is part of the kernel name.
    pub fn wants(&self, kernel: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| kernel.contains(f.split(' ').next().unwrap_or("")))
    }

    /// Whether the row (`kernel`, `shape`) passes the filter: a substring of the kernel name, or of
    /// "kernel shape" (e.g. `--filter "matmul_naive 512"`).
    pub fn wants_row(&self, kernel: &str, shape: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| kernel.contains(f) || format!("{kernel} {shape}").contains(f))
    }

    /// Times `run` (which records one or more dispatches): one warm-up, then `reps` runs, each flushed
    /// and timed by summing its dispatches' timestamps; records and prints the median.
    pub fn time(&mut self, kernel: &str, shape: &str, work: Work, mut run: impl FnMut(&Gpu) -> Result<()>) -> Result<Option<BenchRow>> {
        if !self.wants_row(kernel, shape) {
            return Ok(None);
        }
        let gpu = self.gpu;
        run(gpu)?;
        gpu.flush()?;
        gpu.wait()?;
        let was_profiling = gpu.set_profiling(true)?;
        gpu.take_timings()?;
        let mut times = Vec::with_capacity(self.reps);
        let result = (|| {
            for _ in 0..self.reps {
                run(gpu)?;
                let t = gpu.take_timings()?;
                times.push(t.iter().map(|(_, ms)| ms).sum::<f64>());
            }
            Ok(())
        })();
        gpu.set_profiling(was_profiling)?;
        result?;
        let ms = median(&mut times);
        Ok(Some(self.record(kernel, shape, ms, work)))
    }

    /// Adds a row measured by other means (e.g. wall-clock of a whole step) and prints it.
    pub fn record(&mut self, kernel: &str, shape: &str, ms: f64, work: Work) -> BenchRow {
        self.record_with_memory(kernel, shape, ms, work, None)
    }

    /// `record` with the peak bytes of live device tensors during the measurement.
    pub fn record_with_memory(&mut self, kernel: &str, shape: &str, ms: f64, work: Work, peak_bytes: Option<u64>) -> BenchRow {
        let gflops = work.flops.map(|f| f / (ms * 1e-3) / 1e9);
        let gbps = work.bytes.map(|b| b / (ms * 1e-3) / 1e9);
        let pct_peak = match (gflops, gbps) {
            (Some(g), _) if self.peak_gflops.is_finite() => Some(100.0 * g / self.peak_gflops),
            (None, Some(b)) if self.peak_gbps.is_finite() => Some(100.0 * b / self.peak_gbps),
            _ => None,
        };
        let row = BenchRow { kernel: kernel.into(), shape: shape.into(), ms, gflops, gbps, pct_peak, peak_bytes };
        self.print(&row);
        self.rows.push(row.clone());
        row
    }

    fn print(&self, r: &BenchRow) {
        if self.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        let line = if self.json {
            serde_json::to_string(r).unwrap_or_default()
        } else {
            let f = |v: Option<f64>, unit: &str| v.map(|x| format!("{x:9.2} {unit}")).unwrap_or_default();
            format!(
                "{:<24} {:<18} {:>10.4} ms {:>16}{:>14} {}{}",
                r.kernel,
                r.shape,
                r.ms,
                f(r.gflops, "GFLOP/s"),
                f(r.gbps, "GB/s"),
                r.pct_peak.map(|p| format!("{p:6.1}% of peak")).unwrap_or_default(),
                r.peak_bytes.map(|b| format!("  peak live {:.2} GiB", b as f64 / (1u64 << 30) as f64)).unwrap_or_default()
            )
        };
        let _ = writeln!(out, "{line}");
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FmaParams {
    iters: u32,
    n: u32,
    _pad: [u32; 2],
} // = `FmaParams` in bench_fma.wgsl

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CopyParams {
    n: u32,
    _pad: [u32; 3],
} // = `CopyParams` in bench_copy.wgsl

/// Measures the FMA and copy ceilings; always run and printed, whatever the filter: every % of peak is relative to them.
pub fn peaks(b: &mut Bench) -> Result<()> {
    let gpu = b.gpu;
    let invocations = if gpu.is_cpu() { 16 * 1024 } else { 1024 * 1024 };
    let iters = if gpu.is_cpu() { 256u32 } else { 1024 }; // trips of the loop: 4 FMAs of each chain per trip
    let out = Tensor::empty(gpu, &[invocations * 4], DType::F32)?;
    let p = FmaParams { iters, n: invocations as u32, _pad: [0; 2] };
    let fmas = iters as usize * 4; // sequential FMAs per chain
    let flops = invocations as f64 * fmas as f64 * 8.0 * 4.0 * 2.0;
    let groups = gpu.grid_1d(invocations / 256)?;
    let saved = b.filter.take();
    let row = b.time("peak_fma", &format!("{invocations}x{fmas}"), Work::flops(flops), |g| {
        launch(g, "bench_fma", "peak_fma", &[], &p, &[], &[&out], groups)
    })?;
    b.peak_gflops = row.and_then(|r| r.gflops).unwrap_or(f64::NAN);

    let n = probe_vec4s(gpu);
    let x = Tensor::empty(gpu, &[n * 4], DType::F32)?;
    let y = Tensor::empty(gpu, &[n * 4], DType::F32)?;
    let p = CopyParams { n: n as u32, _pad: [0; 3] };
    let groups = gpu.grid_1d(n.div_ceil(256))?;
    let row = b.time("peak_copy", &format!("{}MiB", (n * 16) >> 20), Work::bytes(2.0 * 16.0 * n as f64), |g| {
        launch(g, "bench_copy", "peak_copy", &[], &p, &[&x], &[&y], groups)
    })?;
    b.peak_gbps = row.and_then(|r| r.gbps).unwrap_or(f64::NAN);
    b.filter = saved;
    Ok(())
}

/// The device's FMA ceiling (GFLOP/s) and copy bandwidth (GB/s), measured as `pretext bench` does (its
/// `peak_fma` and `peak_copy` rows), printing nothing.
pub fn peak_fma_and_copy(gpu: &Gpu) -> Result<(f64, f64)> {
    let mut b = Bench::new(gpu, None, false);
    (b.quiet, b.reps) = (true, 3);
    peaks(&mut b)?;
    Ok((b.peak_gflops, b.peak_gbps))
}

/// The vec4 elements the bandwidth probes read: 64 MiB on a CPU adapter, 1 GiB on a GPU, within one binding.
fn probe_vec4s(gpu: &Gpu) -> usize {
    let n = if gpu.is_cpu() { 4 << 20 } else { 64 << 20 };
    n.min((gpu.limits().max_storage_buffer_binding_size / 16) as usize)
}

/// `load_vec4`: the rate of vec4 storage loads (sixteen loads per store, neighbouring lanes reading
/// neighbouring vec4s), in GB/s against `peak_copy`: on llvmpipe, where every storage load is a loop over
/// the subgroup's 8 lanes, what a kernel that streams its inputs can expect.
pub fn load_rate(b: &mut Bench) -> Result<()> {
    let gpu = b.gpu;
    let n = probe_vec4s(gpu);
    if !b.wants_row("load_vec4", &format!("{}MiB", (n * 16) >> 20)) {
        return Ok(());
    }
    let x = Tensor::empty(gpu, &[n * 4], DType::F32)?;
    let y = Tensor::empty(gpu, &[n / 16 * 4], DType::F32)?;
    let p = CopyParams { n: n as u32, _pad: [0; 3] };
    let groups = gpu.grid_1d((n / 16).div_ceil(256))?;
    b.time("load_vec4", &format!("{}MiB", (n * 16) >> 20), Work::bytes(16.0 * n as f64 + n as f64), |g| {
        launch(g, "bench_copy", "load_vec4", &[], &p, &[&x], &[&y], groups)
    })?;
    Ok(())
}

/// Measures the cost of an empty dispatch (a 1-workgroup fill of 4 bytes): its GPU time by timestamps, and
/// the wall-clock cost per dispatch when 1000 are recorded into one submit.
pub fn empty_dispatch(b: &mut Bench) -> Result<()> {
    let gpu = b.gpu;
    let t = Tensor::empty(gpu, &[1], DType::F32)?;
    b.time("empty_dispatch", "1", Work::default(), |g| g.fill_words(t.binding(), 0))?;
    if b.wants("empty_dispatch") {
        // Wall-clock per dispatch of 1000 recorded into one submit: the host's recording cost plus the device's.
        let mut per = Vec::new();
        for _ in 0..b.reps.max(3) {
            let started = Instant::now();
            for _ in 0..1000 {
                gpu.fill_words(t.binding(), 0)?;
            }
            gpu.flush()?;
            gpu.wait()?;
            per.push(started.elapsed().as_secs_f64() * 1e3 / 1000.0);
        }
        b.record("empty_dispatch_wall", "1000 in one submit", median(&mut per), Work::default());
    }
    Ok(())
}

/// Runs every benchmark that passes the filter.
pub fn run_all(b: &mut Bench) -> Result<()> {
    peaks(b)?;
    // First, so its first step compiles every pipeline it needs (bert_tiny_first_step).
    bert::run(b)?;
    mae::run(b)?;
    contrastive::run(b)?;
    empty_dispatch(b)?;
    load_rate(b)?;
    matmul::run(b)?;
    attention::run(b)?;
    norms::run(b)?;
    losses::run(b)?;
    optim::run(b)?;
    Ok(())
}
