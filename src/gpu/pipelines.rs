//! Pipeline cache: each (shader, entry point, override constants) is compiled once; layouts are built once per binding shape.
//! A shader module that needs an adapter feature the device lacks (`// requires:` in its file) is refused
//! here with an error naming the module and the feature, before wgpu sees it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::shaders;
use crate::{Error, Result};

/// The key of a compiled pipeline.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: &'static str,
    entry: &'static str,
    constants: String,
}

/// Bind-group layout for one uniform block then `reads` read-only and `writes` read-write storage buffers.
pub struct Layout {
    pub bind_group: wgpu::BindGroupLayout,
    pub pipeline: wgpu::PipelineLayout,
}

/// Compiled pipelines, shader modules and layouts of one device.
pub struct PipelineCache {
    /// The optional features the device was opened with.
    features: wgpu::Features,
    /// "adapter (backend)", for errors.
    adapter: String,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<(usize, usize), Arc<Layout>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    /// wgpu's pipeline cache persisted between runs, where the adapter has one (see `disk_cache`).
    pub(crate) disk: Option<super::disk_cache::DiskCache>,
}

fn poisoned<T>(_: T) -> Error {
    Error::Gpu("pipeline cache lock poisoned".into())
}

impl PipelineCache {
    /// An empty cache for a device opened with `features` on `adapter` ("name (backend)").
    pub fn new(features: wgpu::Features, adapter: String) -> PipelineCache {
        PipelineCache {
            features,
            adapter,
            modules: Mutex::default(),
            layouts: Mutex::default(),
            pipelines: Mutex::default(),
            disk: None,
        }
    }

    /// Whether shader module `shader` exists and the device has every feature it requires.
    pub fn supports(&self, shader: &str) -> bool {
        shaders::get(shader).is_some_and(|s| self.features.contains(s.requires))
    }

    /// The module `shader`, or an error naming a missing file or the features the device lacks.
    fn check(&self, shader: &str) -> Result<&'static shaders::Shader> {
        let s = shaders::get(shader).ok_or_else(|| Error::Gpu(format!("no shader file shaders/{shader}.wgsl")))?;
        let missing = s.requires.difference(self.features);
        if !missing.is_empty() {
            return Err(Error::Gpu(format!(
                "shaders/{shader}.wgsl requires the adapter feature(s) {}, which {} does not have: use the \
                 portable variant of this kernel family (chosen by default; see `pretext info`)",
                shaders::feature_names(missing).join(", "),
                self.adapter
            )));
        }
        Ok(s)
    }

    /// Number of pipelines compiled so far.
    pub fn len(&self) -> usize {
        self.pipelines.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Whether no pipeline has been compiled yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The layout for a uniform at binding 0, `reads` read-only storage buffers at 1.., then `writes` read-write ones.
    pub fn layout(&self, device: &wgpu::Device, reads: usize, writes: usize) -> Result<Arc<Layout>> {
        let mut layouts = self.layouts.lock().map_err(poisoned)?;
        if let Some(l) = layouts.get(&(reads, writes)) {
            return Ok(l.clone());
        }
        let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for i in 0..reads {
            entries.push(storage(1 + i as u32, true));
        }
        for i in 0..writes {
            entries.push(storage(1 + (reads + i) as u32, false));
        }
        let label = format!("pretext layout r{reads} w{writes}");
        let bind_group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&label), entries: &entries });
        let pipeline = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&bind_group)],
            immediate_size: 0,
        });
        let l = Arc::new(Layout { bind_group, pipeline });
        layouts.insert((reads, writes), l.clone());
        Ok(l)
    }

    /// The pipeline for `entry` of shader file `shader` with these override constants, compiled on first use.
    pub fn pipeline(
        &self,
        device: &wgpu::Device,
        shader: &'static str,
        entry: &'static str,
        constants: &[(&str, f64)],
        layout: &Layout,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = PipelineKey {
            shader,
            entry,
            constants: constants.iter().map(|(k, v)| format!("{k}={v};")).collect(),
        };
        if let Some(p) = self.pipelines.lock().map_err(poisoned)?.get(&key) {
            return Ok(p.clone());
        }
        let module = {
            let mut modules = self.modules.lock().map_err(poisoned)?;
            match modules.get(shader) {
                Some(m) => m.clone(),
                None => {
                    let src = self.check(shader)?.source;
                    let m = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(shader),
                        source: wgpu::ShaderSource::Wgsl(src.into()),
                    });
                    modules.insert(shader, m.clone());
                    m
                }
            }
        };
        let label = format!("{shader}::{entry}");
        let pipeline = Arc::new(device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&layout.pipeline),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants, zero_initialize_workgroup_memory: false },
            cache: self.disk.as_ref().map(|d| &d.cache),
        }));
        if let Some(d) = &self.disk {
            d.touch();
        }
        self.pipelines.lock().map_err(poisoned)?.insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
