// bench_matmul_naive.wgsl: the baseline for `pretext bench` only (matmul_naive), never used by training.
//   matmul_naive: c[i, j] = sum_k a[i, k] * b[k, j]   a: [m, k], b: [k, n], c: [m, n], row-major f32
//   One output per invocation, read straight from memory: no tiling, no register blocking, no vec4.

struct NaiveParams { m: u32, n: u32, k: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: NaiveParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;       // [m, k]
@group(0) @binding(2) var<storage, read> b: array<f32>;       // [k, n]
@group(0) @binding(3) var<storage, read_write> c: array<f32>; // [m, n]

// c[i, j] = sum_k a[i, k] * b[k, j], one (i, j) per invocation; 64 invocations per workgroup over the
// flattened output, workgroups laid out along x then y (see kernels::grid_1d).
@compute @workgroup_size(64)
fn matmul_naive(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (idx >= p.m * p.n) {
        return;
    }
    let i = idx / p.n;
    let j = idx % p.n;
    var acc = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(a[i * p.k + kk], b[kk * p.n + j], acc);
    }
    c[idx] = acc;
}
