//! Benchmarks of the losses kernels.
use super::Bench;
use crate::Result;

/// Times the losses kernels.
pub fn run(_b: &mut Bench) -> Result<()> {
    Ok(())
}
