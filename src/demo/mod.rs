//! `pretext demo`: every family pretrains on bundled data, transfers to a labelled task, and is measured
//! against a baseline given the same budget. One recipe per family (its settings and presets, its data, its
//! pretraining, its transfer and its baselines); the recipes share the phase runner (`Demo::train`), the
//! settings (`--preset`, `--set KEY=VALUE`), the summary, the pictures' report and the printed table.
//!
//! Output directory: `summary.json` (`Summary`), `report.html` (one self-contained page), and a directory per
//! family with its `metrics.jsonl` (every phase), checkpoints and pictures.
pub mod ae;
pub mod contrastive;
pub mod images;
pub mod mae;
pub mod report;
pub mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::gpu::Gpu;
use crate::optim::{Optimizer, Schedule, ScheduleKind};
use crate::train::{LogRow, Task, TrainConfig, Trainer};
use crate::{Error, Result};

/// One family's recipe: its name, what it shows, its settings for a preset, and its run.
pub struct Recipe {
    /// The family's name on the command line and in `summary.json`.
    pub name: &'static str,
    /// One line: what it pretrains, and what it transfers to.
    pub about: &'static str,
    /// The settings of a preset ("tiny", "small", "base"), as a JSON object whose keys `--set` may change.
    pub settings: fn(&str) -> Result<Value>,
    /// Runs the recipe with its settings (as `settings` made them, overrides applied).
    pub run: fn(&Demo, Value) -> Result<FamilyReport>,
}

/// Every recipe, in the order `all` runs them.
pub const RECIPES: &[Recipe] = &[text::RECIPE, mae::RECIPE, contrastive::RECIPE, ae::RECIPE];

/// A recipe's settings as JSON (what `Recipe::settings` returns).
pub fn to_settings<C: Serialize>(config: C) -> Result<Value> {
    serde_json::to_value(config).map_err(|e| Error::Invalid(e.to_string()))
}

/// A recipe's settings read back from JSON, an error naming the family and the bad field.
pub fn from_settings<C: serde::de::DeserializeOwned>(family: &str, v: Value) -> Result<C> {
    serde_json::from_value(v).map_err(|e| Error::Invalid(format!("demo {family} settings: {e}")))
}

/// The recipe called `name`, or an error listing the names.
pub fn recipe(name: &str) -> Result<&'static Recipe> {
    RECIPES.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = RECIPES.iter().map(|r| r.name).collect();
        Error::Invalid(format!("unknown demo family {name:?}: expected one of {names:?} or all"))
    })
}

/// A picture a recipe wrote: its file (relative to the output directory) and a caption.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Picture {
    pub file: String,
    pub caption: String,
}

/// What one family measured: `summary.json`'s `families.NAME`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FamilyReport {
    /// What `pretrained` and `baseline` measure (e.g. "held-out novel accuracy").
    pub metric: String,
    pub pretrained: f64,
    pub baseline: f64,
    /// "scratch" (the same model trained from its initial weights), "init" (the encoder at its initial
    /// weights, frozen) or "raw" (the pixels).
    pub baseline_kind: String,
    /// Labels per class the transfer saw (None: all of them).
    pub labels_per_class: Option<usize>,
    /// Wall-clock time of the whole recipe.
    pub seconds: f64,
    /// The command that reproduces this family's figures.
    pub command: String,
    pub pictures: Vec<Picture>,
    /// The settings the recipe ran with.
    pub settings: Value,
    /// Recipe-specific figures (e.g. the masked-token accuracy of pretraining).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub device: String,
    /// The device's FMA ceiling measured at the start of the run (GFLOP/s), as `pretext bench`'s `peak_fma`:
    /// these machines vary, so every time here is to be read against it.
    pub peak_fma_gflops: f64,
    /// Its copy bandwidth measured with it (GB/s), `pretext bench`'s `peak_copy`: small models' steps are
    /// memory-bound on a CPU adapter, and this varies more than the FMA peak (3x between two quiet days).
    pub peak_copy_gbps: f64,
    pub preset: String,
    pub seconds: f64,
    pub families: BTreeMap<String, FamilyReport>,
}

/// One training phase's outcome.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Every logged step.
    pub history: Vec<LogRow>,
    /// The last evaluation's metrics.
    pub last_eval: Vec<(String, f64)>,
    pub seconds: f64,
}

/// The settings of one training phase.
pub struct PhaseSpec {
    pub steps: u32,
    pub lr: f32,
    /// Warm-up steps as a fraction of `steps`.
    pub warmup: f32,
    pub kind: ScheduleKind,
    pub optimizer: Optimizer,
    pub seed: u64,
    pub eval_every: u32,
    pub save_every: u32,
}

impl PhaseSpec {
    /// AdamW (weight decay 0.01, gradients clipped to norm 1), 10% linear warm-up, then linear decay.
    pub fn adamw(steps: u32, lr: f32, seed: u64) -> PhaseSpec {
        let mut optimizer = Optimizer::adamw(0.01);
        optimizer.max_grad_norm = Some(1.0);
        PhaseSpec { steps, lr, warmup: 0.1, kind: ScheduleKind::Linear, optimizer, seed, eval_every: 0, save_every: 0 }
    }
}

/// A demo run: the device, where outputs go, and how to report.
pub struct Demo<'g> {
    pub gpu: &'g Gpu,
    /// The output directory (each family writes into `out/NAME/`).
    pub out: PathBuf,
    pub preset: String,
    /// Show progress bars.
    pub progress: bool,
}

impl<'g> Demo<'g> {
    /// `out/family/`, created.
    pub fn dir(&self, family: &str) -> Result<PathBuf> {
        let d = self.out.join(family);
        std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        Ok(d)
    }

    /// `out/family/`, created, without the `metrics.jsonl` of an earlier run (each run writes its own).
    pub fn fresh_dir(&self, family: &str) -> Result<PathBuf> {
        let d = self.dir(family)?;
        let metrics = d.join("metrics.jsonl");
        if metrics.exists() {
            std::fs::remove_file(&metrics).map_err(|e| Error::io(&metrics, e))?;
        }
        Ok(d)
    }

    /// Trains `task` for one phase of `family`: a progress bar labelled `family/phase`, the phase's rows in
    /// `out/family/metrics.jsonl`, its newest checkpoint `step-K/` (if `save_every`) in `out/family/`.
    pub fn train(&self, family: &str, phase: &str, task: &mut dyn Task, spec: PhaseSpec) -> Result<Phase> {
        let started = Instant::now();
        let schedule = Schedule {
            peak_lr: spec.lr,
            min_lr: 0.0,
            warmup: (spec.steps as f32 * spec.warmup) as u32,
            total: spec.steps,
            kind: spec.kind,
        };
        let config = TrainConfig {
            steps: spec.steps,
            schedule,
            seed: spec.seed,
            log_every: 10,
            eval_every: spec.eval_every,
            save_every: spec.save_every,
            keep_last: Some(1), // a demo does not resume: the newest complete checkpoint is the one worth keeping
            out_dir: Some(self.dir(family)?),
            progress: self.progress,
            phase: phase.to_string(),
        };
        let mut trainer = Trainer::new(self.gpu, config, spec.optimizer);
        let last_eval = trainer.run(task)?;
        Ok(Phase { history: trainer.history, last_eval, seconds: started.elapsed().as_secs_f64() })
    }

    /// The command line that reproduces `family` with `settings` changed from its preset's.
    pub fn command(&self, family: &str, settings: &Value) -> Result<String> {
        let base = (recipe(family)?.settings)(&self.preset)?;
        let mut cmd = format!("pretext demo {family} --preset {} --out {}", self.preset, self.out.display());
        if let (Some(now), Some(was)) = (settings.as_object(), base.as_object()) {
            for (k, v) in now {
                if was.get(k) != Some(v) {
                    let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    cmd.push_str(&format!(" --set {k}={v}"));
                }
            }
        }
        Ok(cmd)
    }
}

/// `--set` overrides: `KEY=VALUE` applies to every selected family that has the setting, `FAMILY.KEY=VALUE`
/// to that family only. A VALUE is read as JSON when it parses (numbers, booleans), else as a string.
#[derive(Debug, Clone, Default)]
pub struct Overrides(Vec<(Option<String>, String, Value)>);

impl Overrides {
    /// Parses `KEY=VALUE` strings.
    pub fn parse(sets: &[String]) -> Result<Overrides> {
        let mut v = Vec::new();
        for s in sets {
            let (k, val) = s.split_once('=').ok_or_else(|| Error::Invalid(format!("--set {s:?}: expected KEY=VALUE")))?;
            let (family, key) = match k.split_once('.') {
                Some((f, key)) => (Some(recipe(f)?.name.to_string()), key.to_string()),
                None => (None, k.to_string()),
            };
            let val = serde_json::from_str(val).unwrap_or_else(|_| Value::String(val.to_string()));
            v.push((family, key, val));
        }
        Ok(Overrides(v))
    }

    /// `settings` of `family` with the overrides that concern it; marks which overrides were used.
    fn apply(&self, family: &str, mut settings: Value, used: &mut [bool]) -> Result<Value> {
        let obj = settings.as_object_mut().ok_or_else(|| Error::Invalid(format!("demo {family}: settings are not an object")))?;
        for (i, (f, key, val)) in self.0.iter().enumerate() {
            if f.as_deref().is_some_and(|f| f != family) {
                continue;
            }
            match obj.get_mut(key) {
                Some(slot) => {
                    *slot = val.clone();
                    used[i] = true;
                }
                None if f.is_some() => crate::bail!(Invalid, "--set {family}.{key}: the {family} recipe has no setting {key:?}"),
                None => {}
            }
        }
        Ok(settings)
    }
}

/// Runs the recipes named by `which` ("all" or one family) into `demo.out`; prints the table, writes
/// `summary.json` and `report.html`, and returns the summary.
pub fn run(demo: &Demo, which: &str, overrides: &Overrides) -> Result<Summary> {
    let started = Instant::now();
    let recipes: Vec<&Recipe> = if which == "all" { RECIPES.iter().collect() } else { vec![recipe(which)?] };
    // Every setting is resolved (and every override checked) before anything runs.
    let mut used = vec![false; overrides.0.len()];
    let mut plans = Vec::new();
    for r in &recipes {
        let settings = overrides.apply(r.name, (r.settings)(&demo.preset)?, &mut used)?;
        plans.push((*r, settings));
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let names: Vec<&str> = recipes.iter().map(|r| r.name).collect();
        crate::bail!(Invalid, "--set {}: no setting of that name in {names:?} (see summary.json's settings)", overrides.0[i].1);
    }
    std::fs::create_dir_all(&demo.out).map_err(|e| Error::io(&demo.out, e))?;
    let (peak, copy) = crate::bench::peak_fma_and_copy(demo.gpu)?;
    println!("device      {} (peak_fma {peak:.1} GFLOP/s, peak_copy {copy:.2} GB/s)", demo.gpu.name());
    let mut summary = Summary { device: demo.gpu.name(), peak_fma_gflops: peak, peak_copy_gbps: copy, preset: demo.preset.clone(), seconds: 0.0, families: BTreeMap::new() };
    for (r, settings) in plans {
        println!("== {}: {}", r.name, r.about);
        let report = (r.run)(demo, settings)?;
        summary.families.insert(r.name.to_string(), report);
        summary.seconds = started.elapsed().as_secs_f64();
        write_summary(&demo.out, &summary)?; // after every family: a long run leaves what it has measured
    }
    report::write_html(&demo.out.join("report.html"), &summary)?;
    print_table(&summary);
    println!("wrote {} and {}", demo.out.join("summary.json").display(), demo.out.join("report.html").display());
    Ok(summary)
}

fn write_summary(out: &Path, s: &Summary) -> Result<()> {
    let json = serde_json::to_string_pretty(s).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::checkpoint::write_atomic(&out.join("summary.json"), json.as_bytes())
}

/// A figure as the table prints it: a percentage for fractions, else the number.
pub fn format_value(metric: &str, v: f64) -> String {
    if metric.contains("accuracy") { format!("{:.1}%", 100.0 * v) } else { format!("{v:.4}") }
}

/// The gain of pretraining over the baseline, as printed: points for accuracies, else the difference.
pub fn format_gain(metric: &str, pretrained: f64, baseline: f64) -> String {
    if metric.contains("accuracy") { format!("{:+.1} pts", 100.0 * (pretrained - baseline)) } else { format!("{:+.4}", pretrained - baseline) }
}

fn print_table(s: &Summary) {
    println!();
    println!("{:<12} {:<36} {:>11} {:>18} {:>10} {:>8}", "family", "metric", "pretrained", "baseline", "gain", "time");
    for (name, f) in &s.families {
        let baseline = format!("{} ({})", format_value(&f.metric, f.baseline), f.baseline_kind);
        println!(
            "{name:<12} {:<36} {:>11} {baseline:>18} {:>10} {:>7.0}s",
            f.metric,
            format_value(&f.metric, f.pretrained),
            format_gain(&f.metric, f.pretrained, f.baseline),
            f.seconds
        );
    }
    println!("{:<12} {:>87.0}s   on {} (peak_fma {:.1} GFLOP/s, peak_copy {:.2} GB/s)", "total", s.seconds, s.device, s.peak_fma_gflops, s.peak_copy_gbps);
}

/// Writes `path`: one phase's training loss and, where its evaluations logged `eval_key`, the held-out curve.
pub fn write_loss_plot(path: &Path, title: &str, history: &[LogRow], eval_key: &str) -> Result<()> {
    use crate::plot::{self, Panel, Series};
    let train: Vec<(f64, f64)> = history.iter().map(|r| (r.step as f64, r.loss)).collect();
    let held: Vec<(f64, f64)> = history.iter().filter_map(|r| r.extra.get(eval_key).map(|v| (r.step as f64, *v))).collect();
    let mut series = vec![Series { label: "training batch".into(), points: train, color: plot::PALETTE[0] }];
    if !held.is_empty() {
        series.push(Series { label: "held out".into(), points: held, color: plot::PALETTE[1] });
    }
    let panel = Panel { title: title.into(), x_label: "step".into(), y_label: "loss".into(), series, log_y: false };
    plot::write_png(path, &[panel], 800, 500)
}

/// The preset that suits the device: tiny on a CPU adapter, small on a GPU.
pub fn preset_for(gpu: &Gpu) -> &'static str {
    if gpu.is_cpu() { "tiny" } else { "small" }
}
