//! Kernel launchers: one module per shader family. Each checks shapes and dtypes, allocates outputs,
//! picks the grid from the adapter's limits and records the dispatch.
use bytemuck::Pod;

use crate::gpu::{Dispatch, Gpu};
use crate::tensor::Tensor;
use crate::Result;

pub mod activation;
pub mod augment;
pub mod batchnorm;
pub mod attention;
pub mod bce;
pub mod cross_entropy;
pub mod dropout;
pub mod elementwise;
pub mod embedding;
pub mod fill;
pub mod kl_normal;
pub mod layernorm;
pub mod layout;
pub mod matmul;
pub mod noise;
pub mod nt_xent;
pub mod optim;
pub mod patch;
pub mod recon_loss;
pub mod reduce;
pub mod softmax;
pub mod variants;

/// Records one dispatch of `shader::entry` with `params` at binding 0, `reads` then `writes` as storage buffers.
#[allow(clippy::too_many_arguments)]
pub fn launch<P: Pod>(
    gpu: &Gpu,
    shader: &'static str,
    entry: &'static str,
    constants: &[(&str, f64)],
    params: &P,
    reads: &[&Tensor],
    writes: &[&Tensor],
    groups: [u32; 3],
) -> Result<()> {
    let reads: Vec<_> = reads.iter().map(|t| t.binding()).collect();
    let writes: Vec<_> = writes.iter().map(|t| t.binding()).collect();
    gpu.dispatch(&Dispatch {
        shader,
        entry,
        constants,
        params: bytemuck::bytes_of(params),
        reads: &reads,
        writes: &writes,
        groups,
    })
}
