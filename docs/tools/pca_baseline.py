#!/usr/bin/env python3
"""Standard-PCA reconstruction errors of a data set, in Table 2's units (per-case sum of
squared errors, averaged over the cases), to compare a data set with Hinton & Salakhutdinov
(2006), whose Fig. 2 caption gives this number for their data: PCA with 18 components on
CURVES 5.90, with 30 on MNIST 13.87, with 30 on FACES 135 (test sets).

PCA is fitted on the training set (its mean and the top-k eigenvectors of its covariance) and
scored on both sets, in float64, unclipped, as H&S's standard PCA.

usage:
  pca_baseline.py mnist DIR            # DIR holds train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz]
  pca_baseline.py hfdata FILE          # an hf data cache entry (curves-v1-seed2006.hfdata, faces-...)
  options: --components 6,18,30
Needs numpy. Set OPENBLAS_NUM_THREADS=1 when the cores are busy with training runs.
"""
import argparse, gzip, json, os, struct, sys

import numpy as np


def idx_images(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
            magic, count, rows, columns = struct.unpack(">IIII", data[:16])
            if magic != 0x803 or len(data) != 16 + count * rows * columns:
                sys.exit(f"error: {path} is not an IDX image file")
            return np.frombuffer(data[16:], dtype=np.uint8).reshape(count, rows * columns).astype(np.float64) / 255
    sys.exit(f"error: no {stem}[.gz] in {directory}")


def hfdata_splits(path):
    if not os.path.isfile(path):
        sys.exit(f"error: {path}: no such file (hf data summary --dataset NAME builds the cache entry)")
    data = open(path, "rb").read()
    if data[:8] != b"HFDATA01":
        sys.exit(f"error: {path} is not an hf data cache entry")
    try:
        length = struct.unpack("<I", data[8:12])[0]
        header = json.loads(data[12:12 + length])
        shapes = [(split["name"], split["rows"], split["columns"]) for split in header["splits"]]
        values = np.frombuffer(data[12 + length:], dtype="<f4")
    except (struct.error, ValueError, KeyError, TypeError) as error:
        sys.exit(f"error: {path}: truncated or malformed header ({error})")
    splits, offset = {}, 0
    for name, rows, columns in shapes:
        n = rows * columns
        if offset + n > values.size:
            sys.exit(f"error: {path}: truncated (the header promises more values than the file holds)")
        splits[name] = values[offset:offset + n].reshape(rows, columns).astype(np.float64)
        offset += n
    if offset != values.size:
        sys.exit(f"error: {path}: payload length does not match its header")
    if "train" not in splits:
        sys.exit(f"error: {path} has no train split")
    return splits


def component_counts(text):
    try:
        counts = [int(k) for k in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if any(k < 1 for k in counts):
        raise argparse.ArgumentTypeError(f"component counts must be at least 1, got {text!r}")
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["mnist", "hfdata"])
    parser.add_argument("path")
    parser.add_argument("--components", type=component_counts, default="6,18,30")
    args = parser.parse_args()
    if args.kind == "mnist" and not os.path.isdir(args.path):
        sys.exit(f"error: {args.path}: no such folder")
    if args.kind == "mnist":
        splits = {"train": idx_images(args.path, "train-images-idx3-ubyte"),
                  "test": idx_images(args.path, "t10k-images-idx3-ubyte")}
    else:
        splits = hfdata_splits(args.path)
    train = splits["train"]
    mean = train.mean(0)
    _, vectors = np.linalg.eigh(np.cov((train - mean).T, bias=True))
    vectors = vectors[:, ::-1]
    names = [n for n in ("train", "validation", "test") if n in splits]
    print("| components | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    if max(args.components) > train.shape[1]:
        sys.exit(f"error: at most {train.shape[1]} components for {train.shape[1]} values per case")
    rows = [("0 (mean image)", None)] + [(str(k), k) for k in args.components]
    for label, k in rows:
        cells = []
        for name in names:
            centred = splits[name] - mean
            residual = centred if k is None else centred - (centred @ vectors[:, :k]) @ vectors[:, :k].T
            cells.append(f"{(residual ** 2).sum(1).mean():.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
