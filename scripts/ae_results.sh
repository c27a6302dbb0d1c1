#!/usr/bin/env bash
# ae_results.sh: the README's autoencoder figures on the full Fashion-MNIST (60,000 training images, used
# without labels, every 20th held out by `ae train` for its own evaluation; the 10,000 test images for every
# reported figure).
#
#   bash scripts/fetch.sh fashion-mnist && cargo build --release && bash scripts/ae_results.sh
#
# For each of ae, dae, sparse and vae: `pretext ae train` (STEPS steps of 128, AdamW lr 1e-3 with cosine
# decay, seed 1; the model as each kind's defaults: 784-512-256-32 and back), its training time, `ae eval` on
# the test images, and `pretext probe` of its code (model) and of the same encoder at its initial weights
# (init), with all labels and with 100 per class; then the raw-pixel probes; the PyTorch twin of the VAE
# (scripts/ae_twin.py, same init, batches, noise and schedule); the VAE's samples and an interpolation row.
# Writes OUT/*.json and *.log, the pictures and docs/ae/results.json (every figure gathered). Environment:
# PRETEXT (the binary), OUT (default runs/ae), STEPS (default 2000), PYTHON (default /work/venv/bin/python),
# KINDS (default "ae dae sparse vae": the kinds to train and probe, so the work can be done in pieces).
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PRETEXT:-target/release/pretext}
PY=${PYTHON:-/work/venv/bin/python}
OUT=${OUT:-runs/ae}
STEPS=${STEPS:-2000}
D=data/fashion-mnist
TRAIN=$D/train-images-idx3-ubyte.gz
TEST=$D/t10k-images-idx3-ubyte.gz
mkdir -p "$OUT" docs/ae
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

probe() { # model-dir features labels-per-class(or all) name
  local extra=()
  [ "$3" != all ] && extra=(--labels-per-class "$3")
  "$P" probe --model "$1" --train "$TRAIN" --eval "$TEST" --features "$2" "${extra[@]}" > "$OUT/$4.probe.$2.$3.json"
  cat "$OUT/$4.probe.$2.$3.json"
}

for kind in ${KINDS:-ae dae sparse vae}; do
  echo "== $kind"
  "$P" ae train --kind "$kind" --data "$TRAIN" --out "$OUT/$kind" --steps "$STEPS" --batch 128 --lr 1e-3 --seed 1 | tee "$OUT/$kind.train.log"
  "$P" ae eval --model "$OUT/$kind" --data "$TEST" | tee "$OUT/$kind.eval.json"
  for features in model init; do
    for labels in all 100; do
      probe "$OUT/$kind" "$features" "$labels" "$kind"
    done
  done
done

echo "== raw pixels"
for labels in all 100; do
  probe "$OUT/vae" raw "$labels" raw
done

echo "== PyTorch twin of the VAE"
"$PY" scripts/ae_twin.py run --train "$TRAIN" --eval "$TEST" --holdout-every 20 --widths 512 256 --latent 32 \
  --init-seed 0 --batch 128 --steps "$STEPS" --lr 1e-3 --seed 1 --out "$OUT/vae_twin.json"

echo "== pictures"
"$P" ae sample --model "$OUT/vae" --count 64 --seed 0 --out docs/ae/vae_samples.png
# The first 10 test images as PNG files: reconstructions of them, and an interpolation from test image 9 (a
# sneaker) to test image 1 (a pullover).
"$PY" - "$TEST" "$OUT" <<'EOF'
import gzip, struct, sys, zlib
data = gzip.open(sys.argv[1]).read()
for i in range(10):
    px = data[16 + 784 * i:16 + 784 * (i + 1)]
    raw = b"".join(b"\x00" + px[28 * r:28 * (r + 1)] for r in range(28))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(f"{sys.argv[2]}/test{i}.png", "wb").write(png)
EOF
"$P" ae sample --model "$OUT/vae" --interpolate "$OUT/test9.png" "$OUT/test1.png" --count 10 --out docs/ae/vae_interpolation.png
for kind in dae vae; do
  "$P" ae reconstruct --model "$OUT/$kind" --input "$OUT"/test{0..9}.png --out "docs/ae/${kind}_reconstructions.png"
done
"$PY" - "$OUT" "$STEPS" <<'EOF'
import json, re, sys
out, steps = sys.argv[1], int(sys.argv[2])
r = {"note": f"written from {out} by scripts/ae_results.sh (STEPS={steps}); test set: Fashion-MNIST t10k (10,000 images)", "kinds": {}}
for k in ["ae", "dae", "sparse", "vae"]:
    d = {"eval": json.load(open(f"{out}/{k}.eval.json"))}
    m = re.search(r"(\d+) steps in ([\d.]+) s", open(f"{out}/{k}.train.log").read())
    d["steps"], d["train_seconds"] = int(m.group(1)), float(m.group(2))
    for f in ["model", "init"]:
        for l in ["all", "100"]:
            d[f"probe_{f}_{l}"] = json.load(open(f"{out}/{k}.probe.{f}.{l}.json"))
    r["kinds"][k] = d
r["raw"] = {l: json.load(open(f"{out}/raw.probe.raw.{l}.json")) for l in ["all", "100"]}
t = json.load(open(f"{out}/vae_twin.json"))
r["vae_twin"] = {k: t[k] for k in ["neg_elbo", "recon", "kl", "seconds", "steps", "batch", "lr", "schedule", "seed", "train_images", "eval_images", "torch"]}
json.dump(r, open("docs/ae/results.json", "w"), indent=1)
EOF
echo "done: $OUT"
