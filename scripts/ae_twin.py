#!/usr/bin/env python3
"""ae_twin.py: the PyTorch twin of pretext's autoencoders (src/models/autoencoder.rs, src/tasks/autoencoder.rs).

It re-implements, independently of the Rust code, everything a training run depends on, so that the same
config and seed give the same run in both:
  - the initial weights: src/rng.rs's SplitMix64 seeded with config["init_seed"], Xavier-uniform weights
    ((u*2-1)*sqrt(6/(fan_in+fan_out)) in f64, rounded to f32) and zero biases, drawn layer by layer in the
    order encoder.layers.*, encoder.code | encoder.mean, encoder.logvar, decoder.layers.*, decoder.out;
  - the batches: the trainer's SplitMix64 seeded with --seed, `batch` draws of below(n) per step (with
    replacement);
  - the VAE's noise: Philox-4x32-10 + Box-Muller exactly as shaders/noise.wgsl (step s draws eps at stream
    offset 0 under the tape seed (seed * 0x9E3779B9 + s) mod 2^64; evaluation gives image i the normals at
    offset i*latent under EVAL_SEED);
  - AdamW (torch.optim.AdamW, betas 0.9/0.999, eps 1e-8, weight decay 0) with the lr of src/optim/schedule.rs.

How to run (the venv lives outside the repository and is never committed):

    python3 -m venv /work/venv && /work/venv/bin/pip install torch safetensors numpy
    /work/venv/bin/python scripts/ae_twin.py step   # writes assets/fixtures/ae_step.safetensors
    /work/venv/bin/python scripts/ae_twin.py run --out assets/fixtures/vae_run.json   # the short-run fixture
    bash scripts/ae_results.sh                          # the README's full-size comparison runs it

Made with torch 2.15.0+cu132 (CPU), safetensors 0.8.0, numpy 2.4.6.

`step` (float64 throughout, results rounded to f32 when saved): one training step's forward and backward of four
small autoencoders of an odd shape (1x5x7 images, widths [13, 11], latent 3, a batch of 6), with the VAE's
eps supplied:
    vae_bernoulli  (beta 1), vae_gaussian (sigma 0.3, beta 0.5), sparse_kl (target 0.1, weight 0.7),
    sparse_l1 (weight 0.05, relu code).
  Tensors, each case under its prefix "<case>.": init.<name> (the Xavier init from init_seed, f32; Rust must
  rebuild it bit for bit), param.<name> (init + normal(0, 0.1) on the biases, zero otherwise, so a dropped bias
  term shows), x [6, 35], eps [6, 3] (VAE), loss, recon, kl (VAE) / penalty (sparse) [1], grad.<name> for every
  parameter. Metadata "config": {case: config.json object}.

`run` (float32, as the engine): trains a VAE (config from --widths/--latent/...) for --steps on --train,
evaluates on --eval, writes JSON {"config", "seed", "steps", "batch", "lr", "schedule", "neg_elbo", "recon",
"kl", "losses": [loss at steps 1, 10, 20, ...], "seconds", "train_images", "eval_images"}.
"""
import argparse
import gzip
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
EVAL_SEED = 0xE7A15EED


class Rng:
    """SplitMix64, as src/rng.rs."""

    def __init__(self, seed):
        self.state = (seed ^ 0x5DEECE66D1A4F87B) & MASK64

    def next_u64(self):
        self.state = (self.state + GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next_u64() >> 11) / float(1 << 53)

    def below(self, n):
        return (self.next_u64() >> 1) % max(n, 1)

    def uniforms(self, n):
        """n consecutive uniform() values, vectorised (SplitMix64's state advances by GAMMA per draw)."""
        if n == 0:
            return np.zeros(0)
        k = np.arange(1, n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(self.state) + k * np.uint64(GAMMA)
            self.state = int(z[-1])
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def philox_words(seed, first_block, blocks):
    """Philox-4x32-10 of counters (q, 0, 0) for q = first_block .. first_block + blocks - 1: [blocks, 4] words."""
    m32 = np.uint64(0xFFFFFFFF)
    q = np.uint64(first_block) + np.arange(blocks, dtype=np.uint64)
    c0, c1 = q & m32, q >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & m32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & m32
        k0 = (k0 + np.uint64(0x9E3779B9)) & m32
        k1 = (k1 + np.uint64(0xBB67AE85)) & m32
    return np.stack([c0, c1, c2, c3], axis=1)


def normal(n, seed, offset):
    """Standard normals at stream positions offset .. offset + n - 1, as shaders/noise.wgsl (in f64, then f32)."""
    skip = offset % 4
    blocks = (skip + n + 3) // 4
    w = philox_words(seed, offset // 4, blocks)
    u1 = ((w[:, [0, 2]] >> np.uint64(8)).astype(np.float64) + 0.5) / 2.0 ** 24
    u2 = (w[:, [1, 3]] >> np.uint64(8)).astype(np.float64) / 2.0 ** 24
    r = np.sqrt(-2.0 * np.log(u1))
    t = 2.0 * math.pi * u2
    z = np.stack([r[:, 0] * np.cos(t[:, 0]), r[:, 0] * np.sin(t[:, 0]), r[:, 1] * np.cos(t[:, 1]), r[:, 1] * np.sin(t[:, 1])], axis=1)
    return z.reshape(-1)[skip:skip + n].astype(np.float32)


def layer_shapes(cfg):
    """(name, out, in) of every Linear in the order the Rust model creates (and initialises) them."""
    d = cfg["channels"] * cfg["height"] * cfg["width"]
    dims = [d] + list(cfg["widths"])
    shapes = [(f"encoder.layers.{i}", dims[i + 1], dims[i]) for i in range(len(dims) - 1)]
    if cfg["kind"] == "vae":
        shapes += [("encoder.mean", cfg["latent"], dims[-1]), ("encoder.logvar", cfg["latent"], dims[-1])]
    else:
        shapes += [("encoder.code", cfg["latent"], dims[-1])]
    back = [cfg["latent"]] + list(reversed(cfg["widths"]))
    shapes += [(f"decoder.layers.{i}", back[i + 1], back[i]) for i in range(len(back) - 1)]
    shapes += [("decoder.out", d, back[-1])]
    return shapes


def init_weights(cfg):
    """The Rust model's initial weights: Xavier-uniform weights, zero biases, from SplitMix64(init_seed)."""
    rng = Rng(cfg["init_seed"])
    params = {}
    for name, out_f, in_f in layer_shapes(cfg):
        a = math.sqrt(6.0 / (in_f + out_f))
        params[f"{name}.weight"] = ((rng.uniforms(out_f * in_f) * 2.0 - 1.0) * a).astype(np.float32).reshape(out_f, in_f)
        params[f"{name}.bias"] = np.zeros(out_f, dtype=np.float32)
    return params


ACTS = {"relu": torch.relu, "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "none": lambda v: v}


def forward(cfg, p, x, eps):
    """Returns (total, recon, kl or penalty or None, logits); p maps names to tensors (requires_grad)."""
    act = ACTS[cfg["activation"]]
    lin = lambda name, h: h @ p[f"{name}.weight"].T + p[f"{name}.bias"]
    h = x
    for i in range(len(cfg["widths"])):
        h = act(lin(f"encoder.layers.{i}", h))
    b, d = x.shape
    extra = None
    if cfg["kind"] == "vae":
        mu, lv = lin("encoder.mean", h), lin("encoder.logvar", h)
        z = mu + torch.exp(0.5 * lv) * eps
        extra = -0.5 * torch.sum(1.0 + lv - mu * mu - torch.exp(lv)) / b
    else:
        z = ACTS[cfg["code_activation"]](lin("encoder.code", h))
    g = z
    for i in range(len(cfg["widths"])):
        g = act(lin(f"decoder.layers.{i}", g))
    out = lin("decoder.out", g)
    if cfg["likelihood"] == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / b
    else:
        s = cfg["sigma"]
        recon = 0.5 * torch.sum((x - out) ** 2) / (s * s) / b + d * (math.log(s) + 0.5 * math.log(2 * math.pi))
    total = recon
    if cfg["kind"] == "vae":
        total = recon + cfg["beta"] * extra
    elif cfg["kind"] == "sparse":
        sp = cfg["sparsity"]
        if sp["penalty"] == "l1":
            extra = sp["weight"] * torch.sum(torch.abs(z)) / b
        else:
            rho, rho_hat = sp["target"], z.mean(dim=0)
            extra = sp["weight"] * torch.sum(rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat)))
        total = recon + extra
    return total, recon, extra, out


def base_config(kind, **kw):
    cfg = {
        "model_type": "pretext_autoencoder", "kind": kind, "channels": 1, "height": 28, "width": 28,
        "widths": [512, 256], "latent": 32, "activation": "relu",
        "code_activation": "sigmoid" if kind == "sparse" else "none", "likelihood": "bernoulli", "sigma": 0.1,
        "noise": None, "sparsity": None, "beta": 1.0, "binarize": False, "image_mean": [], "image_std": [],
        "init_seed": 0,
    }
    cfg.update(kw)
    return cfg


def cmd_step(args):
    from safetensors.numpy import save_file
    torch.set_default_dtype(torch.float64)
    shape = dict(channels=1, height=5, width=7, widths=[13, 11], latent=3)
    cases = {
        "vae_bernoulli": base_config("vae", init_seed=11, **shape),
        "vae_gaussian": base_config("vae", init_seed=12, likelihood="gaussian", sigma=0.3, beta=0.5, activation="tanh", **shape),
        "sparse_kl": base_config("sparse", init_seed=13, sparsity={"penalty": "kl", "weight": 0.7, "target": 0.1}, **shape),
        "sparse_l1": base_config("sparse", init_seed=14, code_activation="relu", sparsity={"penalty": "l1", "weight": 0.05, "target": 0.05}, **shape),
    }
    gen = torch.Generator().manual_seed(2024)
    out, configs = {}, {}
    for case, cfg in cases.items():
        configs[case] = cfg
        init = init_weights(cfg)
        b, d = 6, 35
        x = torch.rand(b, d, generator=gen)
        x[0, :5] = 0.0
        x[1, :5] = 1.0
        x = x.float().double()  # exactly representable in f32
        eps = torch.randn(b, cfg["latent"], generator=gen).float().double()
        params = {}
        for name, v in init.items():
            t = torch.from_numpy(v.astype(np.float64))
            if name.endswith(".bias"):
                t = t + 0.1 * torch.randn(t.shape, generator=gen)
            params[name] = t.float().double().requires_grad_(True)
        total, recon, extra, _ = forward(cfg, params, x, eps)
        total.backward()
        pre = f"{case}."
        for name, v in init.items():
            out[pre + "init." + name] = v
            out[pre + "param." + name] = params[name].detach().numpy().astype(np.float32)
            out[pre + "grad." + name] = params[name].grad.numpy().astype(np.float32)
        out[pre + "x"] = x.numpy().astype(np.float32)
        out[pre + "loss"] = np.array([total.item()], dtype=np.float32)
        out[pre + "recon"] = np.array([recon.item()], dtype=np.float32)
        if cfg["kind"] == "vae":
            out[pre + "eps"] = eps.numpy().astype(np.float32)
            out[pre + "kl"] = np.array([extra.item()], dtype=np.float32)
        else:
            out[pre + "penalty"] = np.array([extra.item()], dtype=np.float32)
        print(f"{case}: loss {total.item():.6f} recon {recon.item():.6f} extra {extra.item():.6f}")
    save_file(out, args.out, metadata={"config": json.dumps(configs, sort_keys=True)})
    print(f"wrote {args.out}")


def read_idx_images(path):
    data = gzip.open(path, "rb").read() if path.endswith(".gz") else open(path, "rb").read()
    n, h, w = struct.unpack(">III", data[4:16])
    px = np.frombuffer(data[16:], dtype=np.uint8).reshape(n, h * w)
    # as the engine's preprocessor: f32(v) * f32(1/255)
    return px.astype(np.float32) * np.float32(1.0 / 255.0)


def lr_at(step, peak, total, kind):
    """src/optim/schedule.rs with no warm-up and min_lr 0, in f32."""
    if kind == "constant":
        return np.float32(peak)
    t = np.float32(min(max(np.float32(step) / np.float32(max(total, 1)), 0.0), 1.0))
    f = np.float32(0.5) * (np.float32(1.0) + np.float32(math.cos(np.float32(math.pi) * t)))
    return np.float32(np.float32(peak) * f)


def held_out(cfg, params, images):
    """Negative ELBO, recon and KL per image with the evaluation noise (image i: offset i*latent)."""
    with torch.no_grad():
        x = torch.from_numpy(images)
        eps = torch.from_numpy(normal(len(images) * cfg["latent"], EVAL_SEED, 0).reshape(len(images), cfg["latent"]))
        _, recon, kl, _ = forward(cfg, params, x, eps)
    return recon.item() + kl.item(), recon.item(), kl.item()


def cmd_run(args):
    torch.set_num_threads(args.threads)
    cfg = base_config("vae", widths=args.widths, latent=args.latent, init_seed=args.init_seed)
    train = read_idx_images(args.train)
    if args.holdout_every:
        # as `pretext ae train`, which holds out every k-th image of --data (i % k == k - 1) for its own evaluation
        k = args.holdout_every
        train = train[[i for i in range(len(train)) if i % k != k - 1]]
    evals = read_idx_images(args.eval)
    params = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in init_weights(cfg).items()}
    names = [f"{n}.{s}" for n, _, _ in layer_shapes(cfg) for s in ("weight", "bias")]
    opt = torch.optim.AdamW([params[n] for n in names], lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    rng = Rng(args.seed)
    losses = []
    t0 = time.time()
    for step in range(1, args.steps + 1):
        lr = float(lr_at(step, args.lr, args.steps, args.schedule))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = [rng.below(len(train)) for _ in range(args.batch)]
        x = torch.from_numpy(train[idx])
        tape_seed = (args.seed * 0x9E3779B9 + step) & MASK64
        eps = torch.from_numpy(normal(args.batch * cfg["latent"], tape_seed, 0).reshape(args.batch, cfg["latent"]))
        opt.zero_grad()
        total, _, _, _ = forward(cfg, params, x, eps)
        total.backward()
        opt.step()
        if step == 1 or step % 10 == 0:
            losses.append([step, total.item()])
    seconds = time.time() - t0
    neg_elbo, recon, kl = held_out(cfg, params, evals)
    result = {"config": cfg, "seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr,
              "schedule": args.schedule, "neg_elbo": neg_elbo, "recon": recon, "kl": kl, "losses": losses,
              "seconds": seconds, "train_images": len(train), "eval_images": len(evals),
              "torch": torch.__version__}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"twin: {args.steps} steps in {seconds:.1f} s; held-out -ELBO {neg_elbo:.4f} nats/image (recon {recon:.4f}, KL {kl:.4f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("step")
    s.add_argument("--out", default="assets/fixtures/ae_step.safetensors")
    r = sub.add_parser("run")
    r.add_argument("--train", default="assets/fashion-mnist/train-images-idx3-ubyte.gz")
    r.add_argument("--eval", default="assets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    r.add_argument("--widths", type=int, nargs="+", default=[128])
    r.add_argument("--latent", type=int, default=8)
    r.add_argument("--init-seed", type=int, default=5)
    r.add_argument("--steps", type=int, default=200)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--holdout-every", type=int, default=0, help="drop every k-th training image, as `pretext ae train` does (k = 20)")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", default="assets/fixtures/vae_run.json")
    args = ap.parse_args()
    {"step": cmd_step, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
