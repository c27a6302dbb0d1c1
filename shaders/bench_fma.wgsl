// bench_fma.wgsl: the device's arithmetic ceiling, used only by `pretext bench`.
//   peak_fma:     8 independent vec4 chains per invocation, acc = acc * a + b, 4 times per trip of the loop,
//                 `iters` trips; flops = invocations * iters * 4 * 8 chains * 4 lanes * 2
// The body is unrolled 4 times so the loop's own work (its counter, branch and the loop bound naga adds) does
// not count against the ceiling: one FMA per chain per trip read 68-74 GFLOP/s on llvmpipe where four read
// 101-106 (2 and 8 read less than 4; BENCHMARKS.md, "The FMA ceiling").

struct FmaParams { iters: u32, n: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> fp: FmaParams;
@group(0) @binding(1) var<storage, read_write> fma_out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn peak_fma(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let s = f32(i) * 1e-9;
    let a = vec4<f32>(0.999, 0.998, 0.997, 0.996);
    let b = vec4<f32>(1e-3, 2e-3, 3e-3, 4e-3);
    var c0 = vec4<f32>(s); var c1 = c0 + 1.0; var c2 = c0 + 2.0; var c3 = c0 + 3.0;
    var c4 = c0 + 4.0; var c5 = c0 + 5.0; var c6 = c0 + 6.0; var c7 = c0 + 7.0;
    for (var t = 0u; t < fp.iters; t++) {
        c0 = fma(c0, a, b); c1 = fma(c1, a, b); c2 = fma(c2, a, b); c3 = fma(c3, a, b);
        c4 = fma(c4, a, b); c5 = fma(c5, a, b); c6 = fma(c6, a, b); c7 = fma(c7, a, b);
        c0 = fma(c0, a, b); c1 = fma(c1, a, b); c2 = fma(c2, a, b); c3 = fma(c3, a, b);
        c4 = fma(c4, a, b); c5 = fma(c5, a, b); c6 = fma(c6, a, b); c7 = fma(c7, a, b);
        c0 = fma(c0, a, b); c1 = fma(c1, a, b); c2 = fma(c2, a, b); c3 = fma(c3, a, b);
        c4 = fma(c4, a, b); c5 = fma(c5, a, b); c6 = fma(c6, a, b); c7 = fma(c7, a, b);
        c0 = fma(c0, a, b); c1 = fma(c1, a, b); c2 = fma(c2, a, b); c3 = fma(c3, a, b);
        c4 = fma(c4, a, b); c5 = fma(c5, a, b); c6 = fma(c6, a, b); c7 = fma(c7, a, b);
    }
    if (i < fp.n) {
        fma_out[i] = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7;
    }
}
