// tree_sum.wgsl: a sum over one workgroup of WG = 128 invocations in a fixed order, for the row kernels of
// the losses (bce, kl_normal, recon_loss). A library: no entry point; files that use it name it in
// `// imports:` and run it in workgroups of exactly WG.
//   workgroup_sum(v, t) = sum over t of v_t, added pairwise by halves: tree[t] += tree[t + h] for
//   h = 64, 32, ..., 1; the same tree on every device and every run, so the result is deterministic.

const WG: u32 = 128u;
var<workgroup> tree: array<f32, WG>;

// Sum of the workgroup's `v` by the fixed tree; every invocation gets the result.
fn workgroup_sum(v: f32, t: u32) -> f32 {
    tree[t] = v;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (t < h) {
            tree[t] += tree[t + h];
        }
        workgroupBarrier();
    }
    let s = tree[0];
    workgroupBarrier();
    return s;
}
