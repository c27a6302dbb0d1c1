//! Benchmarks of the optim kernels: fused AdamW (7 f32 streams per element) and the gradient norm.
use super::{Bench, Work};
use crate::kernels::{fill, optim};
use crate::Result;

/// Times the optim kernels.
pub fn run(b: &mut Bench) -> Result<()> {
    let gpu = b.gpu;
    for (name, n) in [("4M", 4usize << 20), ("22M", 22 << 20)] {
        if b.wants("adamw") {
            let param = fill::full(gpu, &[n], 0.5)?;
            let grad = fill::full(gpu, &[n], 0.01)?;
            let m = fill::full(gpu, &[n], 0.0)?;
            let v = fill::full(gpu, &[n], 0.0)?;
            let scale = fill::full(gpu, &[1], 0.9)?;
            let h = optim::AdamW { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.05, step: 10 };
            b.time("adamw", name, Work::bytes(28.0 * n as f64), |g| optim::adamw(g, &param, &grad, &m, &v, &h, Some(&scale)))?;
        }
        if b.wants("sum_squares") {
            let x = fill::full(gpu, &[n], 0.5)?;
            b.time("sum_squares", name, Work::bytes(4.0 * n as f64), |g| optim::sum_squares(g, &[&x]).map(|_| ()))?;
        }
    }
    Ok(())
}
