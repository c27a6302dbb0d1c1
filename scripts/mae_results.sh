#!/usr/bin/env bash
# The README's ViT-MAE fine-tuning figures: MAE-pretrained vs from-scratch micro ViT, the same budget for both
# (STEPS steps of BATCH), 100 labels per class over three seeds on the 10,000 test images, then all 60,000 labels
# (one seed) on the first 2,000 test images (TEST2K, an IDX pair cut from t10k; see the README for why).
# Runs one process at a time; each run's log and eval.json land in runs/ft-micro-*. Usage:
#   bash scripts/mae_results.sh [MAE_DIR] [STEPS] [BATCH]
set -euo pipefail
mae=${1:-runs/mae-micro}
steps=${2:-40}
batch=${3:-32}
bin=${PRETEXT:-target/release/pretext}
f=data/fashion-mnist
test2k=${TEST2K:-runs/test2k/t2k-images-idx3-ubyte}
run() { # NAME ARGS...: one fine-tune, timed, its output in runs/NAME.log
    local name=$1
    shift
    echo "$(date -u +%T) start $name" >>runs/mae_results.log
    "$bin" vit finetune --train $f/train-images-idx3-ubyte.gz --steps "$steps" --batch "$batch" --pooling mean \
        --out "runs/$name" "$@" >"runs/$name.log" 2>&1
    echo "$(date -u +%T) end $name: $(grep '^eval accuracy' "runs/$name.log")" >>runs/mae_results.log
}
for seed in 1 2 3; do
    run "ft-micro-scratch-100-$steps-s$seed" --scratch --config micro --eval $f/t10k-images-idx3-ubyte.gz --labels-per-class 100 --seed $seed
    run "ft-micro-mae-100-$steps-s$seed" --model "$mae" --eval $f/t10k-images-idx3-ubyte.gz --labels-per-class 100 --seed $seed
done
run "ft-micro-mae-full-$steps-s1" --model "$mae" --eval "$test2k" --seed 1
run "ft-micro-scratch-full-$steps-s1" --scratch --config micro --eval "$test2k" --seed 1
