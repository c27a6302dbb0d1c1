//! Benchmarks of the optim kernels.
use super::Bench;
use crate::Result;

/// Times the optim kernels.
pub fn run(_b: &mut Bench) -> Result<()> {
    Ok(())
}
