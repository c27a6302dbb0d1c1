// optim.wgsl: optimizer updates of flat f32 parameters, in place, and the deterministic norms they need.
//   adamw (PyTorch AdamW, foreach=False, in its order of operations; s = grad_scale[0] or 1):
//       g = grad*s   p *= 1 - lr*wd   m = lerp(m, g, 1-b1)   v = b2*v + (1-b2)*g*g
//       p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)           bc_k = 1 - b_k^step (host, f64)
//   sumsq_partial: partial[offset + t] = sum_k x[t + k*T]^2       (T invocations per tensor, fixed order)
//   sumsq_final:   out[0] = sum of partial[0..count]               (one workgroup: strided sums, then a tree)
//   clip_scale:    out[0] = min(1, max_norm / (sqrt(sumsq[0]) + 1e-6))     (torch.nn.utils.clip_grad_norm_)
//   ema:           target = mom*target + (1-mom)*online
//   lars_trust:    pn = |p|, gn = s*|grad| from the partials of p (first T) and grad (next T);
//                  aux = [s, trust], trust = eta*pn/(gn + wd*pn), or 1 when pn == 0 or gn == 0
//   sgd:           d = grad*s + wd*p   buf = mom*buf + trust*d   p -= lr*buf   (trust = 1 without LARS;
//                  with mom == 0, buf = trust*d: PyTorch keeps no buffer then, the update is the same)
// Every elementwise entry (adamw, adamw_scaled, ema, sgd): one vec4, 4 neighbouring elements, per invocation,
// loaded and stored whole, 256 per workgroup, workgroups along x then y; `n` counts vec4s. The tensors are
// bound rounded up to whole vec4s (Tensor::binding), so the last vec4 may run into the buffers' padding,
// updated but belonging to no element. (On lavapipe a vec4 costs about what one f32 does: AdamW 2x faster than
// one element per invocation, BENCHMARKS.md.)

struct AdamParams {
    n: u32,             // vec4s: ceil(elements / 4)
    lerp_w: f32,        // 1 - beta1
    beta2: f32,
    one_m_beta2: f32,   // 1 - beta2
    decay: f32,         // 1 - lr*wd
    step_size: f32,     // lr / (1 - beta1^step)
    bc2_sqrt: f32,      // sqrt(1 - beta2^step)
    eps: f32,
}

struct SumParams { n: u32, offset: u32, invocations: u32, _pad: u32 }
struct ClipParams { max_norm: f32, _pad0: u32, _pad1: u32, _pad2: u32 }
struct EmaParams { n: u32, momentum: f32, one_m_momentum: f32, _pad: u32 }
struct LarsParams { invocations: u32, eta: f32, weight_decay: f32, _pad: u32 }
struct SgdParams { n: u32, lr: f32, momentum: f32, weight_decay: f32, lars: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> adam: AdamParams;

// adamw (reads grad; writes param, m, v); sgd reads grad too
@group(0) @binding(1) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> param_u: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m_u: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v_u: array<vec4<f32>>;
// adamw_scaled (reads grad, grad_scale; writes param, m, v)
@group(0) @binding(2) var<storage, read> grad_scale: array<f32>;   // [1]
@group(0) @binding(3) var<storage, read_write> param_s: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m_s: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v_s: array<vec4<f32>>;

fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid.x;
}

// torch.lerp: start + w*(end - start) for w < 0.5, else end - (end - start)*(1 - w).
fn lerp_torch(start: vec4<f32>, end: vec4<f32>, w: f32) -> vec4<f32> {
    if (w < 0.5) {
        return start + w * (end - start);
    }
    return end - (end - start) * (1.0 - w);
}

struct Adam { p: vec4<f32>, m: vec4<f32>, v: vec4<f32> }

fn adam_step(g: vec4<f32>, p0: vec4<f32>, m0: vec4<f32>, v0: vec4<f32>) -> Adam {
    let p = p0 * adam.decay;
    let m = lerp_torch(m0, g, adam.lerp_w);
    let v = v0 * adam.beta2 + adam.one_m_beta2 * g * g;
    let denom = sqrt(v) / adam.bc2_sqrt + adam.eps;
    return Adam(p - adam.step_size * (m / denom), m, v);
}

// adamw: param, m, v updated in place from grad (scale 1).
@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= adam.n) {
        return;
    }
    let r = adam_step(grad[i], param_u[i], m_u[i], v_u[i]);
    param_u[i] = r.p;
    m_u[i] = r.m;
    v_u[i] = r.v;
}

// adamw_scaled: as adamw with g = grad * grad_scale[0].
@compute @workgroup_size(256)
fn adamw_scaled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= adam.n) {
        return;
    }
    let r = adam_step(grad[i] * grad_scale[0], param_s[i], m_s[i], v_s[i]);
    param_s[i] = r.p;
    m_s[i] = r.m;
    v_s[i] = r.v;
}

// ---- norms ----
@group(0) @binding(0) var<uniform> sums: SumParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

// sumsq_partial: partial[offset + t] = sum over k of x[t + k*T]^2, T = invocations (t < T).
@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = flat(wid, nwg, lid);
    if (t >= sums.invocations) {
        return;
    }
    var acc = 0.0;
    for (var i = t; i < sums.n; i += sums.invocations) {
        let xi = x[i];
        acc += xi * xi;
    }
    partial[sums.offset + t] = acc;
}

@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;   // [1]
var<workgroup> tree: array<f32, 256>;

// Sum of partials[first .. first + count] by one workgroup: thread t sums t, t+256, ... then a fixed tree.
fn workgroup_sum(first: u32, count: u32, t: u32) -> f32 {
    var acc = 0.0;
    for (var i = t; i < count; i += 256u) {
        acc += partials[first + i];
    }
    tree[t] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (t < s) {
            tree[t] += tree[t + s];
        }
        workgroupBarrier();
    }
    let r = tree[0];
    workgroupBarrier();
    return r;
}

// sumsq_final: total[0] = sum of partials[0 .. sums.n] (one workgroup).
@compute @workgroup_size(256)
fn sumsq_final(@builtin(local_invocation_id) lid: vec3<u32>) {
    let s = workgroup_sum(0u, sums.n, lid.x);
    if (lid.x == 0u) {
        total[0] = s;
    }
}

@group(0) @binding(0) var<uniform> clip: ClipParams;
@group(0) @binding(1) var<storage, read> sumsq: array<f32>;     // [1]
@group(0) @binding(2) var<storage, read_write> scale: array<f32>; // [1]

// clip_scale: scale[0] = min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)).
@compute @workgroup_size(1)
fn clip_scale() {
    scale[0] = min(1.0, clip.max_norm / (sqrt(sumsq[0]) + 1e-6));
}

@group(0) @binding(0) var<uniform> ema_p: EmaParams;
@group(0) @binding(1) var<storage, read> online: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> target_w: array<vec4<f32>>;

// ema: target = momentum*target + (1-momentum)*online.
@compute @workgroup_size(256)
fn ema(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= ema_p.n) {
        return;
    }
    target_w[i] = ema_p.momentum * target_w[i] + ema_p.one_m_momentum * online[i];
}

@group(0) @binding(0) var<uniform> lars: LarsParams;
// lars_trust reads partials (binding 1), grad_scale (binding 2), writes aux (binding 3)
@group(0) @binding(3) var<storage, read_write> aux_out: array<f32>;   // [2] = [scale, trust]

// lars_trust: aux = [s, trust] from partials[0..T] (param) and partials[T..2T] (grad), T = lars.invocations.
@compute @workgroup_size(256)
fn lars_trust(@builtin(local_invocation_id) lid: vec3<u32>) {
    let p2 = workgroup_sum(0u, lars.invocations, lid.x);
    let g2 = workgroup_sum(lars.invocations, lars.invocations, lid.x);
    if (lid.x == 0u) {
        let s = grad_scale[0];
        let pn = sqrt(p2);
        let gn = abs(s) * sqrt(g2);
        var trust = 1.0;
        if (pn > 0.0 && gn > 0.0) {
            trust = lars.eta * pn / (gn + lars.weight_decay * pn);
        }
        aux_out[0] = s;
        aux_out[1] = trust;
    }
}

@group(0) @binding(0) var<uniform> sgd_p: SgdParams;
// sgd reads grad (1), aux (2: [scale] or [scale, trust]); writes param (3), buf (4)
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> param_g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> momentum_buf: array<vec4<f32>>;

// sgd: d = grad*s + wd*p; buf = mom*buf + trust*d; p -= lr*buf.
@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat(wid, nwg, lid);
    if (i >= sgd_p.n) {
        return;
    }
    var trust = 1.0;
    if (sgd_p.lars != 0u) {
        trust = aux[1];
    }
    let p = param_g[i];
    let d = grad[i] * aux[0] + sgd_p.weight_decay * p;
    var b = trust * d;
    if (sgd_p.momentum != 0.0) {
        b = sgd_p.momentum * momentum_buf[i] + b;
    }
    momentum_buf[i] = b;
    param_g[i] = p - sgd_p.lr * b;
}
