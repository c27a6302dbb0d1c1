//! Checkpoints: safetensors files with HuggingFace names, and the writes that a kill at any instant cannot
//! leave half done (`commit`: files, whole directories, model directories; `steps`: the `step-K/` training
//! checkpoints of a run). Loading converts f16/bf16/f64 to f32 and names the file and tensor in every error.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub mod commit;
pub mod steps;

pub use commit::{commit_dir, commit_model_dir, write_atomic, MODEL_MARKER};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// A tensor read from a file, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The tensors of one safetensors file, by name.
#[derive(Debug, Clone)]
pub struct TensorFile {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, HostTensor>,
    pub metadata: HashMap<String, String>,
}

/// Saves named device tensors (f32, or i32 as i32) as safetensors at `path` (reads them back from the device).
pub fn save(gpu: &Gpu, path: &Path, tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<()> {
    let mut host: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let (dtype, bytes) = match t.dtype() {
            DType::F32 => (Dtype::F32, bytemuck::cast_slice(&t.to_vec::<f32>(gpu)?).to_vec()),
            DType::F16 => (Dtype::F16, bytemuck::cast_slice(&t.to_vec::<half::f16>(gpu)?).to_vec()),
            DType::I32 => (Dtype::I32, bytemuck::cast_slice(&t.to_vec::<i32>(gpu)?).to_vec()),
            DType::U32 => (Dtype::U32, bytemuck::cast_slice(&t.to_vec::<u32>(gpu)?).to_vec()),
        };
        host.push((name.clone(), dtype, t.shape().to_vec(), bytes));
    }
    save_host(path, &host, metadata)
}

/// Saves host tensors (name, dtype, shape, little-endian bytes) as safetensors at `path`.
pub fn save_host(path: &Path, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)], metadata: Option<HashMap<String, String>>) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, dtype, shape, bytes) in tensors {
        let v = TensorView::new(*dtype, shape.clone(), bytes).map_err(|e| Error::Invalid(format!("{}: tensor \"{name}\": {e}", path.display())))?;
        views.push((name.clone(), v));
    }
    let bytes = safetensors::serialize(views, metadata).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

fn to_f32(path: &Path, name: &str, v: &TensorView) -> Result<Vec<f32>> {
    let d = v.data();
    Ok(match v.dtype() {
        Dtype::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(d),
        Dtype::F16 => bytemuck::pod_collect_to_vec::<u8, half::f16>(d).into_iter().map(f32::from).collect(),
        Dtype::BF16 => bytemuck::pod_collect_to_vec::<u8, half::bf16>(d).into_iter().map(f32::from).collect(),
        Dtype::F64 => bytemuck::pod_collect_to_vec::<u8, f64>(d).into_iter().map(|x| x as f32).collect(),
        Dtype::I64 => bytemuck::pod_collect_to_vec::<u8, i64>(d).into_iter().map(|x| x as f32).collect(),
        Dtype::I32 => bytemuck::pod_collect_to_vec::<u8, i32>(d).into_iter().map(|x| x as f32).collect(),
        other => crate::bail!(Invalid, "{}: tensor \"{name}\" has unsupported dtype {other:?}", path.display()),
    })
}

/// Reads every tensor of a safetensors file as f32.
pub fn load(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::Invalid(format!("{}: not a valid safetensors file (truncated or corrupt?): {e}", path.display())))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut tensors = BTreeMap::new();
    for (name, v) in st.tensors() {
        let data = to_f32(path, &name, &v)?;
        tensors.insert(name, HostTensor { shape: v.shape().to_vec(), data });
    }
    Ok(TensorFile { path: path.to_path_buf(), tensors, metadata: meta.metadata().clone().unwrap_or_default() })
}

impl TensorFile {
    /// The tensor `name`, which must have shape `shape`; the error names the file and the tensor.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&HostTensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("{}: missing tensor \"{name}\"", self.path.display())))?;
        if t.shape != shape {
            crate::bail!(Shape, "{}: tensor \"{name}\" is {:?}, expected {shape:?}", self.path.display(), t.shape);
        }
        Ok(t)
    }

    /// Copies tensor `name` into the device tensor `dst` (same shape), in place.
    pub fn load_into(&self, gpu: &Gpu, name: &str, dst: &Tensor) -> Result<()> {
        let t = self.get(name, dst.shape())?;
        dst.expect_dtype("checkpoint load", name, DType::F32)?;
        gpu.upload(dst.buffer(), bytemuck::cast_slice(&t.data))
    }

    /// Tensor `name` as a new device tensor of its stored shape.
    pub fn to_device(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("{}: missing tensor \"{name}\"", self.path.display())))?;
        Tensor::from_slice(gpu, &t.data, &t.shape)
    }
}
