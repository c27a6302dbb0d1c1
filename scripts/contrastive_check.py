#!/usr/bin/env python3
"""contrastive_check.py: checks that an encoder directory written by `pretext contrastive pretrain` is an HF
ViTModel directory that transformers loads unchanged, and that its features equal pretext's.

    pretext vit embed --model DIR --input IMAGES > embed.jsonl
    /work/venv/bin/python scripts/contrastive_check.py DIR IMAGES embed.jsonl

IMAGES: an IDX images file (gzipped or not). Loads DIR with transformers' ViTModel and ViTImageProcessor-free
preprocessing as the directory's preprocessor_config.json says (rescale 1/255, no normalisation for pretext's
contrastive encoders), takes the [CLS] row of last_hidden_state (what `--pooling cls` features are) for the
images of embed.jsonl, and prints the largest difference from pretext's embeddings. Exit status 1 above 1e-4.
"""
import gzip
import json
import sys

import numpy as np
import torch
from transformers import ViTModel


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(raw[16:16 + n * h * w], dtype=np.uint8).reshape(n, 1, h, w)


def main():
    model_dir, images, embeds = sys.argv[1:4]
    model = ViTModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    pre = json.load(open(f"{model_dir}/preprocessor_config.json"))
    rows = [json.loads(l) for l in open(embeds)]
    x = read_idx(images)[: len(rows)].astype(np.float32) * pre.get("rescale_factor", 1 / 255)
    with torch.no_grad():
        cls = model(pixel_values=torch.from_numpy(x)).last_hidden_state[:, 0].numpy()
    got = np.array([r["embedding"] for r in rows], dtype=np.float32)
    diff = float(np.abs(cls - got).max())
    print(f"{model_dir}: transformers ViTModel loads it ({sum(p.numel() for p in model.parameters())} parameters); "
          f"[CLS] features of {len(rows)} images: max |transformers - pretext| = {diff:.2e}")
    sys.exit(0 if diff <= 1e-4 else 1)


if __name__ == "__main__":
    main()
