//! Host-side image augmentation for MAE pretraining and fine-tuning (He et al. use only these two):
//! torchvision's `RandomResizedCrop` (scale and aspect-ratio ranges, bilinear back to the input size) and a
//! horizontal flip with probability 0.5. Images are f32 `[channels, height, width]`; interpolation is linear,
//! so cropping a normalised image equals normalising a cropped one. (The contrastive issue moves augmentation
//! to the GPU; at 28×28 and MAE's batch sizes this costs well under a millisecond a batch.)
use crate::data::images::resize_bilinear;
use crate::rng::Rng;

/// The crop window (top, left, height, width) that torchvision's `RandomResizedCrop.get_params` draws: up to
/// ten tries of an area fraction in `scale` and a log-uniform aspect ratio in `ratio`, else the centre crop
/// clamped to the ratio range.
pub fn crop_window(height: usize, width: usize, scale: (f64, f64), ratio: (f64, f64), rng: &mut Rng) -> (usize, usize, usize, usize) {
    let area = (height * width) as f64;
    let (lr0, lr1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * (scale.0 + (scale.1 - scale.0) * rng.uniform());
        let aspect = (lr0 + (lr1 - lr0) * rng.uniform()).exp();
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if w > 0 && w <= width && h > 0 && h <= height {
            let top = rng.below(height - h + 1);
            let left = rng.below(width - w + 1);
            return (top, left, h, w);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (h, w) = if in_ratio < ratio.0 {
        ((width as f64 / ratio.0).round() as usize, width)
    } else if in_ratio > ratio.1 {
        (height, (height as f64 * ratio.1).round() as usize)
    } else {
        (height, width)
    };
    ((height - h) / 2, (width - w) / 2, h, w)
}

/// A random resized crop of `x` (`[channels, height, width]`) back to its own size, then a horizontal flip with
/// probability 0.5: MAE's pretraining augmentation with `scale` (0.2, 1) and ratio (3/4, 4/3).
pub fn random_resized_crop_flip(x: &[f32], channels: usize, height: usize, width: usize, scale: (f64, f64), rng: &mut Rng) -> Vec<f32> {
    let (top, left, h, w) = crop_window(height, width, scale, (3.0 / 4.0, 4.0 / 3.0), rng);
    let mut crop = Vec::with_capacity(channels * h * w);
    for c in 0..channels {
        for y in top..top + h {
            let row = (c * height + y) * width;
            crop.extend_from_slice(&x[row + left..row + left + w]);
        }
    }
    let mut out = resize_bilinear(&crop, channels, h, w, height, width);
    if rng.uniform() < 0.5 {
        for row in out.chunks_mut(width) {
            row.reverse();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_lie_inside_and_cover_the_scale_range() {
        let mut rng = Rng::new(1);
        let mut fractions = Vec::new();
        for _ in 0..2000 {
            let (t, l, h, w) = crop_window(28, 28, (0.2, 1.0), (0.75, 4.0 / 3.0), &mut rng);
            assert!(h > 0 && w > 0 && t + h <= 28 && l + w <= 28, "window {t} {l} {h} {w}");
            fractions.push((h * w) as f64 / 784.0);
        }
        let (lo, hi) = fractions.iter().fold((1.0f64, 0.0f64), |(a, b), &f| (a.min(f), b.max(f)));
        assert!(lo < 0.25 && hi > 0.95, "area fractions span [{lo}, {hi}]");
    }

    #[test]
    fn the_full_window_without_flip_is_the_identity_and_flip_mirrors() {
        let x: Vec<f32> = (0..2 * 4 * 4).map(|i| i as f32).collect();
        // scale (1, 1) and a square image: the whole image, resized to itself.
        let mut seen = [false; 2];
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let y = random_resized_crop_flip(&x, 2, 4, 4, (1.0, 1.0), &mut rng);
            let flipped = y[0] != x[0];
            seen[flipped as usize] = true;
            for (r, row) in y.chunks(4).enumerate() {
                let mut want = x[r * 4..r * 4 + 4].to_vec();
                if flipped {
                    want.reverse();
                }
                assert_eq!(row, &want[..], "row {r} (flipped {flipped})");
            }
        }
        assert!(seen[0] && seen[1], "both flipped and unflipped images in 20 draws");
    }
}
