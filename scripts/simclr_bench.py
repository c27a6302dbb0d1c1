#!/usr/bin/env python3
"""simclr_bench.py: the PyTorch twin of `pretext bench`'s simclr_tiny_step, timed on the CPU.

    /work/venv/bin/python scripts/simclr_bench.py [--reps 3] [--threads N]

The same step: 256 random grey 28x28 images, two views each (SimCLR's augmentations, batched in torch: random
resized crop and flip by grid_sample, brightness and contrast in a random order with probability 0.8, a 3-tap
Gaussian blur with probability 0.5), transformers' ViTModel (hidden 128, 4 layers, 4 heads, MLP 512, patch 4,
eager attention) pooled at [CLS], projection 128 -> 128 (BatchNorm, ReLU) -> 128 (BatchNorm), NT-Xent with
tau 0.5, backward, AdamW. Prints the median step time in ms and the model GFLOP/s (the engine's count, 129.1
GFLOP per step). float32, torch's default thread count unless --threads.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from transformers import ViTConfig, ViTModel

FLOPS = 129.10067712e9


def views(x, g):
    """Two SimCLR views of x [B, 1, 28, 28] in [0, 1], all parameters per sample."""
    out = []
    b = x.shape[0]
    for _ in range(2):
        area = 0.2 + 0.8 * torch.rand(b, generator=g)
        logr = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * torch.rand(b, generator=g)
        ratio = torch.exp(logr)
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (1 - w) * (2 * torch.rand(b, generator=g) - 1)
        cy = (1 - h) * (2 * torch.rand(b, generator=g) - 1)
        flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = w * flip
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        jitter = (torch.rand(b, 1, 1, 1, generator=g) < 0.8).float()
        bright = 1 + jitter * 0.8 * (2 * torch.rand(b, 1, 1, 1, generator=g) - 1)
        contrast = 1 + jitter * 0.8 * (2 * torch.rand(b, 1, 1, 1, generator=g) - 1)
        order = torch.rand(b, 1, 1, 1, generator=g) < 0.5
        a = (v * bright).clamp(0, 1)
        a = (contrast * a + (1 - contrast) * a.mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)
        c = (contrast * v + (1 - contrast) * v.mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)
        c = (c * bright).clamp(0, 1)
        v = torch.where(order, a, c)
        sigma = (0.1 + 1.9 * torch.rand(b, generator=g)) * (torch.rand(b, generator=g) < 0.5).float() + 1e-6
        k = torch.exp(-0.5 * (torch.tensor([-1.0, 0.0, 1.0])[None, :] / sigma[:, None]) ** 2)
        k = k / k.sum(dim=1, keepdim=True)
        kk = (k[:, :, None] * k[:, None, :])[:, None]  # [B, 1, 3, 3]
        v = F.pad(v, (1, 1, 1, 1), mode="reflect").reshape(1, b, 30, 30)
        v = F.conv2d(v, kk, groups=b).reshape(b, 1, 28, 28)
        out.append(v)
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    config = ViTConfig(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512, image_size=28,
                       patch_size=4, num_channels=1, layer_norm_eps=1e-6, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config._attn_implementation = "eager"
    encoder = ViTModel(config, add_pooling_layer=False)
    head = torch.nn.Sequential(torch.nn.Linear(128, 128, bias=False), torch.nn.BatchNorm1d(128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 128, bias=False), torch.nn.BatchNorm1d(128))
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)
    data = torch.rand(1024, 1, 28, 28, generator=g)

    def step():
        idx = torch.randint(0, 1024, (256,), generator=g)
        v = views(data[idx], g)
        h = encoder(pixel_values=v).last_hidden_state[:, 0]
        z = torch.cat([head(h[:256]), head(h[256:])])
        z = F.normalize(z, dim=1)
        s = (z @ z.T / 0.5).masked_fill(torch.eye(512, dtype=torch.bool), float("-inf"))
        labels = torch.cat([torch.arange(256, 512), torch.arange(0, 256)])
        loss = F.cross_entropy(s, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median(times)
    print(f"simclr_tiny_step (PyTorch {torch.__version__}, {torch.get_num_threads()} threads): {ms:.0f} ms, "
          f"{FLOPS / ms / 1e6:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
