//! The VAE's analytic KL term (`shaders/kl_normal.wgsl`): KL(N(μ, exp(logvar)) ‖ N(0, I)) per row, the scaled
//! total and its gradients with respect to μ and logvar, in one pass.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// The loss, its two gradients and the per-row KL.
#[derive(Debug, Clone)]
pub struct KlOut {
    /// `[1]`: scale · Σ_r KL_r.
    pub loss: Tensor,
    /// `[rows, dim]`: d loss / d μ = scale · μ.
    pub dmu: Tensor,
    /// `[rows, dim]`: d loss / d logvar = scale · (exp(logvar) − 1) / 2.
    pub dlogvar: Tensor,
    /// `[rows]`: KL_r = ½ Σ_d (μ² + exp(logvar) − 1 − logvar), unscaled (nats per image).
    pub row_kl: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    scale: f32,
    _pad: u32,
} // = Params in kl_normal.wgsl

/// scale · Σ_r ½ Σ_d (μ² + exp(lv) − 1 − lv) for μ and lv (log-variance) both `[rows, dim]`.
pub fn kl_normal(gpu: &Gpu, mu: &Tensor, logvar: &Tensor, scale: f32) -> Result<KlOut> {
    const OP: &str = "kl_normal";
    mu.expect_dtype(OP, "mu", DType::F32)?;
    logvar.expect_dtype(OP, "logvar", DType::F32)?;
    let [rows, dim] = mu.dims(OP, "mu")?;
    logvar.expect_shape(OP, "logvar", &[rows, dim])?;
    u32::try_from(rows * dim).map_err(|_| Error::Shape(format!("{OP}: mu has {} elements, more than a kernel can index", rows * dim)))?;
    let p = Params { rows: rows as u32, dim: dim as u32, scale, _pad: 0 };
    let loss = Tensor::empty(gpu, &[1], DType::F32)?;
    let dmu = Tensor::empty(gpu, &[rows, dim], DType::F32)?;
    let dlogvar = Tensor::empty(gpu, &[rows, dim], DType::F32)?;
    let row_kl = Tensor::empty(gpu, &[rows], DType::F32)?;
    if rows > 0 && dim == 0 {
        crate::kernels::fill::fill(gpu, &row_kl, 0.0)?;
    } else if rows > 0 {
        let (entry, groups) = if super::bce::workgroup_per_row(gpu, rows, dim) {
            ("kl_rows_wg", gpu.grid_1d(rows)?)
        } else {
            ("kl_rows", gpu.grid_1d(rows.div_ceil(64))?)
        };
        launch(gpu, "kl_normal", entry, &[], &p, &[mu, logvar], &[&dmu, &dlogvar, &row_kl], groups)?;
    }
    let totals = if rows > 0 { row_kl.clone() } else { crate::kernels::fill::full(gpu, &[1], 0.0)? };
    let p_total = Params { rows: rows.max(1) as u32, ..p };
    launch(gpu, "kl_normal", "kl_total", &[], &p_total, &[&totals], &[&loss], [1, 1, 1])?;
    Ok(KlOut { loss, dmu, dlogvar, row_kl })
}
