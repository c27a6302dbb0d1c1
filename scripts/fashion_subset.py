#!/usr/bin/env python3
"""Writes the Fashion-MNIST subset bundled in assets/fashion-mnist/ from the full IDX files.

    bash scripts/fetch.sh fashion-mnist && python3 scripts/fashion_subset.py [data/fashion-mnist] [assets/fashion-mnist]

Training subset: the first 1,000 images of each class in the training file's order (10,000 images);
test subset: the first 200 of each class in the test file's order (2,000). Same IDX format, gzipped with
mtime 0 so the output is byte-for-byte reproducible. Fashion-MNIST: Xiao, Rasul and Vollgraf 2017, MIT licence.
"""
import gzip, os, struct, sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "data/fashion-mnist"
DST = sys.argv[2] if len(sys.argv) > 2 else "assets/fashion-mnist"


def read_idx(path):
    data = gzip.open(path, "rb").read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def write_idx(path, shape, payload):
    header = bytes([0, 0, 8, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape)
    with open(path + ".part", "wb") as f:
        f.write(gzip.compress(header + payload, compresslevel=9, mtime=0))
    os.replace(path + ".part", path)


def subset(split, per_class):
    (n, h, w), images = read_idx(os.path.join(SRC, f"{split}-images-idx3-ubyte.gz"))
    (nl,), labels = read_idx(os.path.join(SRC, f"{split}-labels-idx1-ubyte.gz"))
    assert n == nl, (n, nl)
    taken, keep = [0] * 10, []
    for i, y in enumerate(labels):
        if taken[y] < per_class:
            taken[y] += 1
            keep.append(i)
    size = h * w
    write_idx(os.path.join(DST, f"{split}-images-idx3-ubyte.gz"), (len(keep), h, w),
              b"".join(images[i * size:(i + 1) * size] for i in keep))
    write_idx(os.path.join(DST, f"{split}-labels-idx1-ubyte.gz"), (len(keep),), bytes(labels[i] for i in keep))
    print(f"{split}: {len(keep)} of {n} images ({per_class} per class)")


os.makedirs(DST, exist_ok=True)
subset("train", 1000)
subset("t10k", 200)
