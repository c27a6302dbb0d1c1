//! Contrastive views on the GPU (`shaders/augment.wgsl`): random resized crop (bilinear), horizontal flip,
//! colour jitter in a random order (brightness, contrast; saturation and hue for RGB), greyscale, Gaussian blur,
//! solarize and normalisation, every random choice given per view (`ViewParams`, drawn on the host from a seed
//! by `data::views`), so a view is a pure function of its image and its parameters.
use bytemuck::{Pod, Zeroable};

use super::launch;
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};
use crate::{Error, Result};

/// The random choices of one view (= the 16 values per view that augment.wgsl reads). Factors of 1 (hue 0),
/// flags of 0 and sigma 0 leave the image as it is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct ViewParams {
    /// Crop window in source pixels: top row, left column, height, width (whole numbers, inside the image).
    pub crop: [f32; 4],
    /// 1: mirror left-right after the crop.
    pub flip: f32,
    /// Brightness factor b: x·b.
    pub brightness: f32,
    /// Contrast factor c: c·x + (1 − c)·mean(grey).
    pub contrast: f32,
    /// Saturation factor s: s·x + (1 − s)·grey (RGB only).
    pub saturation: f32,
    /// Hue shift in turns, in [−0.5, 0.5] (RGB only).
    pub hue: f32,
    /// The order of the four jitter steps: a permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [f32; 4],
    /// 1: replace every channel by the grey value (RGB only).
    pub grey: f32,
    /// Gaussian blur sigma in output pixels; 0: no blur.
    pub sigma: f32,
    /// 1: solarize (x ← 1 − x where x >= the threshold).
    pub solarize: f32,
}

impl ViewParams {
    /// The whole `height` × `width` image, untouched.
    pub fn identity(height: usize, width: usize) -> ViewParams {
        ViewParams {
            crop: [0.0, 0.0, height as f32, width as f32],
            flip: 0.0,
            brightness: 1.0,
            contrast: 1.0,
            saturation: 1.0,
            hue: 0.0,
            order: [0.0, 1.0, 2.0, 3.0],
            grey: 0.0,
            sigma: 0.0,
            solarize: 0.0,
        }
    }
}

/// What every view of one call shares: output size, blur taps, solarize threshold, normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewShape {
    pub out_h: usize,
    pub out_w: usize,
    /// Blur taps on each side (kernel size 2·radius + 1).
    pub radius: usize,
    /// Solarize threshold (lightly's 128/255 ≈ 0.5 on [0, 1] pixels).
    pub threshold: f32,
    /// Per-channel (mean, std) applied last; None: none.
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Dims {
    views: u32,
    batch: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    radius: u32,
    threshold: f32,
    _pad: [u32; 3],
    mean: [f32; 4],
    inv_std: [f32; 4],
} // = Dims in augment.wgsl

/// `params.len()` views of `images` (`[batch, C, H, W]`, values in [0, 1], C = 1 or 3): view v is made from
/// image v % batch with `params[v]` (see augment.wgsl for the exact steps), `[views, C, out_h, out_w]`.
pub fn augment(gpu: &Gpu, images: &Tensor, params: &[ViewParams], shape: &ViewShape) -> Result<Tensor> {
    const OP: &str = "augment";
    images.expect_dtype(OP, "images", DType::F32)?;
    let [batch, channels, in_h, in_w] = images.dims::<4>(OP, "images")?;
    let bad = |m: String| Err(Error::Invalid(format!("{OP}: {m}")));
    if channels != 1 && channels != 3 {
        return bad(format!("images have {channels} channels; views are made of grey (1) or RGB (3) images"));
    }
    if batch == 0 || in_h == 0 || in_w == 0 || shape.out_h == 0 || shape.out_w == 0 {
        return bad(format!("images {:?} and views of {}x{} must not be empty", images.shape(), shape.out_h, shape.out_w));
    }
    if params.is_empty() {
        return bad("no view parameters".into());
    }
    if shape.radius >= shape.out_h.min(shape.out_w) {
        return bad(format!("blur radius {} needs views larger than {}x{} (reflect padding)", shape.radius, shape.out_h, shape.out_w));
    }
    for (v, p) in params.iter().enumerate() {
        let [top, left, h, w] = p.crop;
        let whole = p.crop.iter().all(|c| c.fract() == 0.0 && *c >= 0.0);
        if !whole || h < 1.0 || w < 1.0 || top + h > in_h as f32 || left + w > in_w as f32 {
            return bad(format!("view {v}: crop {:?} (top, left, height, width) does not lie inside the {in_h}x{in_w} image", p.crop));
        }
        let mut order = p.order.map(|o| o as i32);
        order.sort();
        if order != [0, 1, 2, 3] {
            return bad(format!("view {v}: jitter order {:?} is not a permutation of 0..3", p.order));
        }
        if !(p.sigma >= 0.0) {
            return bad(format!("view {v}: blur sigma {} must be 0 or positive", p.sigma));
        }
    }
    let (mut mean, mut inv_std) = ([0.0f32; 4], [1.0f32; 4]);
    if let Some((m, s)) = &shape.normalize {
        if m.len() != channels || s.len() != channels || s.iter().any(|v| !(*v > 0.0)) {
            return bad(format!("normalisation mean {m:?} and std {s:?} need one value per channel ({channels}), std positive"));
        }
        for c in 0..channels {
            mean[c] = m[c];
            inv_std[c] = 1.0 / s[c];
        }
    }
    let views = params.len();
    let out = Tensor::empty(gpu, &[views, channels, shape.out_h, shape.out_w], DType::F32)?;
    let scratch = Tensor::empty(gpu, out.shape(), DType::F32)?;
    let flat: Vec<f32> = bytemuck::cast_slice(params).to_vec();
    let params_t = Tensor::from_slice(gpu, &flat, &[views, 16])?;
    let dims = Dims {
        views: views as u32,
        batch: batch as u32,
        channels: channels as u32,
        in_h: in_h as u32,
        in_w: in_w as u32,
        out_h: shape.out_h as u32,
        out_w: shape.out_w as u32,
        radius: shape.radius as u32,
        threshold: shape.threshold,
        _pad: [0; 3],
        mean,
        inv_std,
    };
    launch(gpu, "augment", "augment", &[], &dims, &[images, &params_t], &[&out, &scratch], gpu.grid_1d(views)?)?;
    Ok(out)
}
