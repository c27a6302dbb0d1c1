#!/usr/bin/env python3
"""mae_bench.py: the PyTorch twin of `pretext bench --filter mae_tiny`: one ViT-MAE pretraining step (forward,
backward, AdamW) of HF's ViTMAEForPreTraining in the MAE issue's tiny configuration, timed on this CPU.

    /work/venv/bin/python scripts/mae_bench.py [--threads N] [--reps R]     # the venv of scripts/vit_fixtures.py

Batch 128 grey 28x28 images (uniform random pixels, as the engine's bench), patch 4, mask ratio 0.75 (12 of 49
patches visible), encoder hidden 128, 4 layers, 4 heads, MLP 512; decoder hidden 64, 2 layers, 2 heads, MLP 256;
norm-pix loss; AdamW (betas 0.9, 0.95, weight decay 0.05), float32, eager attention. Fresh noise each step.
Prints one JSON object per row like `pretext bench --json`: the first step (model built, first call), and the
median of R steps after it; gflops counts the same model FLOPs as the engine (`bench::mae::step_flops`:
12.42 GFLOP a step).
"""
import argparse
import json
import time

import torch
from transformers import ViTMAEConfig, ViTMAEForPreTraining

BATCH = 128


def step_flops(c, batch):
    l = (c.image_size // c.patch_size) ** 2
    p, d, f = c.patch_size ** 2 * c.num_channels, c.hidden_size, c.intermediate_size
    dd, fd = c.decoder_hidden_size, c.decoder_intermediate_size
    se, sd = 1 + int(l * (1 - c.mask_ratio)), 1 + l

    def block(s, d, f):
        return 4 * 2 * s * d * d + 2 * 2 * s * d * f + 2 * 2 * s * s * d

    enc = c.num_hidden_layers * block(se, d, f)
    dec = c.decoder_num_hidden_layers * block(sd, dd, fd) + 2 * se * d * dd + 2 * sd * dd * p
    return batch * (3 * (enc + dec) + 2 * (2 * l * p * d))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    config = ViTMAEConfig(
        hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512, image_size=28,
        patch_size=4, num_channels=1, layer_norm_eps=1e-6, decoder_hidden_size=64, decoder_num_hidden_layers=2,
        decoder_num_attention_heads=2, decoder_intermediate_size=256, mask_ratio=0.75, norm_pix_loss=True,
    )
    flops = step_flops(config, BATCH)
    started = time.perf_counter()
    model = ViTMAEForPreTraining(config, ).train()
    model.config._attn_implementation = "eager"
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    images = torch.rand(BATCH, 1, 28, 28)

    def step():
        loss = model(pixel_values=images).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    first = (time.perf_counter() - started) * 1e3
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    ms = times[len(times) // 2] if len(times) % 2 else 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])
    shape = f"{BATCH}x28x28"
    base = {"gbps": None, "pct_peak": None, "torch": torch.__version__, "threads": args.threads}
    print(json.dumps({"kernel": "torch_mae_tiny_first_step", "shape": shape, "ms": first, "gflops": None, **base}))
    print(json.dumps({"kernel": "torch_mae_tiny_step", "shape": shape, "ms": ms, "gflops": flops / ms / 1e6, **base}))


if __name__ == "__main__":
    main()
