//! Which variant of each kernel family an adapter gets, by the launchers' own rules: printed by `pretext info`.
use crate::gpu::{shaders, Gpu};

use super::attention::{AttentionPath, MATMUL_MAX_SCORE_BYTES};
use super::layernorm::wide_wg;
use super::matmul::MatmulTiling;

/// A shader module that needs an optional adapter feature, and whether this device compiles it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeatureModule {
    /// File stem in `shaders/`.
    pub name: String,
    /// The features it requires (names as in `features`).
    pub requires: Vec<String>,
    /// Whether the device has them all.
    pub available: bool,
}

/// The variants the launchers pick on one device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Variants {
    /// The matmul kernel every product takes (`MatmulTiling::for_adapter`): "matmul_sg8" or "matmul_tile".
    pub matmul: String,
    /// The attention rule (`AttentionPath::for_shape`), in words.
    pub attention: String,
    /// Invocations per workgroup of the workgroup-per-row norm and softmax kernels (`layernorm::wide_wg`).
    pub row_workgroup: u32,
    /// Every module that needs an optional feature, with its availability here.
    pub feature_modules: Vec<FeatureModule>,
}

/// The variants `gpu` gets.
pub fn variants(gpu: &Gpu) -> Variants {
    let tiling = MatmulTiling::for_adapter(gpu);
    let (shader, entry) = tiling.kernel();
    // a shape whose scores fit any budget: whether the matmul path is taken at all
    let attention = if AttentionPath::for_shape(gpu, [1, 1, 1, 1]) == AttentionPath::Matmul {
        format!("matmul path where batch·heads·seq² f32 scores fit {} MiB, else fused", MATMUL_MAX_SCORE_BYTES >> 20)
    } else {
        "fused (the matmul path is taken only with the subgroup matmul)".to_string()
    };
    Variants {
        matmul: format!("{entry} (shaders/{shader}.wgsl)"),
        attention,
        row_workgroup: wide_wg(gpu),
        feature_modules: shaders::SHADERS
            .iter()
            .filter(|s| !s.requires.is_empty())
            .map(|s| FeatureModule {
                name: s.name.to_string(),
                requires: shaders::feature_names(s.requires).into_iter().map(String::from).collect(),
                available: gpu.supports(s.name),
            })
            .collect(),
    }
}
