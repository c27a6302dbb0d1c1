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
"""
import os

import torch
from safetensors.torch import save_file

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


if __name__ == "__main__":
    batchnorm()
    print("wrote", OUT)
