#!/usr/bin/env bash
# gpu-check.sh: check pretext on a machine with a real GPU, within 10 minutes on a fresh machine.
#
#   1. a Rust toolchain: cargo on PATH or in ~/.cargo/bin, else rustup (installed from https://sh.rustup.rs
#      when the machine can reach it; offline the stage fails and says so)
#   2. build the release binary and the kernel and model test binaries
#   3. `pretext info` (text and JSON) on the adapter pretext picks (or $WGPU_ADAPTER_NAME / --adapter NAME);
#      a CPU adapter (lavapipe, llvmpipe, WARP) is refused unless --allow-cpu
#   4. the kernel and model tests on that adapter (WGPU_ADAPTER_NAME pins it for every test binary); the
#      MiniLM parity test runs only where data/minilm is fetched (scripts/fetch.sh needs the network)
#   5. `pretext bench --json` into OUT/bench.jsonl (every row: kernels, peaks, whole steps, BERT-base)
# Each stage has a timeout inside an overall 600 s deadline; OUT/summary.txt says what ran, how long each stage
# took and what failed. The exit status is 0 only when every stage passed.
#
# Usage: scripts/gpu-check.sh [options] [OUT]       OUT defaults to $OUT, else ./gpu-check
#   --allow-cpu          accept a CPU adapter (to try the script itself on lavapipe)
#   --adapter NAME       a substring of the adapter name to use (default: pretext's choice)
#   --tests "A B"        test binaries to run (default: the kernel and model tests below)
#   --bench-filter F     only bench rows matching F (default: all)
#   --bench-reps N       timed runs per bench row (default: 10)
#   --deadline S         overall time limit in seconds (default: 600)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALLOW_CPU=0
ADAPTER="${WGPU_ADAPTER_NAME:-}"
TESTS="matmul attention norms elementwise losses optim engine autograd bert training"
BENCH_FILTER=""
BENCH_REPS=10
DEADLINE_S=600
OUT_DIR="${OUT:-$ROOT/gpu-check}"
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-cpu) ALLOW_CPU=1 ;;
    --adapter) ADAPTER="$2"; shift ;;
    --tests) TESTS="$2"; shift ;;
    --bench-filter) BENCH_FILTER="$2"; shift ;;
    --bench-reps) BENCH_REPS="$2"; shift ;;
    --deadline) DEADLINE_S="$2"; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) OUT_DIR="$1" ;;
  esac
  shift
done
mkdir -p "$OUT_DIR" || { echo "gpu-check: cannot create $OUT_DIR" >&2; exit 1; }
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
SUMMARY="$OUT_DIR/summary.txt"
rm -f "$OUT_DIR"/{toolchain,build,info,tests,bench}.log "$OUT_DIR"/info.json "$OUT_DIR"/bench.jsonl
: > "$SUMMARY"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export CARGO_TERM_COLOR=never
START=$(date +%s)
FAILED=0

say() { echo "gpu-check: $*" | tee -a "$SUMMARY" >&2; }

# run_stage NAME MAX_SECONDS COMMAND...: runs COMMAND with a timeout of min(MAX, time left), logs to
# OUT/NAME.log, records its time and status in the summary. Returns the command's status (124: timed out).
run_stage() {
  local name="$1" max="$2"; shift 2
  local left=$(( DEADLINE_S - ($(date +%s) - START) ))
  if [ "$left" -le 5 ]; then
    say "$name: SKIPPED, the ${DEADLINE_S} s deadline is spent"
    FAILED=1
    return 124
  fi
  local limit=$(( max < left ? max : left ))
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then
    say "$name: ok in ${dt} s"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    say "$name: TIMED OUT after ${dt} s (limit ${limit} s); log: $OUT_DIR/$name.log"
    FAILED=1
  else
    say "$name: FAILED (exit $rc) after ${dt} s; last lines of $OUT_DIR/$name.log:"
    tail -n 15 "$OUT_DIR/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY" >&2
    FAILED=1
  fi
  return $rc
}

finish() {
  say "total $(( $(date +%s) - START )) s; $( [ $FAILED -eq 0 ] && echo 'every stage passed' || echo 'SOME STAGES FAILED' )"
  exit $FAILED
}

# 1. toolchain
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
install_rust() {
  if command -v rustup >/dev/null 2>&1; then
    rustup toolchain install stable --profile minimal && rustup default stable
  elif command -v curl >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf --max-time 60 https://sh.rustup.rs | sh -s -- -y --profile minimal
  else
    echo "neither cargo, rustup nor curl is available: install a Rust toolchain (https://rustup.rs)"; return 1
  fi
}
if ! command -v cargo >/dev/null 2>&1; then
  run_stage toolchain 180 install_rust || { say "no Rust toolchain (offline? see toolchain.log)"; finish; }
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
say "toolchain: $(cargo --version 2>&1)"
say "machine: $(nproc) cores, $(uname -sr)"

# 2. build (the release binary, then the test binaries the next stage runs)
TEST_ARGS=()
for t in $TESTS; do TEST_ARGS+=(--test "$t"); done
run_stage build 330 bash -c "cargo build --release --bins && cargo test --release --no-run ${TEST_ARGS[*]}" || finish
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
BIN="$TARGET_DIR/release/pretext"

# 3. the adapter
[ -n "$ADAPTER" ] && export WGPU_ADAPTER_NAME="$ADAPTER"
run_stage info 60 "$BIN" info || finish
"$BIN" info --json > "$OUT_DIR/info.json" 2>> "$OUT_DIR/info.log"
cat "$OUT_DIR/info.log" >> "$SUMMARY"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$OUT_DIR/info.json" "$1" 2>/dev/null; }
NAME="$(field adapter)"
TYPE="$(field device_type)"
say "adapter: $NAME ($(field backend), $TYPE)"
if [ "$TYPE" = "Cpu" ] && [ $ALLOW_CPU -eq 0 ]; then
  say "REFUSED: $NAME is a CPU adapter, not a GPU. Install the GPU's Vulkan driver (e.g. the NVIDIA driver's"
  say "  Vulkan ICD, mesa-vulkan-drivers for AMD/Intel), pick one with --adapter NAME, or pass --allow-cpu."
  FAILED=1
  finish
fi
# every test binary and the bench take the same adapter
export WGPU_ADAPTER_NAME="$NAME"

# 4. kernel and model tests on that adapter
SKIP=()
if [ ! -f data/minilm/model.safetensors ]; then
  SKIP=(--skip minilm_embeddings_match_sentence_transformers)
  say "tests: data/minilm not fetched (scripts/fetch.sh needs the network): the MiniLM parity test is left out"
fi
run_stage tests 240 cargo test --release --no-fail-fast "${TEST_ARGS[@]}" -- ${SKIP[@]+"${SKIP[@]}"}
grep -E "^test result|FAILED|panicked" "$OUT_DIR/tests.log" | sed 's/^/    /' >> "$SUMMARY"

# 5. the benchmarks, one JSON object per row
BENCH=("$BIN" bench --json --reps "$BENCH_REPS")
[ -n "$BENCH_FILTER" ] && BENCH+=(--filter "$BENCH_FILTER")
if run_stage bench 300 bash -c '"$@" > "'"$OUT_DIR"'/bench.jsonl"' _ "${BENCH[@]}" || [ -s "$OUT_DIR/bench.jsonl" ]; then
  say "bench: $(grep -c '^{' "$OUT_DIR/bench.jsonl" || true) rows in $OUT_DIR/bench.jsonl"
fi
finish
