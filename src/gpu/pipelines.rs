//! Pipeline cache: each (shader, entry point, override constants) is compiled once; layouts are built once per binding shape.
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
#[derive(Default)]
pub struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<(usize, usize), Arc<Layout>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
}

fn poisoned<T>(_: T) -> Error {
    Error::Gpu("pipeline cache lock poisoned".into())
}

impl PipelineCache {
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
                    let src = shaders::source(shader)
                        .ok_or_else(|| Error::Gpu(format!("no shader file shaders/{shader}.wgsl")))?;
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
            cache: None,
        }));
        self.pipelines.lock().map_err(poisoned)?.insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
