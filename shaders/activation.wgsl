// activation.wgsl: elementwise activations y = f(x) and their backward dx = dy * f'(x), over n elements.
// Each invocation takes one vec4, 4 neighbouring elements, and loads and stores it whole: the tensors are bound
// rounded up to whole vec4s (Tensor::binding), so the last vec4 may run into its buffer's padding, which
// is read and written but belongs to no element. (On lavapipe this is 1.6x faster than 4 scalar loads and
// stores a WG apart with per-element bounds, the previous layout: BENCHMARKS.md.)
//   gelu_erf:  f = x*Phi(x),  Phi(x) = (1 + erf(x/sqrt2))/2       f' = Phi(x) + x*phi(x),  phi(x) = exp(-x^2/2)/sqrt(2pi)
//   gelu_tanh: f = x*(1 + t)/2,  t = tanh(u),  u = sqrt(2/pi)*(x + 0.044715x^3)
//              f' = (1 + t)/2 + x*(1 - t^2)*u'/2,  u' = sqrt(2/pi)*(1 + 3*0.044715x^2)
//              computed as f = x*s, f' = s + 2x*s*(1 - s)*u' with s = (1 + t)/2 = 1/(1 + exp(-2u)), 1 - s = exp(-2u)*s:
//              the same values without the cancellation of 1 + t for negative x (where tanh(u) ~ -1)
//   relu:      f = max(x, 0)                                    f' = 1 if x > 0 else 0 (0 at x = 0)
//   tanh:      f = tanh(x)                                      f' = 1 - tanh(x)^2
//   sigmoid:   f = 1/(1 + exp(-x)), as 1/(1 + e) for x >= 0 and e/(1 + e) below, e = exp(-|x|) (never
//              exp of a positive number)                        f' = f(1 - f) = e/(1 + e)^2
//   erf:       y = erf(x) (the building block of gelu_erf, exposed so tests can measure it)
// WGSL has no erf: erf4 below is a piecewise approximation (max abs error 1.1e-7 measured on lavapipe over
// [-6, 6], tests/norms.rs, against f32's spacing of 6e-8 just below 1).
// tanh arguments are clamped to +-TANH_CLAMP, where tanh is 1 to f32 precision: some back ends lower tanh
// through exp and return inf/inf = NaN for large arguments. gelu_tanh's u is clamped to +-GELU_U_CLAMP, where
// exp(2u) stays finite and s = 1/(1 + exp(-2u)) is 0 or 1 to f32 precision.

struct Params { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 } // n: vec4s, ceil(elements / 4)

const WG: u32 = 256u;                     // invocations per workgroup; each takes one vec4
const TANH_CLAMP: f32 = 15.0;             // tanh(15) = 1 - 1.9e-13
const SQRT_HALF: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;
const SQRT_2_OVER_PI: f32 = 0.79788456080286536;
const GELU_C: f32 = 0.044715;
const GELU_U_CLAMP: f32 = 40.0;           // exp(80) = 5.5e34 < f32 max
const ERF_SMALL: f32 = 0.927734375;       // erf_small below this |a|, 1 - erfc_tail above

@group(0) @binding(0) var<uniform> p: Params;

// *_fwd, erf_fwd: x -> y
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;        // [n]
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;  // [n]

// *_bwd: x, dy -> dx
@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;       // [n]
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>; // [n]

fn fma4(a: vec4<f32>, b: vec4<f32>, c: f32) -> vec4<f32> {
    return fma(a, b, vec4<f32>(c));
}

// erfc(t) for t >= 0.9277 (where erf is computed as 1 - erfc): s*exp(-t^2 + Q(s)), s = 1/(1 + t/2), Numerical
// Recipes' erfcc (fractional error < 1.2e-7 for every t >= 0), one polynomial, one division and one exp. (A
// minimax fit below t = 2 beside it, with both evaluated and one selected, made GELU twice as slow on lavapipe
// for no measurable gain: erf and GELU keep the same worst errors, tests/norms.rs.)
// From t = 10 on, erfc(t) <= 2.1e-45 (f32's smallest subnormal is 1.4e-45) is returned as 0, so that x*Phi(x)
// is exactly 0 for x <= -14.2 whatever the magnitude of x; t is clamped there, so t^2 cannot overflow.
fn erfc_tail(t_in: vec4<f32>) -> vec4<f32> {
    let t = min(t_in, vec4<f32>(10.0));
    let s = 1.0 / (1.0 + 0.5 * t);
    var q = fma4(vec4<f32>(0.17087277), s, -0.82215223);
    q = fma4(q, s, 1.48851587);
    q = fma4(q, s, -1.13520398);
    q = fma4(q, s, 0.27886807);
    q = fma4(q, s, -0.18628806);
    q = fma4(q, s, 0.09678418);
    q = fma4(q, s, 0.37409196);
    q = fma4(q, s, 1.00002368);
    q = fma4(q, s, -1.26551223);
    return select(s * exp(q - t * t), vec4<f32>(0.0), t_in >= vec4<f32>(10.0));
}

// erf(a) for |a| <= 0.9277: a + a*P(a^2), a minimax polynomial (N. Juffa's erff, 0.989 ulp).
fn erf_small(a: vec4<f32>) -> vec4<f32> {
    let s = a * a;
    var r = fma4(vec4<f32>(-5.96761703e-4), s, 4.99119423e-3);
    r = fma4(r, s, -2.67681349e-2);
    r = fma4(r, s, 1.12819925e-1);
    r = fma4(r, s, -3.76125336e-1);
    r = fma4(r, s, 1.28379166e-1);
    return fma(r, a, a);
}

// erf(a) = erf_small(a) for |a| <= 0.9277, else sign(a)*(1 - erfc(|a|)) (both evaluated, one selected).
fn erf4(a: vec4<f32>) -> vec4<f32> {
    let t = abs(a);
    return select(sign(a) * (1.0 - erfc_tail(t)), erf_small(a), t <= vec4<f32>(ERF_SMALL));
}

// Phi(x) = (1 + erf(x/sqrt2))/2, the standard normal CDF; the lower tail is erfc(-x/sqrt2)/2 directly,
// so small values keep their relative accuracy instead of cancelling in 1 + erf.
fn normal_cdf(v: vec4<f32>) -> vec4<f32> {
    let a = v * SQRT_HALF;
    let t = abs(a);
    let tail = 0.5 * erfc_tail(t);
    let big = select(1.0 - tail, tail, a < vec4<f32>(0.0));
    return select(big, 0.5 + 0.5 * erf_small(a), t <= vec4<f32>(ERF_SMALL));
}

// u = sqrt(2/pi)*(x + 0.044715x^3) clamped to +-GELU_U_CLAMP (x^3 may be inf; clamp maps it to the bound).
fn gelu_tanh_arg(v: vec4<f32>) -> vec4<f32> {
    return clamp(SQRT_2_OVER_PI * (v + GELU_C * v * v * v), vec4<f32>(-GELU_U_CLAMP), vec4<f32>(GELU_U_CLAMP));
}

// This invocation's vec4: workgroups run along x then y (kernels::grid_1d).
fn vec4_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// erf_fwd: y = erf(x)
@compute @workgroup_size(256)
fn erf_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    y[i] = erf4(x[i]);
}

// gelu_erf_fwd: y = x*Phi(x)
@compute @workgroup_size(256)
fn gelu_erf_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let v = x[i];
    y[i] = v * normal_cdf(v);
}

// gelu_erf_bwd: dx = dy*(Phi(x) + x*phi(x)); x^2 is clamped at 400 (exp(-200) is 0 in f32) so that a huge
// |x| cannot overflow x^2, and x*phi(x) is then 0
@compute @workgroup_size(256)
fn gelu_erf_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let v = x[i];
    let pdf = INV_SQRT_2PI * exp(-0.5 * min(v * v, vec4<f32>(400.0)));
    dx[i] = dy[i] * (normal_cdf(v) + v * pdf);
}

// gelu_tanh_fwd: y = x*(1 + tanh(u))/2 = x*s, s = 1/(1 + exp(-2u)), u = sqrt(2/pi)*(x + 0.044715x^3);
// s = 0 where u is clamped below (there s < 2e-35, so a huge negative x cannot turn it into a visible value)
@compute @workgroup_size(256)
fn gelu_tanh_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let v = x[i];
    let u = gelu_tanh_arg(v);
    y[i] = v * select(1.0 / (1.0 + exp(-2.0 * u)), vec4<f32>(0.0), u <= vec4<f32>(-GELU_U_CLAMP));
}

// gelu_tanh_bwd: dx = dy*(s + 2x*s*(1 - s)*u'), s = 1/(1 + exp(-2u)) = (1 + tanh(u))/2, 1 - s = exp(-2u)*s,
// u' = sqrt(2/pi)*(1 + 3*0.044715x^2). Where u is clamped, s(1 - s) < 2e-35 and the term is taken as 0
// (rather than 0 times a huge x^3).
@compute @workgroup_size(256)
fn gelu_tanh_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let v = x[i];
    let u = gelu_tanh_arg(v);
    let e = exp(-2.0 * u);
    let s = select(1.0 / (1.0 + e), vec4<f32>(0.0), u <= vec4<f32>(-GELU_U_CLAMP));
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
    let inner = select(vec4<f32>(0.0), 2.0 * v * (e * s) * s * du, abs(u) < vec4<f32>(GELU_U_CLAMP));
    dx[i] = dy[i] * (s + inner);
}

// relu_fwd: y = max(x, 0)
@compute @workgroup_size(256)
fn relu_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    y[i] = max(x[i], vec4<f32>(0.0));
}

// relu_bwd: dx = dy if x > 0 else 0 (the derivative at 0 is taken as 0, as PyTorch)
@compute @workgroup_size(256)
fn relu_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    dx[i] = select(vec4<f32>(0.0), dy[i], x[i] > vec4<f32>(0.0));
}

// tanh_fwd: y = tanh(clamp(x, +-TANH_CLAMP))
@compute @workgroup_size(256)
fn tanh_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    y[i] = tanh(clamp(x[i], vec4<f32>(-TANH_CLAMP), vec4<f32>(TANH_CLAMP)));
}

// tanh_bwd: dx = dy*(1 - tanh(x)^2)
@compute @workgroup_size(256)
fn tanh_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let t = tanh(clamp(x[i], vec4<f32>(-TANH_CLAMP), vec4<f32>(TANH_CLAMP)));
    dx[i] = dy[i] * (1.0 - t * t);
}

// sigmoid_fwd: y = 1/(1 + e) for x >= 0, e/(1 + e) below, e = exp(-|x|)
@compute @workgroup_size(256)
fn sigmoid_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let v = x[i];
    let e = exp(-abs(v));
    y[i] = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= vec4<f32>(0.0));
}

// sigmoid_bwd: dx = dy*e/(1 + e)^2, e = exp(-|x|) (= dy*f(1 - f) without the cancellation of 1 - f near 1)
@compute @workgroup_size(256)
fn sigmoid_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = vec4_index(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let e = exp(-abs(x[i]));
    let d = 1.0 + e;
    dx[i] = dy[i] * e / (d * d);
}
