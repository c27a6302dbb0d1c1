// elementwise.wgsl: pointwise maps over f32 tensors.
//   binary:        out[i] = a[ia(i)] op b[ib(i)]      op in {+, -, *, /}, numpy broadcasting
//   unary:         out[i] = g(x[i])                   g in {alpha*x, x+alpha, -x, exp x, log x, sqrt x,
//                                                         1/sqrt(x+alpha), x*x, 1/x, |x|, sign x}
//   axpy:          dst[i] = dst[i] + alpha * src[i]   (in place; gradient accumulation)
//   scale_inplace: dst[i] = alpha * dst[i]            (axpy with src == dst: x += alpha*x)
//
// Operand index of a broadcast operand. The launcher collapses the broadcast shapes; when an operand's
// non-broadcast axes form one contiguous run of the collapsed output axes its index is a flat pattern,
// chosen by an override constant (so the unused arithmetic folds away):
//   mode 0: i          mode 1: i % period          mode 2: i / inner
//   mode 3: (i / inner) % period                   mode 4: 0 (a single element)
// otherwise `binary_strided` decomposes i over the output shape (rank <= 6) and dots it with each
// operand's strides (0 on broadcast axes).
//
// Scalar entries: 4 elements per invocation, strided by the workgroup size, so adjacent invocations
// touch adjacent words (coalesced on GPUs, one vector load per 8 lanes on llvmpipe).
// "4" entries: one vec4 per invocation, used when every operand's length is a multiple of 4. They view
// the same bindings as arrays of vec4; wgpu compacts each pipeline to the globals its entry point uses,
// so the f32 and vec4 views of one binding never meet in a pipeline.
// exp overflows to +inf and log of a negative is NaN, as in IEEE: callers that need finite values clamp first.

struct Params {
    n: u32,          // elements of out (scalar entries) or vec4s of out ("4" entries)
    rank: u32,       // rank of the collapsed shape (binary_strided)
    alpha: f32,      // unary / axpy / scale_inplace scalar
    _pad0: u32,
    a_inner: u32,    // flat index pattern of a (in vec4 units for modes 0/1 of "4" entries)
    a_period: u32,
    b_inner: u32,
    b_period: u32,
    shape: array<vec4<u32>, 2>,      // collapsed output shape, axis k at [k / 4][k % 4], outermost first
    a_strides: array<vec4<u32>, 2>,  // a's element strides on the output axes, 0 where a broadcasts
    b_strides: array<vec4<u32>, 2>,
}

// 0 add, 1 sub, 2 mul, 3 div (binary); 0 scale .. 10 sign (unary, see unary_op).
override OP: u32 = 0u;
// Index modes of a and b (see the header).
override A_MODE: u32 = 0u;
override B_MODE: u32 = 0u;

const WG: u32 = 256u;
const PER_INVOCATION: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;

// binary / binary_strided
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// binary4
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;
// unary / axpy: one input, one output (axpy's output is also its accumulator)
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;
// scale_inplace: a single read-write tensor
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<f32>>;

fn flat_index(i: u32, mode: u32, inner: u32, period: u32) -> u32 {
    switch mode {
        case 0u: { return i; }
        case 1u: { return i % period; }
        case 2u: { return i / inner; }
        case 3u: { return (i / inner) % period; }
        default: { return 0u; }
    }
}

fn binary_op(u: f32, v: f32) -> f32 {
    switch OP {
        case 0u: { return u + v; }
        case 1u: { return u - v; }
        case 2u: { return u * v; }
        default: { return u / v; }
    }
}

fn binary_op4(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
    switch OP {
        case 0u: { return u + v; }
        case 1u: { return u - v; }
        case 2u: { return u * v; }
        default: { return u / v; }
    }
}

fn unary_op(v: f32) -> f32 {
    switch OP {
        case 0u: { return p.alpha * v; }
        case 1u: { return v + p.alpha; }
        case 2u: { return -v; }
        case 3u: { return exp(v); }
        case 4u: { return log(v); }
        case 5u: { return sqrt(v); }
        case 6u: { return inverseSqrt(v + p.alpha); }
        case 7u: { return v * v; }
        case 8u: { return 1.0 / v; }
        case 9u: { return abs(v); }
        default: { return sign(v); }
    }
}

fn unary_op4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(unary_op(v.x), unary_op(v.y), unary_op(v.z), unary_op(v.w));
}

// First element index of this invocation: workgroups run along x then y (kernels::grid_1d).
fn first_element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, per: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG * per + lid;
}

// out[i] = a[ia(i)] op b[ib(i)] with flat index patterns A_MODE / B_MODE.
@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let first = first_element(wid, nwg, lid, PER_INVOCATION);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = first + k * WG;
        if (i < p.n) {
            let u = a[flat_index(i, A_MODE, p.a_inner, p.a_period)];
            let v = b[flat_index(i, B_MODE, p.b_inner, p.b_period)];
            out[i] = binary_op(u, v);
        }
    }
}

// out[i] = a[sum_k c_k a_stride_k] op b[sum_k c_k b_stride_k], where c = the coordinates of i in `shape`.
@compute @workgroup_size(256)
fn binary_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let first = first_element(wid, nwg, lid, PER_INVOCATION);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = first + k * WG;
        if (i < p.n) {
            var rest = i;
            var ia = 0u;
            var ib = 0u;
            for (var axis = p.rank; axis > 0u; axis--) {
                let d = axis - 1u;
                let extent = p.shape[d / 4u][d % 4u];
                let c = rest % extent;
                rest = rest / extent;
                ia += c * p.a_strides[d / 4u][d % 4u];
                ib += c * p.b_strides[d / 4u][d % 4u];
            }
            out[i] = binary_op(a[ia], b[ib]);
        }
    }
}

// One vec4 operand value for vec4 index j: a whole vec4 (modes 0, 1; period in vec4s) or one element
// splatted (modes 2, 3; inner in vec4s, so the 4 lanes share it).
fn fetch_a4(j: u32) -> vec4<f32> {
    switch A_MODE {
        case 0u: { return a4[j]; }
        case 1u: { return a4[j % p.a_period]; }
        default: {
            let s = flat_index(j, A_MODE, p.a_inner, p.a_period);
            return vec4<f32>(a4[s / 4u][s % 4u]);
        }
    }
}

fn fetch_b4(j: u32) -> vec4<f32> {
    switch B_MODE {
        case 0u: { return b4[j]; }
        case 1u: { return b4[j % p.b_period]; }
        default: {
            let s = flat_index(j, B_MODE, p.b_inner, p.b_period);
            return vec4<f32>(b4[s / 4u][s % 4u]);
        }
    }
}

// out4[j] = a4(j) op b4(j), one vec4 per invocation.
@compute @workgroup_size(256)
fn binary4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let j = first_element(wid, nwg, lid, 1u);
    if (j < p.n) {
        out4[j] = binary_op4(fetch_a4(j), fetch_b4(j));
    }
}

// y[i] = g(x[i])
@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let first = first_element(wid, nwg, lid, PER_INVOCATION);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = first + k * WG;
        if (i < p.n) {
            y[i] = unary_op(x[i]);
        }
    }
}

// y4[j] = g(x4[j])
@compute @workgroup_size(256)
fn unary4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let j = first_element(wid, nwg, lid, 1u);
    if (j < p.n) {
        y4[j] = unary_op4(x4[j]);
    }
}

// y[i] += alpha * x[i]   (y is the accumulator dst, x the addend src)
@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let first = first_element(wid, nwg, lid, PER_INVOCATION);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = first + k * WG;
        if (i < p.n) {
            y[i] = fma(p.alpha, x[i], y[i]);
        }
    }
}

// y4[j] += alpha * x4[j]
@compute @workgroup_size(256)
fn axpy4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let j = first_element(wid, nwg, lid, 1u);
    if (j < p.n) {
        y4[j] = fma(vec4<f32>(p.alpha), x4[j], y4[j]);
    }
}

// dst[i] *= alpha
@compute @workgroup_size(256)
fn scale_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let first = first_element(wid, nwg, lid, PER_INVOCATION);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = first + k * WG;
        if (i < p.n) {
            dst[i] = p.alpha * dst[i];
        }
    }
}

// dst4[j] *= alpha
@compute @workgroup_size(256)
fn scale_inplace4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let j = first_element(wid, nwg, lid, 1u);
    if (j < p.n) {
        dst4[j] = p.alpha * dst4[j];
    }
}
