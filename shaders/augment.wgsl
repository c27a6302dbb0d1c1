// augment.wgsl: views of a batch of images for contrastive learning, every random choice drawn on the host
// (per view, in `view_params`), so a CPU reference with the same parameters reproduces each view exactly.
// images[batch, C, H, W] in [0, 1] -> out[views, C, OH, OW]; view v is made from image v % batch, in the order
// torchvision applies lightly's SimCLR / BYOL transforms:
//   crop + resize:  s_y = clamp((oy + 0.5)·crop_h/OH − 0.5, 0, crop_h − 1), y0 = floor(s_y), y1 = min(y0 + 1,
//                   crop_h − 1) (same for x), bilinear between the source pixels (top + y, left + x): the
//                   resize of the crop with half-pixel centres (PyTorch's align_corners=False)
//   flip:           out(oy, ox) = resized(oy, OW − 1 − ox) when flip = 1
//   colour jitter:  four steps in the view's order (a permutation of 0..3, torchvision's fn_idx), each
//                   clamped to [0, 1]; a factor of 1 (hue 0) is the identity:
//                   0 brightness  x·b
//                   1 contrast    c·x + (1 − c)·mean(grey(x)) over the whole image
//                   2 saturation  s·x + (1 − s)·grey(x)                       (RGB only)
//                   3 hue         h ← (h + hue) mod 1 in HSV (torchvision's _rgb2hsv / _hsv2rgb)  (RGB only)
//                   grey(r, g, b) = 0.2989 r + 0.587 g + 0.114 b; a grey image is its own grey
//   greyscale:      every channel ← grey (RGB, when grey = 1)
//   blur:           separable Gaussian, taps t in [−R, R], w_t ∝ exp(−t²/(2σ²)) normalised (torchvision's
//                   GaussianBlur with kernel size 2R + 1), reflect padding; σ = 0 leaves the view as it is
//   solarize:       x ← 1 − x where x >= threshold (when solarize = 1)
//   normalise:      (x − mean_c)·inv_std_c
// One workgroup per view: each invocation owns the pixels lid, lid + WG, ... (all channels of each), so every
// step but the contrast mean and the blur reads only what the same invocation wrote. The contrast mean is a
// workgroup sum in a fixed order; the blur goes out → scratch → out with storage barriers between. Every
// barrier sits in uniform control flow: the per-view choices only change values (an identity factor, a delta
// kernel), never which barriers run.

struct Dims {
    views: u32,
    batch: u32,
    channels: u32,   // 1 or 3
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    radius: u32,     // blur taps on each side, R
    threshold: f32,  // solarize threshold
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    mean: vec4<f32>,     // per channel, normalisation
    inv_std: vec4<f32>,  // per channel
}

const WG: u32 = 64u;
const PARAMS: u32 = 16u; // f32 values per view, = ViewParams in kernels/augment.rs:
// 0 crop_top, 1 crop_left, 2 crop_h, 3 crop_w, 4 flip, 5 brightness, 6 contrast, 7 saturation, 8 hue,
// 9..12 jitter order, 13 grey, 14 sigma, 15 solarize

@group(0) @binding(0) var<uniform> d: Dims;
@group(0) @binding(1) var<storage, read> images: array<f32>;        // [batch, C, H, W]
@group(0) @binding(2) var<storage, read> view_params: array<f32>;   // [views, 16]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;     // [views, C, OH, OW]
@group(0) @binding(4) var<storage, read_write> scratch: array<f32>; // [views, C, OH, OW], the blur's middle

var<workgroup> partial: array<f32, WG>;

fn grey(c: vec3<f32>) -> f32 {
    return 0.2989 * c.x + 0.587 * c.y + 0.114 * c.z;
}

// torchvision _rgb2hsv.
fn rgb2hsv(c: vec3<f32>) -> vec3<f32> {
    let maxc = max(c.x, max(c.y, c.z));
    let minc = min(c.x, min(c.y, c.z));
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let ones = select(maxc, 1.0, eqc);
    let s = cr / ones;
    let cr_div = select(cr, 1.0, eqc);
    let rc = (maxc - c.x) / cr_div;
    let gc = (maxc - c.y) / cr_div;
    let bc = (maxc - c.z) / cr_div;
    let hr = select(0.0, bc - gc, maxc == c.x);
    let hg = select(0.0, 2.0 + rc - bc, maxc == c.y && maxc != c.x);
    let hb = select(0.0, 4.0 + gc - rc, maxc != c.y && maxc != c.x);
    let h = hr + hg + hb;
    let hf = h / 6.0 + 1.0;
    return vec3<f32>(hf - floor(hf), s, maxc);  // torch.fmod(h/6 + 1, 1) with h/6 + 1 > 0
}

// torchvision _hsv2rgb.
fn hsv2rgb(hsv: vec3<f32>) -> vec3<f32> {
    let h6 = hsv.x * 6.0;
    let fi = floor(h6);
    let f = h6 - fi;
    let i = u32(fi) % 6u;
    let v = hsv.z;
    let p = clamp(v * (1.0 - hsv.y), 0.0, 1.0);
    let q = clamp(v * (1.0 - hsv.y * f), 0.0, 1.0);
    let t = clamp(v * (1.0 - hsv.y * (1.0 - f)), 0.0, 1.0);
    switch i {
        case 0u: { return vec3<f32>(v, t, p); }
        case 1u: { return vec3<f32>(q, v, p); }
        case 2u: { return vec3<f32>(p, v, t); }
        case 3u: { return vec3<f32>(p, q, v); }
        case 4u: { return vec3<f32>(t, p, v); }
        default: { return vec3<f32>(v, p, q); }
    }
}

fn param(view: u32, k: u32) -> f32 {
    return view_params[view * PARAMS + k];
}

// Reflect padding (no edge repeat): −1 → 1, n → n − 2.
fn reflect(i: i32, n: i32) -> u32 {
    var j = i;
    if (j < 0) { j = -j; }
    if (j >= n) { j = 2 * (n - 1) - j; }
    return u32(clamp(j, 0, n - 1));
}

fn tap_weight(t: i32, sigma: f32) -> f32 {
    if (sigma <= 0.0) {
        return select(0.0, 1.0, t == 0);
    }
    let x = f32(t) / sigma;
    return exp(-0.5 * x * x);
}

// One view per workgroup: crop, flip, jitter, greyscale, blur, solarize, normalise (see the header).
@compute @workgroup_size(64)
fn augment(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let view = wid.x + wid.y * nwg.x;
    if (view >= d.views) {
        return; // the whole workgroup: uniform
    }
    let image = view % d.batch;
    let plane_in = d.in_h * d.in_w;
    let plane = d.out_h * d.out_w;
    let src0 = image * d.channels * plane_in;
    let dst0 = view * d.channels * plane;
    let rgb = d.channels == 3u;

    // crop + resize + flip
    let top = u32(param(view, 0u));
    let left = u32(param(view, 1u));
    let crop_h = param(view, 2u);
    let crop_w = param(view, 3u);
    let flip = param(view, 4u) != 0.0;
    for (var px = lid; px < plane; px += WG) {
        let oy = px / d.out_w;
        var ox = px % d.out_w;
        if (flip) {
            ox = d.out_w - 1u - ox;
        }
        let sy = clamp((f32(oy) + 0.5) * crop_h / f32(d.out_h) - 0.5, 0.0, crop_h - 1.0);
        let sx = clamp((f32(ox) + 0.5) * crop_w / f32(d.out_w) - 0.5, 0.0, crop_w - 1.0);
        let y0 = floor(sy);
        let x0 = floor(sx);
        let fy = sy - y0;
        let fx = sx - x0;
        let r0 = top + u32(y0);
        let r1 = top + u32(min(y0 + 1.0, crop_h - 1.0));
        let c0 = left + u32(x0);
        let c1 = left + u32(min(x0 + 1.0, crop_w - 1.0));
        for (var c = 0u; c < d.channels; c++) {
            let base = src0 + c * plane_in;
            let t = images[base + r0 * d.in_w + c0] * (1.0 - fx) + images[base + r0 * d.in_w + c1] * fx;
            let b = images[base + r1 * d.in_w + c0] * (1.0 - fx) + images[base + r1 * d.in_w + c1] * fx;
            out[dst0 + c * plane + px] = t * (1.0 - fy) + b * fy;
        }
    }

    // colour jitter, four steps in the view's order
    for (var k = 0u; k < 4u; k++) {
        let op = u32(param(view, 9u + k));
        // The grey mean of the image as it is now (used by contrast; computed every step so that the barriers
        // do not depend on the view).
        var acc = 0.0;
        for (var px = lid; px < plane; px += WG) {
            if (rgb) {
                acc += grey(vec3<f32>(out[dst0 + px], out[dst0 + plane + px], out[dst0 + 2u * plane + px]));
            } else {
                acc += out[dst0 + px];
            }
        }
        workgroupBarrier(); // the previous step's readers of `partial` are done
        partial[lid] = acc;
        workgroupBarrier();
        var total = 0.0;
        for (var i = 0u; i < WG; i++) {
            total += partial[i];
        }
        let mean = total / f32(plane);
        for (var px = lid; px < plane; px += WG) {
            if (rgb) {
                var c = vec3<f32>(out[dst0 + px], out[dst0 + plane + px], out[dst0 + 2u * plane + px]);
                switch op {
                    case 0u: { c = clamp(c * param(view, 5u), vec3<f32>(0.0), vec3<f32>(1.0)); }
                    case 1u: {
                        let f = param(view, 6u);
                        c = clamp(f * c + (1.0 - f) * mean, vec3<f32>(0.0), vec3<f32>(1.0));
                    }
                    case 2u: {
                        let f = param(view, 7u);
                        c = clamp(f * c + (1.0 - f) * grey(c), vec3<f32>(0.0), vec3<f32>(1.0));
                    }
                    default: {
                        let hue = param(view, 8u);
                        if (hue != 0.0) {
                            var hsv = rgb2hsv(c);
                            let h = hsv.x + hue;
                            hsv.x = h - floor(h);
                            c = hsv2rgb(hsv);
                        }
                    }
                }
                out[dst0 + px] = c.x;
                out[dst0 + plane + px] = c.y;
                out[dst0 + 2u * plane + px] = c.z;
            } else {
                var x = out[dst0 + px];
                if (op == 0u) {
                    x = clamp(x * param(view, 5u), 0.0, 1.0);
                } else if (op == 1u) {
                    let f = param(view, 6u);
                    x = clamp(f * x + (1.0 - f) * mean, 0.0, 1.0);
                }
                out[dst0 + px] = x;
            }
        }
    }

    // greyscale
    if (rgb) {
        let to_grey = param(view, 13u) != 0.0;
        for (var px = lid; px < plane; px += WG) {
            if (to_grey) {
                let g = grey(vec3<f32>(out[dst0 + px], out[dst0 + plane + px], out[dst0 + 2u * plane + px]));
                out[dst0 + px] = g;
                out[dst0 + plane + px] = g;
                out[dst0 + 2u * plane + px] = g;
            }
        }
    }

    // blur: rows into scratch, then columns back into out, solarised and normalised on the way
    let sigma = param(view, 14u);
    let r = i32(d.radius);
    var wsum = 0.0;
    for (var t = -r; t <= r; t++) {
        wsum += tap_weight(t, sigma);
    }
    let inv_wsum = 1.0 / wsum;
    storageBarrier();
    for (var px = lid; px < plane; px += WG) {
        let oy = px / d.out_w;
        let ox = i32(px % d.out_w);
        for (var c = 0u; c < d.channels; c++) {
            let row = dst0 + c * plane + oy * d.out_w;
            var acc = 0.0;
            for (var t = -r; t <= r; t++) {
                acc += tap_weight(t, sigma) * out[row + reflect(ox + t, i32(d.out_w))];
            }
            scratch[dst0 + c * plane + px] = acc * inv_wsum;
        }
    }
    storageBarrier();
    let solarize = param(view, 15u) != 0.0;
    for (var px = lid; px < plane; px += WG) {
        let oy = i32(px / d.out_w);
        let ox = px % d.out_w;
        for (var c = 0u; c < d.channels; c++) {
            let col = dst0 + c * plane + ox;
            var acc = 0.0;
            for (var t = -r; t <= r; t++) {
                acc += tap_weight(t, sigma) * scratch[col + reflect(oy + t, i32(d.out_h)) * d.out_w];
            }
            var x = acc * inv_wsum;
            if (solarize && x >= d.threshold) {
                x = 1.0 - x;
            }
            out[dst0 + c * plane + px] = (x - d.mean[c]) * d.inv_std[c];
        }
    }
}
