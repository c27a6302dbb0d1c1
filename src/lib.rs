//! pretext: train self-supervised encoders on any GPU through WebGPU.
//!
//! Layers, each importing only those below it:
//! `gpu` → `tensor` → `kernels` → (autograd → nn → optim → models → data, checkpoint → train) → `cli`.
pub mod error;
pub mod gpu;
pub mod kernels;
pub mod tensor;

pub mod bench;
pub mod cli;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::{DType, Tensor};
pub mod autograd;
pub mod nn;
pub mod rng;
pub mod optim;
pub mod checkpoint;
pub mod train;
pub mod plot;
