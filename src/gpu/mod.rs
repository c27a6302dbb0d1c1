//! The device: adapter choice, limits and features, buffer pool, pipeline cache, one-submit recording, timing.
pub mod disk_cache;
pub mod pipelines;
pub mod pool;
pub mod recorder;
mod serial;
pub mod shaders;
pub mod timing;

use std::sync::{Arc, Mutex};

pub use pool::{Pool, PoolStats, PooledBuffer};
pub use recorder::{Binding, Dispatch};
pub use timing::{Clock, KernelTime};

use crate::{Error, Result};

/// How to pick and open a device.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// "vulkan", "metal", "dx12" or "gl"; None follows `WGPU_BACKEND`, else any.
    pub backend: Option<String>,
    /// Substring of the adapter name; None follows `WGPU_ADAPTER_NAME`.
    pub adapter_name: Option<String>,
    /// Time every dispatch (GPU timestamps where the adapter has them).
    pub profile: bool,
    /// Optional features not to enable even where the adapter has them: `wgpu::Features::SUBGROUP` opens the
    /// device as an adapter without subgroups would be, so every kernel family takes its portable variant.
    pub disable: wgpu::Features,
    /// Adjusts the limits requested from the adapter (None: all the adapter offers); each must stay within
    /// the adapter's. Tests lower `max_storage_buffers_per_shader_stage` to WebGPU's default of 8.
    pub limits: Option<fn(wgpu::Limits) -> wgpu::Limits>,
}

/// What the engine got from the adapter: printed by `pretext info`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceReport {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// Optional features the engine enabled.
    pub features: Vec<String>,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_uniform_buffer_binding_size: u64,
    pub min_uniform_buffer_offset_alignment: u32,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    pub timestamp_period_ns: f32,
}

/// Optional features used when the adapter has them.
const WANTED: &[(wgpu::Features, &str)] = &[
    (wgpu::Features::SHADER_F16, "shader-f16"),
    (wgpu::Features::SHADER_INT64, "shader-int64"),
    (wgpu::Features::SUBGROUP, "subgroups"),
    (wgpu::Features::SUBGROUP_BARRIER, "subgroup-barrier"),
    (wgpu::Features::TIMESTAMP_QUERY, "timestamp-query"),
    (wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS, "timestamp-query-inside-encoders"),
    (wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES, "timestamp-query-inside-passes"),
];

/// One open device with its pool, pipeline cache and pending command encoder. Share it with `Arc`.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    features: wgpu::Features,
    limits: wgpu::Limits,
    info: wgpu::AdapterInfo,
    report: DeviceReport,
    pool: Arc<Pool>,
    pub(crate) pipelines: pipelines::PipelineCache,
    pub(crate) rec: Mutex<recorder::Recording>,
    errors: Arc<Mutex<Vec<String>>>,
    poison: std::sync::atomic::AtomicBool,
    /// One thread at a time in wgpu on the GL back end (see `serial`).
    pub(crate) serial: serial::Serial,
    /// FLOPs of the matrix products recorded so far (2·M·N·K each), see `product_flops`.
    product_flops: std::sync::atomic::AtomicU64,
}

impl Drop for Gpu {
    fn drop(&mut self) {
        if let Err(e) = self.save_pipeline_cache() {
            eprintln!("warning: pipeline cache not saved: {e}");
        }
    }
}

/// The optional feature named `name` as `pretext info` prints it (e.g. "subgroups").
pub fn parse_feature(name: &str) -> Result<wgpu::Features> {
    if name == "pipeline-cache" {
        return Ok(wgpu::Features::PIPELINE_CACHE);
    }
    WANTED.iter().find(|(_, n)| *n == name).map(|(f, _)| *f).ok_or_else(|| {
        let known: Vec<&str> = WANTED.iter().map(|(_, n)| *n).chain(["pipeline-cache"]).collect();
        Error::Invalid(format!("unknown feature {name:?}: expected one of {}", known.join(", ")))
    })
}

fn parse_backend(name: &str) -> Result<wgpu::Backends> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => wgpu::Backends::VULKAN,
        "metal" | "mtl" => wgpu::Backends::METAL,
        "dx12" | "d3d12" => wgpu::Backends::DX12,
        "gl" | "gles" | "opengl" => wgpu::Backends::GL,
        other => return Err(Error::Invalid(format!("unknown backend {other:?}: expected vulkan, metal, dx12 or gl"))),
    })
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

impl Gpu {
    /// Opens the best adapter allowed by `opts`: discrete before integrated before CPU, native APIs before GL.
    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if let Some(b) = &opts.backend {
            desc.backends = parse_backend(b)?;
        }
        let wanted_backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let name_filter = opts
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .map(|s| s.to_lowercase());
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wanted_backends));
        if let Some(f) = &name_filter {
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(f));
        }
        adapters.sort_by_key(|a| {
            let i = a.get_info();
            (backend_rank(i.backend), type_rank(i.device_type))
        });
        let Some(adapter) = adapters.into_iter().next() else {
            let which = match (&opts.backend, &name_filter) {
                (Some(b), _) => format!(" for backend {b}"),
                (None, Some(f)) => format!(" whose name contains {f:?}"),
                _ => String::new(),
            };
            return Err(Error::Gpu(format!(
                "no GPU adapter found{which}. Install a Vulkan, Metal or DX12 driver; on Linux without a GPU, \
                 install Mesa's software Vulkan driver: `sudo apt-get install mesa-vulkan-drivers`"
            )));
        };
        let info = adapter.get_info();
        let have = adapter.features();
        let mut features = wgpu::Features::empty();
        for (f, _) in WANTED {
            if have.contains(*f) && !opts.disable.contains(*f) {
                features |= *f;
            }
        }
        if !opts.disable.contains(wgpu::Features::PIPELINE_CACHE) && disk_cache::wanted(have, &info) {
            features |= wgpu::Features::PIPELINE_CACHE;
        }
        let limits = match opts.limits {
            Some(adjust) => adjust(adapter.limits()),
            None => adapter.limits(),
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("pretext"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Gpu(format!("could not open device on adapter {:?}: {e}", info.name)))?;

        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut v) = sink.lock() {
                v.push(format!("device lost ({reason:?}): {msg}"));
            }
        });

        let report = DeviceReport {
            adapter: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            features: WANTED
                .iter()
                .chain([&(wgpu::Features::PIPELINE_CACHE, "pipeline-cache")])
                .filter(|(f, _)| features.contains(*f))
                .map(|(_, n)| n.to_string())
                .collect(),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_uniform_buffer_binding_size: limits.max_uniform_buffer_binding_size as u64,
            min_uniform_buffer_offset_alignment: limits.min_uniform_buffer_offset_alignment,
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
            timestamp_period_ns: queue.get_timestamp_period(),
        };
        let pool = Arc::new(Pool::new(device.clone(), limits.max_buffer_size));
        let rec = recorder::Recording::new(&device, &limits, features, opts.profile);
        let serial = serial::Serial::new(info.backend == wgpu::Backend::Gl);
        let mut pipelines = pipelines::PipelineCache::new(features, format!("{} ({:?})", info.name, info.backend));
        if features.contains(wgpu::Features::PIPELINE_CACHE) {
            pipelines.disk = disk_cache::DiskCache::open(&device, &info);
        }
        Ok(Gpu {
            device,
            queue,
            features,
            limits,
            info,
            report,
            pool,
            pipelines,
            rec: Mutex::new(rec),
            errors,
            poison: Default::default(),
            serial,
            product_flops: Default::default(),
        })
    }

    /// What the adapter is and what the engine enabled on it.
    pub fn report(&self) -> &DeviceReport {
        &self.report
    }

    /// The adapter's limits, as requested.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The adapter's description.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// Whether an optional feature was enabled.
    pub fn has(&self, f: wgpu::Features) -> bool {
        self.features.contains(f)
    }

    /// Whether this is a CPU adapter (lavapipe, WARP, llvmpipe GL).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether shader module `shader` (a file stem of `shaders/`) can be compiled here: it exists and the device
    /// has every feature its `// requires:` line names. Variant rules ask this before picking a module.
    pub fn supports(&self, shader: &str) -> bool {
        self.pipelines.supports(shader)
    }

    /// The subgroup size kernels may rely on (the minimum the adapter reports), or None without subgroups.
    pub fn subgroup_size(&self) -> Option<u32> {
        self.has(wgpu::Features::SUBGROUP).then_some(self.info.subgroup_min_size)
    }

    /// A short name of the device for reports: "adapter (backend)".
    pub fn name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// The buffer pool.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Memory statistics of the pool.
    pub fn memory(&self) -> PoolStats {
        self.pool.stats()
    }

    /// A pooled buffer of at least `bytes` bytes; errors if larger than a storage binding may be.
    pub fn alloc(&self, bytes: u64) -> Result<PooledBuffer> {
        let _serial = self.serial.enter();
        let max = self.limits.max_storage_buffer_binding_size;
        if bytes > max {
            return Err(Error::Gpu(format!(
                "a tensor of {bytes} bytes exceeds this adapter's max storage binding of {max} bytes"
            )));
        }
        let b = self.pool.get(bytes)?;
        self.check_errors()?;
        Ok(b)
    }

    /// Number of pipelines compiled so far.
    pub fn pipelines_compiled(&self) -> usize {
        self.pipelines.len()
    }

    /// Writes the on-disk pipeline cache now (it is also written when the device is dropped); the file it
    /// persists to, or None where the adapter has no `PIPELINE_CACHE` or it is off (see `disk_cache`).
    pub fn save_pipeline_cache(&self) -> Result<Option<std::path::PathBuf>> {
        let _serial = self.serial.enter();
        match &self.pipelines.disk {
            Some(d) => d.save().map(|_| Some(d.path().to_path_buf())),
            None => Ok(None),
        }
    }

    /// FLOPs of every matrix product recorded on this device so far: 2·M·N·K per product and batch, counted by the
    /// matmul launcher (the fused attention kernels do not count theirs). The difference across a training step
    /// checks a model's FLOP count (`bench::flops`) against the products the engine actually ran.
    pub fn product_flops(&self) -> u64 {
        self.product_flops.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds `flops` to the product counter (`product_flops`).
    pub fn count_product_flops(&self, flops: u64) {
        self.product_flops.fetch_add(flops, std::sync::atomic::Ordering::Relaxed);
    }

    /// Returns the first error wgpu reported since the last check (validation, out of memory, device lost).
    pub fn check_errors(&self) -> Result<()> {
        let mut v = self.errors.lock().map_err(|_| Error::Gpu("error sink lock poisoned".into()))?;
        if v.is_empty() {
            return Ok(());
        }
        let msg = v.join("; ");
        v.clear();
        Err(Error::Gpu(msg))
    }
}
