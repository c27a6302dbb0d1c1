#!/usr/bin/env bash
# The README's ViT-MAE fine-tuning figures: MAE-pretrained vs from-scratch micro ViT, the same budget for both
# (STEPS steps of BATCH), 100 labels per class over three seeds on the 10,000 test images, then all 60,000 labels
# (one seed), evaluated during the run on the first 2,000 test images (runs/test2k, an IDX pair cut from t10k
# here) and afterwards on all 10,000 with `vit classify` (runs/NAME-t10k.jsonl, accuracy in runs/mae_results.log).
# Runs one process at a time; each run's log and eval.json land in runs/ft-micro-*. Usage:
#   bash scripts/mae_results.sh [MAE_DIR] [STEPS] [BATCH]
set -euo pipefail
mae=${1:-runs/mae-micro}
steps=${2:-40}
batch=${3:-32}
bin=${PRETEXT:-target/release/pretext}
f=data/fashion-mnist
test2k=runs/test2k/t2k-images-idx3-ubyte
mkdir -p runs/test2k
python3 - "$f" runs/test2k <<'PY'
import gzip, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], 2000
img = gzip.open(f"{src}/t10k-images-idx3-ubyte.gz").read()
lab = gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz").read()
assert struct.unpack(">IIII", img[:16]) == (2051, 10000, 28, 28) and struct.unpack(">II", lab[:8]) == (2049, 10000)
open(f"{dst}/t2k-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, 28, 28) + img[16:16 + n * 784])
open(f"{dst}/t2k-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + lab[8:8 + n])
PY
run() { # NAME ARGS...: one fine-tune, timed, its output in runs/NAME.log
    local name=$1
    shift
    echo "$(date -u +%T) start $name" >>runs/mae_results.log
    "$bin" vit finetune --train $f/train-images-idx3-ubyte.gz --steps "$steps" --batch "$batch" --pooling mean \
        --out "runs/$name" "$@" >"runs/$name.log" 2>&1
    echo "$(date -u +%T) end $name: $(grep '^eval accuracy' "runs/$name.log")" >>runs/mae_results.log
}
t10k() { # NAME: the fine-tuned model runs/NAME classifies all 10,000 test images; its accuracy
    "$bin" vit classify --model "runs/$1" --input $f/t10k-images-idx3-ubyte.gz >"runs/$1-t10k.jsonl"
    python3 - "runs/$1-t10k.jsonl" $f/t10k-labels-idx1-ubyte.gz <<'PY' >>runs/mae_results.log
import gzip, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lab = gzip.open(sys.argv[2]).read()[8:]
assert len(rows) == len(lab) == 10000
print(f"{sys.argv[1]}: accuracy on the 10,000 test images {100 * sum(int(r['label']) == lab[i] for i, r in enumerate(rows)) / len(rows):.2f}%")
PY
}
for seed in 1 2 3; do
    run "ft-micro-scratch-100-$steps-s$seed" --scratch --config micro --eval $f/t10k-images-idx3-ubyte.gz --labels-per-class 100 --seed $seed
    run "ft-micro-mae-100-$steps-s$seed" --model "$mae" --eval $f/t10k-images-idx3-ubyte.gz --labels-per-class 100 --seed $seed
done
run "ft-micro-mae-full-$steps-s1" --model "$mae" --eval "$test2k" --seed 1
run "ft-micro-scratch-full-$steps-s1" --scratch --config micro --eval "$test2k" --seed 1
for name in "ft-micro-mae-full-$steps-s1" "ft-micro-scratch-full-$steps-s1"; do
    t10k "$name"
done
