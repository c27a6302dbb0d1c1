// fill.wgsl: set every 32-bit word of a buffer.
//   fill: out[i] = pattern   for i < n   (f32 bits, or two f16 halves, or an integer)

struct Params { n: u32, pattern: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

// Grid: 256 invocations per workgroup; workgroups laid out along x then y (see kernels::grid_1d).
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < p.n) {
        out[i] = p.pattern;
    }
}
