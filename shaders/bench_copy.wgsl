// bench_copy.wgsl: the device's copy and load bandwidth, used only by `pretext bench`.
//   peak_copy: out[i] = x[i] over vec4 elements; bytes moved = 2 * 16 * n
//   load_vec4: out[i] = sum_r x[i + r * n/16], r < 16, over n/16 invocations; bytes moved = 16 * n + n
//              (neighbouring lanes load neighbouring vec4s, as matmul_sg8's loads of B do)

struct CopyParams { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: CopyParams;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn peak_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < p.n) {
        out[i] = x[i];
    }
}

// out[i] = sum of the 16 vec4s x[i + r * n/16]: sixteen loads per store, so the rate is the loads'.
@compute @workgroup_size(256)
fn load_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let stride = p.n / 16u;
    if (i < stride) {
        var acc = vec4<f32>();
        for (var r = 0u; r < 16u; r++) {
            acc += x[i + r * stride];
        }
        out[i] = acc;
    }
}
