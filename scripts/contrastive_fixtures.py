#!/usr/bin/env python3
"""contrastive_fixtures.py: writes pretext's contrastive-learning parity fixtures into assets/fixtures/.

How to run (the venv lives OUTSIDE the repository and is never committed):

    python3 -m venv /work/venv
    /work/venv/bin/pip install torch transformers safetensors numpy
    /work/venv/bin/python scripts/contrastive_fixtures.py

Made with torch 2.15.0+cu132 (run on the CPU), transformers 5.24.0, safetensors 0.8.0.
Deterministic: every random draw comes from a torch.Generator with fixed seeds. Every computation runs in
float64 (inputs drawn in f32 and converted exactly); results are rounded to f32 when saved.

Files:
  batchnorm.safetensors: torch.nn.BatchNorm1d(7) (momentum 0.1, eps 1e-5) on x [13, 7] with non-default
      weight, bias and running statistics (running_mean0, running_var0) and an upstream gradient dy [13, 7]:
      train mode: y_train, running_mean1, running_var1 (after the update), dx_train, dweight_train, dbias_train;
      eval mode (running statistics = running_mean1/var1): y_eval, dx_eval, dweight_eval, dbias_eval;
      without affine (MoCo v3's last BN), train mode: y_plain, dx_plain, running_mean_plain, running_var_plain.
  contrastive_{simclr,moco,byol}_step.safetensors: one training step of each method, the PyTorch twin of
      tasks/contrastive.rs, views given as inputs (augmentation out of the comparison). The encoder is a
      transformers ViTModel (no pooler; features = the [CLS] row of last_hidden_state) of an odd shape: RGB
      12x12 images in patches of 4 (9 patches), hidden 24, 3 heads of 8, intermediate 40, 2 layers, eps 1e-6,
      learned position embeddings; heads as lightly's ProjectionHead (nn.Sequential numbering), projection
      24 -> 20 -> 12, prediction 12 -> 18 -> 12. Every weight random (see `randomise`); for MoCo v3 and BYOL the
      target network starts from its own random draw (not a copy), so that the EMA shows in its result.
      Tensors: views [10, 3, 12, 12] (5 images: first views then second views; uniform noise, each view at its
      own contrast); init.<name> every online
      tensor (HF names for the encoder), target.<name> every target tensor before the step (encoder names under
      "momentum_encoder."), loss [1], grad.<name> every trainable parameter, after.<name> every online
      parameter after the optimizer step, target_after.<name> every target tensor after the EMA update (and
      its BatchNorm statistics after its forward passes), online BatchNorm statistics after the step under
      their own names in after.<name>. Metadata: "config" (the ViTConfig), "spec" (JSON: method, temperature,
      optimizer and its hyper-parameters, momentum base, total steps).
      SimCLR: NT-Xent tau 0.5, LARS (lr 0.3, momentum 0.9, eta 0.001, weight decay 1e-6, the trust ratio of
      You et al. as the engine computes it: eta |p| / (|g| + wd |p|), none on biases and norms).
      MoCo v3: 2 tau (CE(q1 k2 / tau) + CE(q2 k1 / tau)), tau 0.2, AdamW (lr 1e-3, wd 0.1 on weight matrices),
      target momentum base 0.9 (not the paper's 0.99, so that the EMA moves the target well past the test's
      tolerance) at step 1 of 10 on the cosine schedule.
      BYOL: mean(2 - 2 cos(p1, z2)) + mean(2 - 2 cos(p2, z1)), LARS (lr 0.2, wd 1.5e-6), momentum base 0.8.
"""
import json
import math
import os

import torch
from safetensors.torch import save_file
from transformers import ViTConfig, ViTModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "fixtures")


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def batchnorm():
    g = torch.Generator().manual_seed(11)
    rows, dim = 13, 7
    x = (torch.randn(rows, dim, generator=g) * 2.0 + 0.5).double()
    dy = torch.randn(rows, dim, generator=g).double()
    weight = (1.0 + 0.3 * torch.randn(dim, generator=g)).double()
    bias = (0.2 * torch.randn(dim, generator=g)).double()
    rm0 = (0.5 * torch.randn(dim, generator=g)).double()
    rv0 = (0.5 + torch.rand(dim, generator=g)).double()
    out = {"x": x, "dy": dy, "weight": weight, "bias": bias, "running_mean0": rm0, "running_var0": rv0}

    bn = torch.nn.BatchNorm1d(dim, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        bn.running_mean.copy_(rm0)
        bn.running_var.copy_(rv0)
    bn.train()
    xg = x.clone().requires_grad_(True)
    y = bn(xg)
    y.backward(dy)
    out.update(y_train=y, running_mean1=bn.running_mean.clone(), running_var1=bn.running_var.clone(),
               dx_train=xg.grad, dweight_train=bn.weight.grad.clone(), dbias_train=bn.bias.grad.clone())

    bn.zero_grad()
    bn.eval()
    xg = x.clone().requires_grad_(True)
    y = bn(xg)
    y.backward(dy)
    out.update(y_eval=y, dx_eval=xg.grad, dweight_eval=bn.weight.grad.clone(), dbias_eval=bn.bias.grad.clone())

    plain = torch.nn.BatchNorm1d(dim, affine=False, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        plain.running_mean.copy_(rm0)
        plain.running_var.copy_(rv0)
    plain.train()
    xg = x.clone().requires_grad_(True)
    y = plain(xg)
    y.backward(dy)
    out.update(y_plain=y, dx_plain=xg.grad, running_mean_plain=plain.running_mean.clone(),
               running_var_plain=plain.running_var.clone())
    save_file({k: f32(v) for k, v in out.items()}, os.path.join(OUT, "batchnorm.safetensors"))


def original(name):
    """transformers 5's ViTModel parameter name -> the name in saved checkpoints (the original ViT names)."""
    for new, old in (("attention.q_proj", "attention.attention.query"), ("attention.k_proj", "attention.attention.key"),
                     ("attention.v_proj", "attention.attention.value"), ("attention.o_proj", "attention.output.dense"),
                     ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense")):
        name = name.replace(new, old)
    if name.startswith("layers."):
        name = "encoder.layer." + name[len("layers."):]
    return name


def randomise(module, g):
    """Every parameter redrawn: matrices normal(0, 0.5/sqrt(fan_in)), biases normal(0, 0.1), norm weights
    1 + normal(0, 0.1), cls token and position embeddings normal(0, 0.02) (HF's initializer range: larger, the
    [CLS] output barely varies across images, and the BatchNorm after it would amplify f32 rounding tenfold)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1 and ("norm" in name or is_bn(module, name)) and name.endswith("weight"):
                new = 1 + 0.1 * torch.randn(p.shape, generator=g)
            elif p.dim() == 1:
                new = 0.1 * torch.randn(p.shape, generator=g)
            elif p.dim() == 3:
                new = 0.02 * torch.randn(p.shape, generator=g)
            else:
                new = 0.5 / math.sqrt(p[0].numel()) * torch.randn(p.shape, generator=g)
            p.copy_(new.to(p.dtype))


def is_bn(module, name):
    parent = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
    return isinstance(parent, torch.nn.BatchNorm1d)


class Head(torch.nn.Module):
    """lightly's ProjectionHead: layers (d_in, d_out, bias, bn: None | affine, relu) as one nn.Sequential."""

    def __init__(self, layers):
        super().__init__()
        mods = []
        for d_in, d_out, bias, bn, relu in layers:
            mods.append(torch.nn.Linear(d_in, d_out, bias=bias))
            if bn is not None:
                mods.append(torch.nn.BatchNorm1d(d_out, affine=bn))
            if relu:
                mods.append(torch.nn.ReLU())
        self.layers = torch.nn.Sequential(*mods)

    def forward(self, x):
        return self.layers(x)


def hidden(a, b):
    return (a, b, False, True, True)


def heads(method, d, ph, out, pred_hidden):
    if method == "simclr":
        return Head([hidden(d, ph), (ph, out, False, True, False)]), None
    if method == "moco":
        return (Head([hidden(d, ph), hidden(ph, ph), (ph, out, False, False, False)]),
                Head([hidden(out, pred_hidden), (pred_hidden, out, False, False, False)]))
    return Head([hidden(d, ph), (ph, out, True, None, False)]), Head([hidden(out, pred_hidden), (pred_hidden, out, True, None, False)])


def named(prefix, module, encoder):
    """Every tensor (parameters and BatchNorm buffers) under the engine's names."""
    out = {}
    for n, t in list(module.named_parameters()) + [(n, b) for n, b in module.named_buffers() if "running" in n]:
        out[prefix + (original(n) if encoder else n)] = t
    return out


def decays(name, p):
    return p.dim() in (2, 4)  # matrices and the patch-embedding conv; never biases, norms, cls, positions


def lars_step(params, lr, momentum, eta, wd):
    """The engine's LARS (optim.wgsl): d = g + wd p; trust = eta |p| / (|g| + wd |p|) (1 when a norm is 0, and
    for parameters without decay); buf = trust d (first step); p -= lr buf."""
    with torch.no_grad():
        for name, p in params:
            g = p.grad
            w = wd if decays(name, p) else 0.0
            d = g + w * p
            trust = 1.0
            if decays(name, p):
                pn, gn = p.norm(), g.norm()
                if pn > 0 and gn > 0:
                    trust = eta * pn / (gn + w * pn)
            p -= lr * trust * d


def cosine_momentum(base, step, total):
    return 1 - (1 - base) * (1 + math.cos(math.pi * step / total)) / 2


def nt_xent(z, tau):
    z = torch.nn.functional.normalize(z, dim=1)
    n = z.shape[0] // 2
    s = z @ z.T / tau
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(s, labels)


def infonce(q, k, tau):
    q = torch.nn.functional.normalize(q, dim=1)
    k = torch.nn.functional.normalize(k, dim=1)
    return torch.nn.functional.cross_entropy(q @ k.T / tau, torch.arange(q.shape[0]))


def byol(p, z):
    p = torch.nn.functional.normalize(p, dim=1)
    z = torch.nn.functional.normalize(z, dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()


SPECS = {
    "simclr": {"method": "simclr", "temperature": 0.5, "optimizer": "lars", "lr": 0.3, "momentum": 0.9, "eta": 0.001, "weight_decay": 1e-6},
    "moco": {"method": "moco", "temperature": 0.2, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1, "ema": 0.9, "total_steps": 10},
    "byol": {"method": "byol", "temperature": 1.0, "optimizer": "lars", "lr": 0.2, "momentum": 0.9, "eta": 0.001, "weight_decay": 1.5e-6, "ema": 0.8, "total_steps": 10},
}


def method_step(method, seed):
    spec = SPECS[method]
    config = ViTConfig(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40, hidden_act="gelu",
                       image_size=12, patch_size=4, num_channels=3, qkv_bias=True, layer_norm_eps=1e-6,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config._attn_implementation = "eager"
    g = torch.Generator().manual_seed(seed)
    encoder = ViTModel(config, add_pooling_layer=False)
    proj, pred = heads(method, 24, 20, 12, 18)
    randomise(encoder, g)
    randomise(proj, g)
    if pred is not None:
        randomise(pred, g)
    target = None
    if method != "simclr":
        t_enc = ViTModel(config, add_pooling_layer=False)
        t_proj, _ = heads(method, 24, 20, 12, 18)
        randomise(t_enc, g)
        randomise(t_proj, g)
        target = (t_enc.double().train(), t_proj.double().train())
    with torch.no_grad():  # BatchNorm statistics that are not the defaults
        for m in [proj, pred] + ([target[1]] if target else []):
            for mod in (m.modules() if m is not None else []):
                if isinstance(mod, torch.nn.BatchNorm1d):
                    mod.running_mean.copy_(0.3 * torch.randn(mod.running_mean.shape, generator=g))
                    mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape, generator=g))
    encoder, proj = encoder.double().train(), proj.double().train()
    pred = pred.double().train() if pred is not None else None
    # each image at its own contrast, so that the features vary across the batch as real views do
    views = torch.rand(10, 3, 12, 12, generator=g) * (0.1 + 0.9 * torch.rand(10, 1, 1, 1, generator=g))

    out = {"views": views}
    online = {}
    online.update(named("", encoder, True))
    online.update(named("projection_head.", proj, False))
    if pred is not None:
        online.update(named("prediction_head.", pred, False))
    out.update({"init." + k: v.clone() for k, v in online.items()})
    if target:
        tgt = {}
        tgt.update(named("momentum_encoder.", target[0], True))
        tgt.update(named("momentum_projection_head.", target[1], False))
        out.update({"target." + k: v.clone() for k, v in tgt.items()})

    tau = spec["temperature"]
    v = views.double()
    h = encoder(pixel_values=v).last_hidden_state[:, 0]
    h1, h2 = h[:5], h[5:]
    z1, z2 = proj(h1), proj(h2)
    if method == "simclr":
        loss = nt_xent(torch.cat([z1, z2]), tau)
    else:
        p1, p2 = pred(z1), pred(z2)
        with torch.no_grad():
            hk = target[0](pixel_values=v).last_hidden_state[:, 0]
            k1, k2 = target[1](hk[:5]), target[1](hk[5:])
        if method == "moco":
            loss = 2 * tau * (infonce(p1, k2, tau) + infonce(p2, k1, tau))
        else:
            loss = byol(p1, k2) + byol(p2, k1)
    loss.backward()
    out["loss"] = loss.reshape(1)
    params = [(k, t) for k, t in online.items() if isinstance(t, torch.nn.Parameter)]
    for k, t in params:
        out["grad." + k] = t.grad.clone()

    if spec["optimizer"] == "lars":
        lars_step(params, spec["lr"], spec["momentum"], spec["eta"], spec["weight_decay"])
    else:
        decay = [t for k, t in params if decays(k, t)]
        rest = [t for k, t in params if not decays(k, t)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec["weight_decay"]}, {"params": rest, "weight_decay": 0.0}],
                                lr=spec["lr"], betas=(0.9, 0.999), eps=1e-8)
        opt.step()
    out.update({"after." + k: v.clone() for k, v in online.items()})
    if target:
        m = cosine_momentum(spec["ema"], 1, spec["total_steps"])
        with torch.no_grad():
            for (tk, tv), (ok, ov) in zip(tgt.items(), online.items()):
                if "running" in tk:
                    continue  # the target's BatchNorm statistics follow its own forward passes
                assert tk.split(".", 1)[1] == ok.split(".", 1)[1] or tk == "momentum_encoder." + ok, (tk, ok)
                tv.mul_(m).add_((1 - m) * ov)
        out.update({"target_after." + k: v.clone() for k, v in tgt.items()})
    meta = {"config": json.dumps(config.to_diff_dict(), sort_keys=True), "spec": json.dumps(spec, sort_keys=True)}
    save_file({k: f32(v) for k, v in out.items()}, os.path.join(OUT, f"contrastive_{method}_step.safetensors"), metadata=meta)
    return loss.item(), len(params)


if __name__ == "__main__":
    torch.use_deterministic_algorithms(True)
    batchnorm()
    for i, method in enumerate(["simclr", "moco", "byol"]):
        loss, n = method_step(method, 100 + i)
        print(f"{method}: loss {loss:.6f}, {n} parameters")
    print("wrote", OUT)
