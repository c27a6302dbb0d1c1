//! The two augmented views of each image that contrastive methods compare: per-method recipes (lightly's
//! transforms, scaled for small images) and the drawing of every random choice on the host from the seed, so
//! the GPU kernel (`kernels::augment`) makes the views and a CPU reference can check them.
//!
//! The recipes follow lightly's `SimCLRTransform`, `BYOLView1Transform`/`BYOLView2Transform` (MoCo v3 uses
//! BYOL's views, as its paper says) in torchvision's order: random resized crop, horizontal flip, colour jitter
//! (probability 0.8, its four steps in a random order), greyscale (probability 0.2), Gaussian blur, solarize.
//! Scaled for 28×28: the blur kernel is 10% of the side as in SimCLR (3 taps at 28 pixels, radius 1) with σ
//! drawn from (0.1, 2.0); the crop scale keeps lightly's upper bound 1 with a lower bound of 0.2 at this size
//! (0.08 of 28×28 is a 8×8 window, too little of a garment to tell it apart; MAE's 0.2 is used instead).
use crate::kernels::augment::{ViewParams, ViewShape};
use crate::rng::Rng;
use crate::{Error, Result};

use super::augment::crop_window;

/// The random transform of one view; every probability in [0, 1].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewRecipe {
    /// Area fraction of the crop.
    pub crop_scale: (f64, f64),
    /// Aspect ratio (width / height) of the crop, drawn log-uniformly.
    pub crop_ratio: (f64, f64),
    pub flip_p: f64,
    /// Probability that colour jitter is applied.
    pub jitter_p: f64,
    /// Jitter strengths: factors drawn from [max(0, 1 − x), 1 + x] (hue: [−x, x]).
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
    pub grey_p: f64,
    pub blur_p: f64,
    /// Blur σ range in pixels.
    pub sigma: (f64, f64),
    pub solarize_p: f64,
}

impl ViewRecipe {
    /// lightly's `SimCLRTransform` (colour strength 1: brightness, contrast, saturation 0.8, hue 0.2; blur with
    /// probability 0.5), with the crop scale for small images.
    pub fn simclr() -> ViewRecipe {
        ViewRecipe {
            crop_scale: (0.2, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            jitter_p: 0.8,
            brightness: 0.8,
            contrast: 0.8,
            saturation: 0.8,
            hue: 0.2,
            grey_p: 0.2,
            blur_p: 0.5,
            sigma: (0.1, 2.0),
            solarize_p: 0.0,
        }
    }

    /// lightly's `BYOLView1Transform` (`second` = false: blur always, no solarize) or `BYOLView2Transform`
    /// (blur 0.1, solarize 0.2): jitter 0.4, 0.4, 0.2, 0.1.
    pub fn byol(second: bool) -> ViewRecipe {
        ViewRecipe {
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.2,
            hue: 0.1,
            blur_p: if second { 0.1 } else { 1.0 },
            solarize_p: if second { 0.2 } else { 0.0 },
            ..ViewRecipe::simclr()
        }
    }

    /// Errors when a probability or range makes no sense.
    pub fn validate(&self) -> Result<()> {
        let p = [self.flip_p, self.jitter_p, self.grey_p, self.blur_p, self.solarize_p];
        if p.iter().any(|v| !(0.0..=1.0).contains(v)) {
            crate::bail!(Invalid, "view recipe: probabilities {p:?} must lie in [0, 1]");
        }
        let (lo, hi) = self.crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            crate::bail!(Invalid, "view recipe: crop scale ({lo}, {hi}) must satisfy 0 < lo <= hi <= 1");
        }
        let (lo, hi) = self.crop_ratio;
        if !(lo > 0.0 && lo <= hi) {
            crate::bail!(Invalid, "view recipe: crop ratio ({lo}, {hi}) must satisfy 0 < lo <= hi");
        }
        let (lo, hi) = self.sigma;
        if !(lo > 0.0 && lo <= hi) {
            crate::bail!(Invalid, "view recipe: blur sigma ({lo}, {hi}) must satisfy 0 < lo <= hi");
        }
        if [self.brightness, self.contrast, self.saturation].iter().any(|v| !(*v >= 0.0)) || !(0.0..=0.5).contains(&self.hue) {
            crate::bail!(Invalid, "view recipe: jitter strengths must be >= 0 and hue in [0, 0.5]");
        }
        Ok(())
    }

    /// Draws one view's parameters for an image of `height` × `width`, in torchvision's order of draws.
    pub fn draw(&self, height: usize, width: usize, rng: &mut Rng) -> ViewParams {
        let mut v = ViewParams::identity(height, width);
        let (top, left, h, w) = crop_window(height, width, self.crop_scale, self.crop_ratio, rng);
        v.crop = [top as f32, left as f32, h as f32, w as f32];
        v.flip = (rng.uniform() < self.flip_p) as u8 as f32;
        if rng.uniform() < self.jitter_p {
            // ColorJitter.get_params: a random order, then each factor.
            let mut order = [0usize, 1, 2, 3];
            rng.shuffle(&mut order);
            v.order = order.map(|o| o as f32);
            let factor = |x: f64, rng: &mut Rng| ((1.0 - x).max(0.0) + (1.0 + x - (1.0 - x).max(0.0)) * rng.uniform()) as f32;
            v.brightness = factor(self.brightness, rng);
            v.contrast = factor(self.contrast, rng);
            v.saturation = factor(self.saturation, rng);
            v.hue = (-self.hue + 2.0 * self.hue * rng.uniform()) as f32;
        }
        v.grey = (rng.uniform() < self.grey_p) as u8 as f32;
        if rng.uniform() < self.blur_p {
            v.sigma = (self.sigma.0 + (self.sigma.1 - self.sigma.0) * rng.uniform()) as f32;
        }
        v.solarize = (rng.uniform() < self.solarize_p) as u8 as f32;
        v
    }
}

/// A method's two views and what they share.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewPair {
    pub first: ViewRecipe,
    pub second: ViewRecipe,
    /// Blur taps on each side: 10% of the image side as an odd kernel (SimCLR), radius 1 at 28 pixels.
    pub blur_radius: usize,
    /// Solarize threshold on [0, 1] pixels (lightly: 128 of 255).
    pub threshold: f32,
}

impl ViewPair {
    /// The views of `method` ("simclr", "moco", "byol") for square-ish images of side `size`.
    pub fn for_method(method: &str, size: usize) -> Result<ViewPair> {
        let (first, second) = match method {
            "simclr" => (ViewRecipe::simclr(), ViewRecipe::simclr()),
            "moco" | "byol" => (ViewRecipe::byol(false), ViewRecipe::byol(true)),
            other => return Err(Error::Invalid(format!("unknown method {other:?}: expected simclr, moco or byol"))),
        };
        Ok(ViewPair { first, second, blur_radius: blur_radius(size), threshold: 128.0 / 255.0 })
    }

    /// `2 · batch` views' parameters for `batch` images of `height` × `width`: the first view of every image,
    /// then the second (view v of image v % batch, as `kernels::augment` takes them).
    pub fn draw(&self, batch: usize, height: usize, width: usize, rng: &mut Rng) -> Vec<ViewParams> {
        let mut out: Vec<ViewParams> = (0..batch).map(|_| self.first.draw(height, width, rng)).collect();
        out.extend((0..batch).map(|_| self.second.draw(height, width, rng)));
        out
    }

    /// The shape every view of `height` × `width` images shares (no normalisation: the model takes [0, 1]).
    pub fn shape(&self, height: usize, width: usize) -> ViewShape {
        ViewShape {
            out_h: height,
            out_w: width,
            radius: self.blur_radius.min(height.min(width).saturating_sub(1)),
            threshold: self.threshold,
            normalize: None,
        }
    }
}

/// Blur radius for images of side `size`: a kernel of 10% of the side, made odd (SimCLR), at least 3 taps.
pub fn blur_radius(size: usize) -> usize {
    ((size as f64 * 0.1).round() as usize / 2).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_recipe() {
        let mut rng = Rng::new(3);
        let r = ViewRecipe::byol(false);
        let mut jittered = 0;
        for _ in 0..1000 {
            let v = r.draw(28, 28, &mut rng);
            assert!(v.sigma >= 0.1 && v.sigma <= 2.0, "BYOL's first view always blurs: sigma {}", v.sigma);
            assert_eq!(v.solarize, 0.0);
            let mut o = v.order.map(|x| x as usize);
            o.sort();
            assert_eq!(o, [0, 1, 2, 3]);
            assert!(v.brightness >= 0.6 && v.brightness <= 1.4 && v.hue.abs() <= 0.1);
            jittered += (v.brightness != 1.0) as usize;
        }
        assert!((700..900).contains(&jittered), "jitter applied to {jittered} of 1000 views (p 0.8)");
        assert_eq!(blur_radius(28), 1);
        assert_eq!(blur_radius(224), 11);
        assert!(ViewPair::for_method("swav", 28).is_err());
    }
}
