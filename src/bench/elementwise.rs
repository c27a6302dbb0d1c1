//! Benchmarks of the elementwise kernels.
use super::Bench;
use crate::Result;

/// Times the elementwise kernels.
pub fn run(_b: &mut Bench) -> Result<()> {
    Ok(())
}
