#!/usr/bin/env python3
"""check_hf_dirs.py: loads model directories that pretext wrote with transformers, unchanged, and checks that
transformers computes what pretext computes on the same images (a manual step: it needs the venv of
scripts/vit_fixtures.py and a built `target/release/pretext`).

    /work/venv/bin/python scripts/check_hf_dirs.py DIR... [--images PNG...] [--from-idx IDX --count N]

For each DIR, by its config's architectures:
  ViTMAEForPreTraining       `pretext mae reconstruct --json --noise` against ViTMAEForPreTraining(pixel_values,
                             noise) of each image alone: loss, mask, ids_restore, logits.
  ViTForImageClassification  `pretext vit classify` and `pretext vit embed` against the model's softmax(logits) and
                             the [CLS] row of ViTModel's last hidden state (configs with classifier_pooling "mean"
                             are pretext's own head, which transformers does not have: only loading is checked).
Images go through the directory's preprocessor_config.json by AutoImageProcessor on the HF side. --from-idx writes
the first N images of an IDX file as PNGs first. Exit status 1 when any difference exceeds 1e-4.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, ViTForImageClassification, ViTMAEForPreTraining

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETEXT = os.path.join(ROOT, "target", "release", "pretext")
BOUND = 1e-4


def pngs_from_idx(path, count, out):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    files = []
    for i in range(min(count, n)):
        px = np.frombuffer(data[16 + i * h * w:16 + (i + 1) * h * w], dtype=np.uint8).reshape(h, w)
        f = os.path.join(out, f"idx{i}.png")
        Image.fromarray(px, "L").save(f)
        files.append(f)
    return files


def pretext(*args):
    r = subprocess.run([PRETEXT, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"pretext {' '.join(args)} failed: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def report(name, diff):
    ok = diff <= BOUND
    print(f"  {name}: max |diff| {diff:.2e} {'ok' if ok else 'FAIL'}")
    return ok


def check_mae(d, images, tmp):
    model = ViTMAEForPreTraining.from_pretrained(d, attn_implementation="eager").double().eval()
    proc = AutoImageProcessor.from_pretrained(d)
    c = model.config
    L = (c.image_size // c.patch_size) ** 2
    noise = torch.rand(len(images), L, generator=torch.Generator().manual_seed(0)).float()
    nf = os.path.join(tmp, "noise.json")
    json.dump(noise.tolist(), open(nf, "w"))
    rows = pretext("mae", "reconstruct", "--model", d, "--input", *images, "--noise", nf, "--json", "--out", os.path.join(tmp, "pics"))
    ok = True
    worst = {"loss": 0.0, "logits": 0.0}
    for i, (f, r) in enumerate(zip(images, rows)):
        px = proc(images=Image.open(f), return_tensors="pt")["pixel_values"].double()
        with torch.no_grad():
            out = model(pixel_values=px, noise=noise[i:i + 1].double())
        ok &= r["mask"] == out.mask[0].int().tolist() and r["ids_restore"] == out.ids_restore[0].tolist()
        worst["loss"] = max(worst["loss"], abs(r["loss"] - out.loss.item()) / max(abs(out.loss.item()), 1e-12))
        worst["logits"] = max(worst["logits"], (torch.tensor(r["logits"]).double() - out.logits[0]).abs().max().item())
    print(f"  mask and ids_restore equal: {ok}")
    ok &= report("loss (relative)", worst["loss"])
    ok &= report("logits", worst["logits"])
    return ok


def check_cls(d, images):
    model = ViTForImageClassification.from_pretrained(d, attn_implementation="eager").double().eval()
    proc = AutoImageProcessor.from_pretrained(d)
    if getattr(model.config, "classifier_pooling", "cls") == "mean":
        print("  classifier_pooling mean: pretext's own head (mean patch token + fc_norm); loaded, outputs not compared")
        return True
    px = proc(images=[Image.open(f) for f in images], return_tensors="pt")["pixel_values"].double()
    with torch.no_grad():
        probs = model(pixel_values=px).logits.softmax(-1)
        cls = model.vit(pixel_values=px).last_hidden_state[:, 0]
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    rows = pretext("vit", "classify", "--model", d, "--input", *images)
    got = torch.tensor([[r["probs"][l] for l in labels] for r in rows]).double()
    ok = report("class probabilities", (got - probs).abs().max().item())
    ok &= all(r["label"] == labels[int(p.argmax())] for r, p in zip(rows, probs))
    rows = pretext("vit", "embed", "--model", d, "--input", *images)
    ok &= report("embeddings ([CLS])", (torch.tensor([r["embedding"] for r in rows]).double() - cls).abs().max().item())
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--images", nargs="*", default=[])
    ap.add_argument("--from-idx")
    ap.add_argument("--count", type=int, default=8)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="check-hf-")
    images = list(args.images)
    if args.from_idx:
        images += pngs_from_idx(args.from_idx, args.count, tmp)
    if not images:
        sys.exit("give --images or --from-idx")
    ok = True
    for d in args.dirs:
        arch = json.load(open(os.path.join(d, "config.json")))["architectures"][0]
        print(f"{d}: {arch}")
        ok &= check_mae(d, images, tmp) if arch == "ViTMAEForPreTraining" else check_cls(d, images)
    print("all equal within 1e-4" if ok else "DIFFERENCES")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
