//! The `pretext` command line: thin clap commands over the library.
use clap::{Args, Parser, Subcommand};

use crate::gpu::{Gpu, GpuOptions};
use crate::Result;

pub mod ae;
pub mod bert;
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
        /// Only kernels whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Timed runs per row.
        #[arg(long, default_value_t = 10)]
        reps: usize,
    },
    /// The main job: pretrain a tiny BERT on Jane Austen, fine-tune it to name the novel, compare with no pretraining.
    Demo {
        /// Output directory (summary.json, metrics.jsonl, loss.png, checkpoints).
        #[arg(long, default_value = "runs/demo")]
        out: std::path::PathBuf,
        /// tiny, small or base (default: tiny on a CPU adapter, small on a GPU).
        #[arg(long)]
        preset: Option<String>,
        /// Override the pretraining steps.
        #[arg(long)]
        pretrain_steps: Option<u32>,
        /// Override the fine-tuning steps.
        #[arg(long)]
        finetune_steps: Option<u32>,
        /// Override any preset field, e.g. `--set finetune_lr=5e-4` (repeatable; see summary.json's config).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Embed texts with a BERT model: one JSON object per input line.
    Embed(bert::EmbedArgs),
    /// Predict the [MASK] tokens of each input line: one JSON object per line.
    FillMask(bert::FillMaskArgs),
    /// Pretrain, fine-tune or apply BERT models.
    #[command(subcommand)]
    Bert(bert::BertCommand),
    /// Autoencoders on images: train (ae, dae, sparse, vae), reconstruct, sample, evaluate.
    #[command(subcommand)]
    Ae(ae::AeCommand),
    /// Linear-probe and kNN accuracy of an image encoder's frozen features (or of the raw pixels, or of the
    /// encoder at its initial weights); prints one JSON object.
    Probe(probe::ProbeArgs),
}

/// Opens the device the arguments ask for.
pub fn open_gpu(args: &DeviceArgs) -> Result<Gpu> {
    Gpu::new(&GpuOptions { backend: args.backend.clone(), adapter_name: args.adapter.clone(), profile: args.profile })
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
            let mut b = crate::bench::Bench::new(&gpu, filter.clone(), *json);
            b.reps = (*reps).max(1);
            crate::bench::run_all(&mut b)?;
        }
        Command::Demo { out, preset, pretrain_steps, finetune_steps, set } => {
            let name = preset.clone().unwrap_or_else(|| crate::demo::DemoConfig::preset_for(&gpu).to_string());
            let mut c = crate::demo::DemoConfig::preset(&name)?.with_overrides(set)?;
            if let Some(s) = pretrain_steps {
                c.pretrain_steps = *s;
            }
            if let Some(s) = finetune_steps {
                c.finetune_steps = *s;
            }
            crate::demo::run(&gpu, &c, out, true)?;
        }
        Command::Embed(a) => bert::embed(&gpu, a)?,
        Command::FillMask(a) => bert::fill_mask(&gpu, a)?,
        Command::Bert(bert::BertCommand::Pretrain(a)) => bert::pretrain(&gpu, a)?,
        Command::Bert(bert::BertCommand::Finetune(a)) => bert::finetune(&gpu, a)?,
        Command::Bert(bert::BertCommand::Classify(a)) => bert::classify(&gpu, a)?,
        Command::Ae(ae::AeCommand::Train(a)) => ae::train(&gpu, a)?,
        Command::Ae(ae::AeCommand::Reconstruct(a)) => ae::reconstruct(&gpu, a)?,
        Command::Ae(ae::AeCommand::Sample(a)) => ae::sample(&gpu, a)?,
        Command::Ae(ae::AeCommand::Eval(a)) => ae::eval(&gpu, a)?,
        Command::Probe(a) => probe::run(&gpu, a)?,
    }
    if cli.device.profile {
        let rows = gpu.take_profile()?;
        eprint!("{}", crate::gpu::timing::format_summary(&rows, gpu.clock()));
    }
    Ok(())
}

fn info(gpu: &Gpu, json: bool) -> Result<()> {
    let r = gpu.report();
    if json {
        println!("{}", serde_json::to_string(r).map_err(|e| crate::Error::Invalid(e.to_string()))?);
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
    Ok(())
}
