//! The `pretext` command line: thin clap commands over the library.
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::gpu::{Gpu, GpuOptions};
use crate::train::{Resumed, Task, TrainConfig, Trainer};
use crate::{Error, Result};

pub mod ae;
pub mod bert;
pub mod contrastive;
pub mod mae;
pub mod vit;
pub mod probe;

/// Train self-supervised encoders on any GPU through WebGPU.
#[derive(Parser, Debug)]
#[command(name = "pretext", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Graphics API: vulkan, metal, dx12 or gl (default: WGPU_BACKEND, else the best available).
    #[arg(long, global = true)]
    pub backend: Option<String>,
    /// Substring of the adapter name to use (default: WGPU_ADAPTER_NAME).
    #[arg(long, global = true)]
    pub adapter: Option<String>,
    /// Time every kernel with GPU timestamps and print a per-kernel table at the end.
    #[arg(long, global = true)]
    pub profile: bool,
    /// An optional feature not to use even where the adapter has it (repeatable), e.g. `--disable subgroups`
    /// to run every kernel family's portable variant.
    #[arg(long, global = true, value_name = "FEATURE")]
    pub disable: Vec<String>,
}

/// Checkpoint options of every training command (`#[command(flatten)]` them).
#[derive(Args, Debug, Clone, Default)]
pub struct CheckpointArgs {
    /// Write OUT/step-K/ every K steps (0: never). Each appears whole or not at all, even if the run is killed.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub save_every: u32,
    /// Keep only the newest N step-K/ checkpoints (default: all); older ones are deleted once a newer one is complete.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub keep_last: Option<usize>,
    /// Resume from a run's output directory (its newest complete step-K/) or from OUT/step-K.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a whole number of checkpoints, at least 1, got {s:?}")),
    }
}

impl CheckpointArgs {
    /// Copies `--save-every` and `--keep-last` into `config`.
    pub fn configure(&self, config: &mut TrainConfig) {
        config.save_every = self.save_every;
        config.keep_last = self.keep_last;
    }

    /// Resumes `trainer` and `task` when `--resume` was given, and says on stderr from which checkpoint and step.
    pub fn resume(&self, trainer: &mut Trainer, task: &mut dyn Task) -> Result<Option<Resumed>> {
        let Some(path) = &self.resume else { return Ok(None) };
        let r = trainer.resume(path, task)?;
        eprintln!("resumed from {} at step {}", r.dir.display(), r.step);
        Ok(Some(r))
    }
}

/// Creates a command's output directory; an existing file in its place is a clear error.
pub fn create_out_dir(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        crate::bail!(Io, "{}: exists and is not a directory; --out needs a directory", out.display());
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the adapter, backend, driver, enabled features and the limits that matter.
    Info {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Measure the device's peaks and every kernel (GFLOP/s, GB/s, % of peak).
    Bench {
        /// Only rows whose kernel name, or "kernel shape", contains this (e.g. "matmul", "matmul_naive 512").
        #[arg(long)]
        filter: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Timed runs per row.
        #[arg(long, default_value_t = 10)]
        reps: usize,
    },
    /// The main job: every family pretrains on bundled data and transfers, against a baseline with the same budget.
    Demo {
        /// text, mae, contrastive, ae, or all.
        #[arg(default_value = "all")]
        family: String,
        /// Output directory (summary.json, report.html, a directory per family).
        #[arg(long, default_value = "runs/demo")]
        out: std::path::PathBuf,
        /// tiny, small or base (default: tiny on a CPU adapter, small on a GPU).
        #[arg(long)]
        preset: Option<String>,
        /// Change a setting: `KEY=VALUE` for every family that has it, `FAMILY.KEY=VALUE` for one (repeatable;
        /// the settings are in summary.json), e.g. `--set seed=2 --set text.finetune_lr=5e-4`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Embed texts with a BERT model: one JSON object per input line.
    Embed(bert::EmbedArgs),
    /// Predict the \[MASK\] tokens of each input line: one JSON object per line.
    FillMask(bert::FillMaskArgs),
    /// Pretrain, fine-tune or apply BERT models.
    #[command(subcommand)]
    Bert(bert::BertCommand),
    /// Masked-autoencoder pretraining on images (ViT-MAE) and reconstructions.
    #[command(subcommand)]
    Mae(mae::MaeCommand),
    /// Fine-tune, apply or embed with Vision Transformers.
    #[command(subcommand)]
    Vit(vit::VitCommand),
    /// Contrastive pretraining (SimCLR, MoCo v3, BYOL on images; SimCSE on text) and its views.
    #[command(subcommand)]
    Contrastive(contrastive::ContrastiveCommand),
    /// Autoencoders on images: train (ae, dae, sparse, vae), reconstruct, sample, evaluate.
    #[command(subcommand)]
    Ae(ae::AeCommand),
    /// Linear-probe and kNN accuracy of an image encoder's frozen features (or of the raw pixels, or of the
    /// encoder at its initial weights); prints one JSON object.
    Probe(probe::ProbeArgs),
}

/// Prints a confusion matrix (rows: true class, columns: predicted) under its class names.
pub fn print_confusion(labels: &[String], confusion: &[Vec<usize>]) {
    println!("confusion matrix (rows: true, columns: predicted)");
    print!("{:>12}", "");
    for l in labels {
        print!(" {l:>8.8}");
    }
    println!();
    for (l, row) in labels.iter().zip(confusion) {
        print!("{l:>12.12}");
        for n in row {
            print!(" {n:>8}");
        }
        println!();
    }
}

/// Opens the device the arguments ask for.
pub fn open_gpu(args: &DeviceArgs) -> Result<Gpu> {
    let mut disable = wgpu::Features::empty();
    for name in &args.disable {
        disable |= crate::gpu::parse_feature(name)?;
    }
    let gpu = Gpu::new(&GpuOptions {
        backend: args.backend.clone(),
        adapter_name: args.adapter.clone(),
        profile: args.profile,
        disable,
        limits: None,
    })?;
    let r = gpu.report();
    let chosen = args.backend.is_some() || std::env::var_os("WGPU_BACKEND").is_some();
    if !chosen && gpu.is_cpu() && r.backend.eq_ignore_ascii_case("gl") {
        eprintln!(
            "note: {} through OpenGL, the only adapter found: no subgroups, so the portable kernels (about 2x slower \
             steps on llvmpipe); Mesa's Vulkan driver (Debian: mesa-vulkan-drivers) gives the faster path",
            r.adapter
        );
    }
    Ok(gpu)
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let gpu = open_gpu(&cli.device)?;
    match &cli.command {
        Command::Info { json } => info(&gpu, *json)?,
        Command::Bench { filter, json, reps } => {
            gpu.set_profiling(false)?; // `bench` times its own sections; `--profile` adds its per-step breakdowns
            let mut b = crate::bench::Bench::new(&gpu, filter.clone(), *json);
            b.reps = (*reps).max(1);
            b.profile = cli.device.profile;
            crate::bench::run_all(&mut b)?;
        }
        Command::Demo { family, out, preset, set } => {
            let preset = preset.clone().unwrap_or_else(|| crate::demo::preset_for(&gpu).to_string());
            let demo = crate::demo::Demo { gpu: &gpu, out: out.clone(), preset, progress: true };
            crate::demo::run(&demo, family, &crate::demo::Overrides::parse(set)?)?;
        }
        Command::Embed(a) => bert::embed(&gpu, a)?,
        Command::FillMask(a) => bert::fill_mask(&gpu, a)?,
        Command::Bert(bert::BertCommand::Pretrain(a)) => bert::pretrain(&gpu, a)?,
        Command::Bert(bert::BertCommand::Finetune(a)) => bert::finetune(&gpu, a)?,
        Command::Bert(bert::BertCommand::Classify(a)) => bert::classify(&gpu, a)?,
        Command::Mae(mae::MaeCommand::Pretrain(a)) => mae::pretrain(&gpu, a)?,
        Command::Mae(mae::MaeCommand::Reconstruct(a)) => mae::reconstruct(&gpu, a)?,
        Command::Vit(vit::VitCommand::Finetune(a)) => vit::finetune(&gpu, a)?,
        Command::Vit(vit::VitCommand::Classify(a)) => vit::classify(&gpu, a)?,
        Command::Vit(vit::VitCommand::Embed(a)) => vit::embed(&gpu, a)?,
        Command::Contrastive(contrastive::ContrastiveCommand::Pretrain(a)) => contrastive::pretrain(&gpu, a)?,
        Command::Contrastive(contrastive::ContrastiveCommand::Views(a)) => contrastive::views(&gpu, a)?,
        Command::Ae(ae::AeCommand::Train(a)) => ae::train(&gpu, a)?,
        Command::Ae(ae::AeCommand::Reconstruct(a)) => ae::reconstruct(&gpu, a)?,
        Command::Ae(ae::AeCommand::Sample(a)) => ae::sample(&gpu, a)?,
        Command::Ae(ae::AeCommand::Eval(a)) => ae::eval(&gpu, a)?,
        Command::Probe(a) => probe::run(&gpu, a)?,
    }
    if cli.device.profile {
        let rows = gpu.take_profile()?;
        if rows.is_empty() {
            return Ok(()); // `bench` prints its own per-step breakdowns
        }
        eprint!("{}", crate::gpu::timing::format_summary(&rows, gpu.clock()));
    }
    Ok(())
}

/// `pretext info --json`: the device report and the kernel variants in one object.
#[derive(serde::Serialize)]
struct InfoJson<'a> {
    #[serde(flatten)]
    device: &'a crate::gpu::DeviceReport,
    variants: crate::kernels::variants::Variants,
}

fn info(gpu: &Gpu, json: bool) -> Result<()> {
    let r = gpu.report();
    let v = crate::kernels::variants::variants(gpu);
    if json {
        let j = InfoJson { device: r, variants: v };
        println!("{}", serde_json::to_string(&j).map_err(|e| crate::Error::Invalid(e.to_string()))?);
        return Ok(());
    }
    let mib = |b: u64| format!("{} MiB", b >> 20);
    println!("adapter      {}", r.adapter);
    println!("backend      {}", r.backend);
    println!("device type  {}", r.device_type);
    println!("driver       {} {}", r.driver, r.driver_info);
    println!("features     {}", if r.features.is_empty() { "(none)".to_string() } else { r.features.join(", ") });
    println!("limits");
    println!("  max storage binding         {}", mib(r.max_storage_buffer_binding_size));
    println!("  max buffer                  {}", mib(r.max_buffer_size));
    println!("  workgroup storage           {} KiB", r.max_compute_workgroup_storage_size / 1024);
    println!("  invocations per workgroup   {}", r.max_compute_invocations_per_workgroup);
    println!("  workgroups per dimension    {}", r.max_compute_workgroups_per_dimension);
    println!("  storage buffers per stage   {}", r.max_storage_buffers_per_shader_stage);
    println!("  uniform offset alignment    {}", r.min_uniform_buffer_offset_alignment);
    println!("  subgroup size               {}..{}", r.subgroup_min_size, r.subgroup_max_size);
    println!("  timestamp period            {} ns", r.timestamp_period_ns);
    println!("variants");
    println!("  matmul                      {}", v.matmul);
    println!("  attention                   {}", v.attention);
    println!("  norm/softmax row workgroup  {} invocations", v.row_workgroup);
    for m in &v.feature_modules {
        let status = if m.available { "compiled here" } else { "not available: portable variant used" };
        println!("  {:<28}needs {}: {status}", format!("shaders/{}.wgsl", m.name), m.requires.join(", "));
    }
    Ok(())
}
