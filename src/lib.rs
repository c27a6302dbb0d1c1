//! pretext: train self-supervised encoders on any GPU through WebGPU.
//!
//! Layers, each importing only those below it:
//! `gpu` → `tensor` → `kernels` → `autograd` → `nn` → `optim` → `models` → `data`, `checkpoint` →
//! `train` → `tasks` → `eval` → `pipeline` → `demo`, `bench` → `cli`. `rng` and `plot` are leaf utilities.
pub mod error;
pub mod rng;

pub mod gpu;
pub mod tensor;
pub mod kernels;
pub mod autograd;
pub mod nn;
pub mod optim;
pub mod models;
pub mod checkpoint;
pub mod data;
pub mod pipeline;
pub mod train;
pub mod tasks;
pub mod eval;
pub mod plot;
pub mod demo;
pub mod bench;
pub mod cli;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::{DType, Tensor};
