//! Gradient checks: every differentiable op, in the middle of a graph (loss = Σ coef ⊙ f(x), coef random ≠ 1),
//! against central finite differences; then a 2-layer transformer's full gradient.
mod common;
use common::{gpu, Rng};
use pretext::autograd::{ops, ParamId, Tape, Var};
use pretext::kernels::activation::Activation;
use pretext::kernels::attention::Layout;
use pretext::kernels::elementwise::UnaryOp;
use pretext::nn::Param;
use pretext::{Result, Tensor};

/// Inputs of a check: host values and shapes.
struct Input {
    data: Vec<f32>,
    shape: Vec<usize>,
}

fn input(rng: &mut Rng, shape: &[usize], lo: f64, hi: f64) -> Input {
    let n = shape.iter().product();
    Input { data: (0..n).map(|_| rng.range(lo, hi) as f32).collect(), shape: shape.to_vec() }
}

/// Evaluates Σ coef ⊙ f(inputs) on a fresh tape; returns (loss, tape, leaves, loss var) when `grad` is asked.
fn eval(f: &dyn Fn(&mut Tape, &[Var]) -> Result<Var>, inputs: &[Input], coef_seed: u64) -> Result<f64> {
    let g = gpu();
    let mut tape = Tape::new(g, 7);
    let leaves: Vec<Var> = inputs
        .iter()
        .map(|i| Tensor::from_slice(g, &i.data, &i.shape).map(|t| tape.constant(t)))
        .collect::<Result<_>>()?;
    let out = f(&mut tape, &leaves)?;
    let loss = weighted_sum(&mut tape, out, coef_seed)?;
    Ok(tape.value(loss).to_vec::<f32>(g)?[0] as f64)
}

fn weighted_sum(tape: &mut Tape, out: Var, coef_seed: u64) -> Result<Var> {
    let shape = tape.shape(out).to_vec();
    let n: usize = shape.iter().product();
    let mut rng = Rng::new(coef_seed);
    let coef: Vec<f32> = (0..n).map(|_| rng.range(0.5, 1.5) as f32 * if rng.uniform() < 0.5 { -1.0 } else { 1.0 }).collect();
    let c = Tensor::from_slice(tape.gpu(), &coef, &shape)?;
    let c = tape.constant(c);
    let y = ops::mul(tape, out, c)?;
    ops::sum(tape, y)
}

/// Compares the tape's gradient of every input with central differences (step `h`); returns the worst error.
fn gradcheck(name: &str, inputs: Vec<Input>, f: impl Fn(&mut Tape, &[Var]) -> Result<Var>) {
    let g = gpu();
    let coef_seed = 99;
    let mut tape = Tape::new(g, 7);
    let leaves: Vec<Var> = inputs
        .iter()
        .enumerate()
        .map(|(k, i)| tape.param(ParamId(1_000_000 + k as u64), &Tensor::from_slice(g, &i.data, &i.shape).unwrap()))
        .collect();
    let out = f(&mut tape, &leaves).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let loss = weighted_sum(&mut tape, out, coef_seed).unwrap();
    let grads = tape.backward(loss).unwrap_or_else(|e| panic!("{name}: backward failed: {e}"));
    let h = 1e-2f32;
    let mut inputs = inputs;
    for k in 0..inputs.len() {
        let analytic = grads
            .get(ParamId(1_000_000 + k as u64))
            .unwrap_or_else(|| panic!("{name}: no gradient for input {k}"))
            .to_vec::<f32>(g)
            .unwrap();
        let n = inputs[k].data.len();
        // Every element of small inputs; an even sample of large ones.
        let stride = (n / 24).max(1);
        for i in (0..n).step_by(stride) {
            let x0 = inputs[k].data[i];
            inputs[k].data[i] = x0 + h;
            let up = eval(&f, &inputs, coef_seed).unwrap();
            inputs[k].data[i] = x0 - h;
            let down = eval(&f, &inputs, coef_seed).unwrap();
            inputs[k].data[i] = x0;
            let numeric = (up - down) / (2.0 * h as f64);
            let a = analytic[i] as f64;
            let tol = 1e-2 + 2e-2 * a.abs().max(numeric.abs());
            assert!(
                (a - numeric).abs() <= tol,
                "{name}: input {k}[{i}]: analytic {a:.6} vs finite difference {numeric:.6} (|diff| {:.2e} > tol {tol:.2e})",
                (a - numeric).abs()
            );
        }
    }
}

#[test]
fn arithmetic_with_broadcasting() {
    let mut r = Rng::new(1);
    gradcheck("add", vec![input(&mut r, &[3, 1, 5], -1.0, 1.0), input(&mut r, &[1, 4, 1], -1.0, 1.0)], |t, x| ops::add(t, x[0], x[1]));
    gradcheck("sub", vec![input(&mut r, &[7, 5], -1.0, 1.0), input(&mut r, &[5], -1.0, 1.0)], |t, x| ops::sub(t, x[0], x[1]));
    gradcheck("mul", vec![input(&mut r, &[4, 6], -1.0, 1.0), input(&mut r, &[4, 1], -1.0, 1.0)], |t, x| ops::mul(t, x[0], x[1]));
    gradcheck("div", vec![input(&mut r, &[3, 5], -1.0, 1.0), input(&mut r, &[5], 1.0, 2.0)], |t, x| ops::div(t, x[0], x[1]));
}

#[test]
fn unary_maps() {
    let mut r = Rng::new(2);
    for (name, op, lo, hi) in [
        ("scale", UnaryOp::Scale(-1.7), -1.0, 1.0),
        ("add_scalar", UnaryOp::AddScalar(0.3), -1.0, 1.0),
        ("neg", UnaryOp::Neg, -1.0, 1.0),
        ("exp", UnaryOp::Exp, -1.0, 1.0),
        ("log", UnaryOp::Log, 0.5, 2.0),
        ("sqrt", UnaryOp::Sqrt, 0.5, 2.0),
        ("rsqrt", UnaryOp::Rsqrt { eps: 1e-3 }, 0.5, 2.0),
        ("square", UnaryOp::Square, -1.0, 1.0),
        ("recip", UnaryOp::Recip, 0.5, 2.0),
        ("abs", UnaryOp::Abs, 0.1, 1.0),
        ("abs_negative", UnaryOp::Abs, -1.0, -0.1),
    ] {
        gradcheck(name, vec![input(&mut r, &[2, 9], lo, hi)], move |t, x| ops::unary(t, x[0], op));
    }
}

#[test]
fn sums_and_means() {
    let mut r = Rng::new(3);
    gradcheck("sum_to", vec![input(&mut r, &[3, 4, 5], -1.0, 1.0)], |t, x| ops::sum_to(t, x[0], &[1, 4, 1]));
    gradcheck("mean_to", vec![input(&mut r, &[6, 5], -1.0, 1.0)], |t, x| ops::mean_to(t, x[0], &[6, 1]));
    gradcheck("mean", vec![input(&mut r, &[2, 3, 2], -1.0, 1.0)], |t, x| ops::mean(t, x[0]));
}

#[test]
fn matmul_all_transposes_and_batches() {
    let mut r = Rng::new(4);
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let a = if ta { [5, 3] } else { [3, 5] };
        let b = if tb { [4, 5] } else { [5, 4] };
        gradcheck(&format!("matmul ta={ta} tb={tb}"), vec![input(&mut r, &a, -1.0, 1.0), input(&mut r, &b, -1.0, 1.0)], move |t, x| {
            ops::matmul(t, x[0], x[1], ta, tb)
        });
    }
    gradcheck("matmul batched, shared B", vec![input(&mut r, &[2, 3, 4], -1.0, 1.0), input(&mut r, &[4, 5], -1.0, 1.0)], |t, x| {
        ops::matmul(t, x[0], x[1], false, false)
    });
    gradcheck("matmul shared A, batched B", vec![input(&mut r, &[3, 4], -1.0, 1.0), input(&mut r, &[2, 4, 5], -1.0, 1.0)], |t, x| {
        ops::matmul(t, x[0], x[1], false, false)
    });
    gradcheck(
        "linear",
        vec![input(&mut r, &[2, 3, 6], -1.0, 1.0), input(&mut r, &[4, 6], -1.0, 1.0), input(&mut r, &[4], -1.0, 1.0)],
        |t, x| ops::linear(t, x[0], x[1], Some(x[2])),
    );
}

#[test]
fn norms_softmax_activations() {
    let mut r = Rng::new(5);
    gradcheck(
        "layer_norm",
        vec![input(&mut r, &[4, 7], -2.0, 2.0), input(&mut r, &[7], 0.5, 1.5), input(&mut r, &[7], -0.5, 0.5)],
        |t, x| ops::layer_norm(t, x[0], x[1], x[2], 1e-5),
    );
    gradcheck("softmax", vec![input(&mut r, &[3, 6], -2.0, 2.0)], |t, x| ops::softmax(t, x[0]));
    for act in [Activation::GeluErf, Activation::GeluTanh, Activation::Tanh] {
        gradcheck(&format!("{act:?}"), vec![input(&mut r, &[3, 7], -3.0, 3.0)], move |t, x| ops::activation(t, x[0], act));
    }
    // ReLU away from its kink.
    let mut x = input(&mut r, &[3, 7], 0.1, 2.0);
    for (i, v) in x.data.iter_mut().enumerate() {
        if i % 2 == 0 {
            *v = -*v;
        }
    }
    gradcheck("relu", vec![x], |t, x| ops::relu(t, x[0]));
}

#[test]
fn fused_attention() {
    let mut r = Rng::new(6);
    let shape = [2, 2, 5, 4];
    let lengths = Tensor::from_slice(gpu(), &[5i32, 3], &[2]).unwrap();
    for causal in [false, true] {
        let l = lengths.clone();
        gradcheck(
            &format!("attention causal={causal}"),
            vec![input(&mut r, &shape, -1.0, 1.0), input(&mut r, &shape, -1.0, 1.0), input(&mut r, &shape, -1.0, 1.0)],
            move |t, x| ops::attention(t, x[0], x[1], x[2], Some(&l), causal, 0.5, Layout::HeadsFirst),
        );
    }
    // [batch, seq, heads, head_dim], the layout the model uses.
    let l = lengths.clone();
    let shape = [2, 5, 2, 4];
    gradcheck(
        "attention seq-first",
        vec![input(&mut r, &shape, -1.0, 1.0), input(&mut r, &shape, -1.0, 1.0), input(&mut r, &shape, -1.0, 1.0)],
        move |t, x| ops::attention(t, x[0], x[1], x[2], Some(&l), true, 0.5, Layout::SeqFirst),
    );
}

#[test]
fn attention_with_dropout_on_the_probabilities() {
    // The same mask in every evaluation (the tape's seed and offsets are fixed); a dropout before it moves the
    // attention's stream offset off zero.
    let mut r = Rng::new(16);
    let shape = [2, 5, 2, 4];
    let l = Tensor::from_slice(gpu(), &[5i32, 4], &[2]).unwrap();
    gradcheck(
        "attention dropout 0.3",
        vec![input(&mut r, &shape, -1.0, 1.0), input(&mut r, &shape, -1.0, 1.0), input(&mut r, &shape, -1.0, 1.0)],
        move |t, x| {
            let q = ops::dropout(t, x[0], 0.1)?;
            ops::attention_dropout(t, q, x[1], x[2], Some(&l), false, 0.5, Layout::SeqFirst, 0.3)
        },
    );
}

#[test]
fn shape_ops() {
    let mut r = Rng::new(7);
    gradcheck("reshape", vec![input(&mut r, &[2, 6], -1.0, 1.0)], |t, x| ops::reshape(t, x[0], &[3, 4]));
    gradcheck("permute", vec![input(&mut r, &[2, 3, 4], -1.0, 1.0)], |t, x| ops::permute(t, x[0], &[2, 0, 1]));
    gradcheck("slice", vec![input(&mut r, &[3, 7], -1.0, 1.0)], |t, x| ops::slice(t, x[0], 1, 2, 3));
    gradcheck("concat", vec![input(&mut r, &[2, 3], -1.0, 1.0), input(&mut r, &[2, 2], -1.0, 1.0)], |t, x| ops::concat(t, &[x[0], x[1]], 1));
    let index = Tensor::from_slice(gpu(), &[2i32, 0, 1, 1, 3, 0], &[2, 3]).unwrap();
    gradcheck("gather_rows", vec![input(&mut r, &[2, 4, 3], -1.0, 1.0)], move |t, x| ops::gather_rows(t, x[0], &index));
    let ids = Tensor::from_slice(gpu(), &[1i32, 4, 1, 0, 2], &[5]).unwrap();
    gradcheck("embedding", vec![input(&mut r, &[6, 3], -1.0, 1.0)], move |t, x| ops::embedding(t, x[0], &ids));
}

#[test]
fn patch_ops() {
    use pretext::kernels::patch::PatchOrder;
    let mut r = Rng::new(10);
    for order in [PatchOrder::Pqc, PatchOrder::Cpq] {
        gradcheck(&format!("patchify {order:?}"), vec![input(&mut r, &[2, 3, 4, 6], -1.0, 1.0)], move |t, x| ops::patchify(t, x[0], 2, order));
        gradcheck(&format!("unpatchify {order:?}"), vec![input(&mut r, &[2, 6, 12], -1.0, 1.0)], move |t, x| {
            ops::unpatchify(t, x[0], 3, 4, 6, 2, order)
        });
    }
    // The patch embedding: patchify in the conv order, then a linear layer with the weight [hidden, C, p, p].
    gradcheck(
        "patch embedding",
        vec![input(&mut r, &[2, 2, 3, 6], -1.0, 1.0), input(&mut r, &[5, 2, 3, 3], -1.0, 1.0), input(&mut r, &[5], -1.0, 1.0)],
        |t, x| {
            let p = ops::patchify(t, x[0], 3, PatchOrder::Cpq)?;
            let w = ops::reshape(t, x[1], &[5, 18])?;
            ops::linear(t, p, w, Some(x[2]))
        },
    );
}

#[test]
fn dropout_is_a_fixed_mask_per_seed() {
    let mut r = Rng::new(8);
    gradcheck("dropout", vec![input(&mut r, &[4, 8], -1.0, 1.0)], |t, x| ops::dropout(t, x[0], 0.3));
}

#[test]
fn losses_and_l2_normalize() {
    let mut r = Rng::new(9);
    let targets = Tensor::from_slice(gpu(), &[2i32, -100, 0, 4], &[4]).unwrap();
    gradcheck("cross_entropy", vec![input(&mut r, &[4, 5], -2.0, 2.0)], move |t, x| ops::cross_entropy(t, x[0], &targets));
    let target = Tensor::from_slice(gpu(), &r.vec_f32(2 * 3 * 4), &[2, 3, 4]).unwrap();
    let mask = Tensor::from_slice(gpu(), &[1.0f32, 0.0, 1.0, 1.0, 1.0, 0.0], &[2, 3]).unwrap();
    for norm_pix in [false, true] {
        let (tg, m) = (target.clone(), mask.clone());
        gradcheck(&format!("recon_loss norm_pix={norm_pix}"), vec![input(&mut r, &[2, 3, 4], -1.0, 1.0)], move |t, x| {
            ops::recon_loss(t, x[0], &tg, &m, norm_pix)
        });
    }
    gradcheck("l2_normalize", vec![input(&mut r, &[3, 5], -1.0, 1.0)], |t, x| ops::l2_normalize(t, x[0], 1e-6));
    gradcheck("nt_xent after l2_normalize", vec![input(&mut r, &[6, 4], -1.0, 1.0)], |t, x| {
        let z = ops::l2_normalize(t, x[0], 1e-6)?;
        ops::nt_xent(t, z, 0.5)
    });
}

#[test]
fn autoencoder_losses_and_sigmoid() {
    let mut r = Rng::new(10);
    gradcheck("sigmoid", vec![input(&mut r, &[3, 7], -4.0, 4.0)], |t, x| ops::sigmoid(t, x[0]));
    // Logits made inside the graph (a product of two inputs), targets in [0, 1] with exact 0 and 1.
    let mut tv = r.vec_f32(4 * 6).iter().map(|v| v.abs()).collect::<Vec<f32>>();
    tv[0] = 0.0;
    tv[1] = 1.0;
    let targets = Tensor::from_slice(gpu(), &tv, &[4, 6]).unwrap();
    gradcheck("bce_with_logits", vec![input(&mut r, &[4, 6], -2.0, 2.0), input(&mut r, &[4, 6], 0.5, 2.0)], move |t, x| {
        let z = ops::mul(t, x[0], x[1])?;
        ops::bce_with_logits(t, z, &targets, 0.25)
    });
    // mu and logvar from one input through a product and a tanh, as an encoder's two heads would.
    gradcheck("kl_normal", vec![input(&mut r, &[3, 5], -1.5, 1.5), input(&mut r, &[3, 5], -1.0, 1.0)], |t, x| {
        let mu = ops::mul(t, x[0], x[1])?;
        let lv = ops::tanh(t, x[1])?;
        let lv = ops::scale(t, lv, 2.0)?;
        ops::kl_normal(t, mu, lv, 0.4)
    });
}

/// Like `gradcheck`, for a model's own parameters: perturbs each parameter's device tensor in place.
fn gradcheck_params(name: &str, params: &[Param], f: impl Fn(&mut Tape) -> Result<Var>) {
    let g = gpu();
    let coef_seed = 98;
    let loss_of = |tape: &mut Tape| -> Result<Var> {
        let out = f(tape)?;
        weighted_sum(tape, out, coef_seed)
    };
    let mut tape = Tape::new(g, 7);
    let loss = loss_of(&mut tape).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let grads = tape.backward(loss).unwrap_or_else(|e| panic!("{name}: backward failed: {e}"));
    drop(tape);
    let eval = || -> f64 {
        let mut tape = Tape::new(g, 7);
        let l = loss_of(&mut tape).unwrap();
        tape.value(l).to_vec::<f32>(g).unwrap()[0] as f64
    };
    let h = 1e-2f32;
    for p in params {
        let analytic = grads.get(p.id).unwrap_or_else(|| panic!("{name}: no gradient for {}", p.name)).to_vec::<f32>(g).unwrap();
        let mut host = p.value.to_vec::<f32>(g).unwrap();
        let n = host.len();
        for i in (0..n).step_by((n / 6).max(1)) {
            let x0 = host[i];
            host[i] = x0 + h;
            g.upload(p.value.buffer(), bytemuck::cast_slice(&host)).unwrap();
            let up = eval();
            host[i] = x0 - h;
            g.upload(p.value.buffer(), bytemuck::cast_slice(&host)).unwrap();
            let down = eval();
            host[i] = x0;
            g.upload(p.value.buffer(), bytemuck::cast_slice(&host)).unwrap();
            let numeric = (up - down) / (2.0 * h as f64);
            let a = analytic[i] as f64;
            let tol = 1e-2 + 2e-2 * a.abs().max(numeric.abs());
            assert!(
                (a - numeric).abs() <= tol,
                "{name}: {}[{i}]: analytic {a:.6} vs finite difference {numeric:.6} (|diff| {:.2e} > tol {tol:.2e})",
                p.name,
                (a - numeric).abs()
            );
        }
    }
}

#[test]
fn two_layer_transformer_full_gradient() {
    use pretext::nn::{BlockConfig, BlockNames, Init, TransformerBlock};
    let g = gpu();
    let mut prng = pretext::rng::Rng::new(11);
    let mut r = Rng::new(12);
    for pre_ln in [false, true] {
        let cfg = BlockConfig { d_model: 8, heads: 2, d_ff: 12, eps: 1e-5, pre_ln, dropout: 0.0, attn_dropout: 0.0, act: Activation::GeluErf, init: Init::Normal(0.3) };
        let blocks: Vec<TransformerBlock> =
            (0..2).map(|i| TransformerBlock::new(g, &BlockNames::bert(&format!("layer.{i}")), &cfg, &mut prng).unwrap()).collect();
        let x = Param::new("x", Tensor::from_slice(g, &r.vec_f32(2 * 4 * 8), &[2, 4, 8]).unwrap(), false);
        let lengths = Tensor::from_slice(g, &[4i32, 2], &[2]).unwrap();
        let mut params = vec![x.clone()];
        params.extend(blocks.iter().flat_map(|b| b.params()).cloned());
        assert_eq!(params.len(), 1 + 2 * 16, "every weight and bias of two blocks is checked");
        gradcheck_params(&format!("2-layer transformer pre_ln={pre_ln}"), &params, |t| {
            let mut h = x.var(t);
            for b in &blocks {
                h = b.forward(t, h, Some(&lengths))?;
            }
            Ok(h)
        });
    }
}

#[test]
fn batch_norm_with_and_without_affine() {
    let mut r = Rng::new(41);
    gradcheck(
        "batch_norm affine",
        vec![input(&mut r, &[6, 5], -2.0, 2.0), input(&mut r, &[5], 0.5, 1.5), input(&mut r, &[5], -0.5, 0.5)],
        |t, x| {
            let h = ops::scale(t, x[0], 1.3)?;
            ops::batch_norm(t, h, Some((x[1], x[2])), None, 0.1, 1e-5)
        },
    );
    gradcheck("batch_norm plain", vec![input(&mut r, &[4, 3], -2.0, 2.0)], |t, x| {
        let y = ops::batch_norm(t, x[0], None, None, 0.1, 1e-5)?;
        ops::mul(t, y, x[0])
    });
}
