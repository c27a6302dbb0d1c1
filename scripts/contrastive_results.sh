#!/usr/bin/env bash
# contrastive_results.sh: the README's contrastive figures.
#
#   bash scripts/fetch.sh fashion-mnist && cargo build --release --bin pretext --example simcse_austen
#   bash scripts/contrastive_results.sh                  # PHASES="views pretrain probe100 raw simcse probeall"
#
# Images (Fashion-MNIST: the 60,000 training images without labels, every 20th held out by `contrastive
# pretrain`; every figure on the 10,000 test images): each of METHODS (default SimCLR, MoCo v3 and BYOL) pretrains
# the ViT of CONFIG (default the micro ViT, scripts/contrastive_vit_micro.json: patch 7, hidden 64, 4 layers, 4 heads,
# FFN 128; [CLS] pooling; scripts/contrastive_vit_h128.json is the same at hidden 128, FFN 256) for STEPS steps of BATCH images
# (two views each) with AdamW at lr LR (warm-up 10%, cosine decay), projection 256-128, seed 1, no kNN monitor
# (--knn 0: its evaluations would cost time the probes need); then `pretext probe` of each encoder (model) with
# all labels and with 100 per class, and the same probes of the encoder at its initial weights (init: the three
# runs share it, seed 1) and of the pixels (raw).
# Text: the demo's tiny BERT pretrained on Austen (`pretext demo text` with its own DEMO_STEPS = 1600 pretraining
# steps and its fine-tuning cut to one step: only its pretrain/ directory is used), then SimCSE (SIMCSE_STEPS
# steps of 64 sentences, each twice, AdamW at SIMCSE_LR, dropout 0.1 as the augmentation, temperature 0.05) on
# the sentences of the training chapters, once per seed of SIMCSE_SEEDS, and the novel-attribution linear probe
# (examples/simcse_austen.rs) before and after each.
# Writes OUT/*.json and *.log; the views grids into docs/contrastive/. Environment: PRETEXT (the binary), OUT
# (default runs/con), STEPS (default 692: 3 epochs of the 59,000 images), BATCH (default 256), LR (default 2e-3),
# DEMO_STEPS (default 1600, the demo's own), SIMCSE_STEPS (default 60), SIMCSE_LR (default 1e-4), SIMCSE_SEEDS
# (default "1 2 3"), BEST (the method whose all-labels probe runs first, default simclr), CONFIG, METHODS.
# The README's wider SimCLR: OUT=runs/con-h128 CONFIG=scripts/contrastive_vit_h128.json METHODS=simclr
# PHASES="pretrain probe100 probeall" bash scripts/contrastive_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PRETEXT:-target/release/pretext}
EX=${EXAMPLE:-${CARGO_TARGET_DIR:-target}/release/examples/simcse_austen}
OUT=${OUT:-runs/con}
STEPS=${STEPS:-692}
BATCH=${BATCH:-256}
LR=${LR:-2e-3}
DEMO_STEPS=${DEMO_STEPS:-1600}
SIMCSE_STEPS=${SIMCSE_STEPS:-60}
SIMCSE_LR=${SIMCSE_LR:-1e-4}
SIMCSE_SEEDS=${SIMCSE_SEEDS:-1 2 3}
BEST=${BEST:-simclr}
CONFIG=${CONFIG:-scripts/contrastive_vit_micro.json}
METHODS=${METHODS:-simclr moco byol}
FIRST=${METHODS%% *} # the directory whose config the init and raw probes read (the runs share the init seed)
PHASES=${PHASES:-views pretrain probe100 raw simcse probeall}
D=data/fashion-mnist
TRAIN=$D/train-images-idx3-ubyte.gz
TEST=$D/t10k-images-idx3-ubyte.gz
mkdir -p "$OUT" docs/contrastive
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

has() { [[ " $PHASES " == *" $1 "* ]]; }
timed() { # name command...: runs it, appends "name seconds" to OUT/times.txt
  local name=$1 t0
  shift
  t0=$(date +%s)
  "$@"
  echo "$name $(($(date +%s) - t0))" >> "$OUT/times.txt"
  echo "$name: $(($(date +%s) - t0)) s" >&2
}
probe() { # model-dir features labels-per-class(or all) name
  local extra=()
  [ "$3" != all ] && extra=(--labels-per-class "$3")
  timed "probe.$4.$2.$3" "$P" probe --model "$1" --train "$TRAIN" --eval "$TEST" --features "$2" "${extra[@]}" > "$OUT/$4.probe.$2.$3.json"
  cat "$OUT/$4.probe.$2.$3.json"
}

if has views; then
  for m in simclr byol; do
    "$P" contrastive views --data "$TEST" --out "docs/contrastive/views_$m.png" --method "$m" --count 8 --scale 3 --seed 1
  done
fi

if has pretrain; then
  for m in $METHODS; do
    extra=()
    [ "$m" = byol ] && extra=(--momentum 0.99)  # BYOL's 0.996 barely moves the target in a run this short
    timed "pretrain.$m" "$P" contrastive pretrain --method "$m" --data "$TRAIN" --out "$OUT/$m" \
      --config "$CONFIG" --steps "$STEPS" --batch "$BATCH" --optimizer adamw --lr "$LR" \
      --proj-hidden 256 --knn 0 --seed 1 "${extra[@]}" 2>&1 | tee "$OUT/$m.train.log"
  done
fi

if has probe100; then
  for m in $METHODS; do
    probe "$OUT/$m" model 100 "$m"
  done
  probe "$OUT/$FIRST" init 100 init
fi

if has raw; then
  for labels in 100 all; do
    probe "$OUT/$FIRST" raw "$labels" raw
  done
fi

if has simcse; then
  timed demo_text "$P" demo text --out "$OUT/demo" --set pretrain_steps="$DEMO_STEPS" --set finetune_steps=1 2>&1 | tail -20 | tee "$OUT/demo.log"
  "$EX" sentences "$OUT/austen_sentences.txt"
  timed austen_probe.before "$EX" probe "$OUT/demo/text/pretrain" | tee "$OUT/austen.before.json"
  for s in $SIMCSE_SEEDS; do
    timed "simcse.s$s" "$P" contrastive pretrain --method simcse --model "$OUT/demo/text/pretrain" --corpus "$OUT/austen_sentences.txt" \
      --out "$OUT/simcse-s$s" --steps "$SIMCSE_STEPS" --batch 64 --lr "$SIMCSE_LR" --seed "$s" 2>&1 | tee "$OUT/simcse-s$s.train.log"
    timed "austen_probe.after.s$s" "$EX" probe "$OUT/simcse-s$s" | tee "$OUT/austen.after.s$s.json"
  done
fi

if has probeall; then
  probe "$OUT/$FIRST" init all init
  for m in $BEST $METHODS; do
    [ -e "$OUT/$m.probe.model.all.json" ] || probe "$OUT/$m" model all "$m"
  done
fi
echo "done: $OUT"
