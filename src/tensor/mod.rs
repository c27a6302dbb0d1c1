//! Tensor = pooled device buffer + shape + dtype. Upload, download, reshape views without copies.
use std::sync::Arc;

use half::f16;

use crate::gpu::{Binding, Gpu, PooledBuffer};
use crate::{Error, Result};

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DType {
    F32,
    F16,
    I32,
    U32,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F16 => 2,
            _ => 4,
        }
    }

    /// Lower-case name, as in error messages.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::U32 => "u32",
        }
    }
}

/// A host element type that maps to a `DType`.
pub trait Element: bytemuck::Pod {
    /// The matching dtype.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for f16 {
    const DTYPE: DType = DType::F16;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}

/// A shaped, typed view of a pooled device buffer. Cloning shares the buffer; it returns to the pool with the last clone.
#[derive(Clone)]
pub struct Tensor {
    buf: Arc<PooledBuffer>,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({}{:?})", self.dtype.name(), self.shape)
    }
}

fn numel_of(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// An uninitialised tensor (contents are whatever the pooled buffer held).
    pub fn empty(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let bytes = (numel_of(shape) * dtype.size()) as u64;
        let buf = gpu.alloc(bytes.max(4)).map_err(|e| match e {
            Error::Gpu(m) => Error::Gpu(format!("tensor {}{shape:?}: {m}", dtype.name())),
            e => e,
        })?;
        let t = Tensor { buf: Arc::new(buf), shape: shape.to_vec(), dtype };
        if gpu.poison() {
            gpu.fill_words(t.binding(), 0x7fc0_7fc0)?; // NaN as f32, and as each f16 half
        }
        Ok(t)
    }

    /// A tensor holding `data` in `shape`.
    pub fn from_slice<T: Element>(gpu: &Gpu, data: &[T], shape: &[usize]) -> Result<Tensor> {
        if numel_of(shape) != data.len() {
            return Err(Error::Shape(format!("from_slice: {} values do not fill shape {shape:?}", data.len())));
        }
        let t = Tensor::empty(gpu, shape, T::DTYPE)?;
        gpu.upload(t.buffer(), bytemuck::cast_slice(data))?;
        Ok(t)
    }

    /// Copies the contents back to the host (submits pending work and waits).
    pub fn to_vec<T: Element>(&self, gpu: &Gpu) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DType(format!(
                "to_vec: tensor is {}, asked for {}",
                self.dtype.name(),
                T::DTYPE.name()
            )));
        }
        let bytes = gpu.read(self.buffer(), self.nbytes() as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Copies f32 or f16 contents back to the host as f32.
    pub fn to_f32(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        match self.dtype {
            DType::F32 => self.to_vec::<f32>(gpu),
            DType::F16 => Ok(self.to_vec::<f16>(gpu)?.into_iter().map(f16::to_f32).collect()),
            d => Err(Error::DType(format!("to_f32: tensor is {}", d.name()))),
        }
    }

    /// The same buffer seen with another shape of the same element count (no copy).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel_of(shape) != self.numel() {
            return Err(Error::Shape(format!("reshape: cannot view {:?} as {shape:?}", self.shape)));
        }
        Ok(Tensor { buf: self.buf.clone(), shape: shape.to_vec(), dtype: self.dtype })
    }

    /// A new tensor with a copy of this one's contents.
    pub fn deep_clone(&self, gpu: &Gpu) -> Result<Tensor> {
        let t = Tensor::empty(gpu, &self.shape, self.dtype)?;
        gpu.copy(self.buffer(), 0, t.buffer(), 0, (self.nbytes() as u64).next_multiple_of(4))?;
        Ok(t)
    }

    /// Copies `src`'s contents into this tensor (same shape and dtype).
    pub fn copy_from(&self, gpu: &Gpu, src: &Tensor) -> Result<()> {
        src.expect_dtype("copy_from", "src", self.dtype)?;
        src.expect_shape("copy_from", "src", &self.shape)?;
        gpu.copy(src.buffer(), 0, self.buffer(), 0, (self.nbytes() as u64).next_multiple_of(4))
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel_of(&self.shape)
    }

    /// Size of the contents in bytes.
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// The device buffer (may be larger than `nbytes`).
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buf.buffer()
    }

    /// Whether two tensors share one buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }

    /// The binding of this tensor's contents for a kernel: its bytes rounded up to whole vec4s (16 bytes), so
    /// that any kernel may view it as `array<vec4<f32>>` and load or store its last vec4 whole, or read a single
    /// element as one vec4. The padding belongs to no element; pool buffers are at least 256 bytes and a
    /// multiple of 64, so it is always there.
    pub fn binding(&self) -> Binding<'_> {
        let size = (self.nbytes() as u64).next_multiple_of(16).max(16).min(self.buffer().size());
        Binding { buffer: self.buffer(), size }
    }

    /// Errors unless the shape is exactly `want`; the message names the op and the tensor.
    pub fn expect_shape(&self, op: &str, name: &str, want: &[usize]) -> Result<()> {
        if self.shape != want {
            return Err(Error::Shape(format!("{op}: {name} has shape {:?}, expected {want:?}", self.shape)));
        }
        Ok(())
    }

    /// Errors unless the dtype is `want`.
    pub fn expect_dtype(&self, op: &str, name: &str, want: DType) -> Result<()> {
        if self.dtype != want {
            return Err(Error::DType(format!("{op}: {name} is {}, expected {}", self.dtype.name(), want.name())));
        }
        Ok(())
    }

    /// The dimensions of a tensor of rank N, or an error naming the op and tensor.
    pub fn dims<const N: usize>(&self, op: &str, name: &str) -> Result<[usize; N]> {
        <[usize; N]>::try_from(self.shape.as_slice())
            .map_err(|_| Error::Shape(format!("{op}: {name} has shape {:?}, expected rank {N}", self.shape)))
    }

    /// (rows, last dim): all leading dims folded into rows.
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = self.shape.last().copied().unwrap_or(1);
        (if cols == 0 { 0 } else { self.numel() / cols }, cols)
    }
}
