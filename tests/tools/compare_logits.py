#!/usr/bin/python3
"""Compare two sets of logits under a stated tolerance.

    /usr/bin/python3 tests/tools/compare_logits.py A B [--atol 1e-4] [--abs-only]
        [--max-argmax-diff K] [--n N] [--shape-k K]

A and B are each an HDF5 file (dataset "logits", N x K; its "labels" too if
present) or a raw little-endian float32 file (.bin, row-major, needs
--shape-k K). B is the reference.

An element passes when |a - b| <= atol * max(1, max_j |b_row,j|): absolute
for rows of logits up to 1 in size, relative to the row's largest logit
above. (Float32 sums of large terms lose absolute digits, and a small logit
in a row of large ones comes from cancellation, so its error scales with the
row, not with itself.) --abs-only makes it |a - b| <= atol everywhere. NaN or Inf on either
side fails. With --n only the first N rows of each are compared. When both
files carry "labels" they must be equal. --max-argmax-diff K fails when more
than K rows have a different arg-max (ties are broken by the lower index on
both sides).

Prints one summary line; exit status 0 within tolerance, 1 over it, 2 on
a usage or input error.
"""
import argparse
import sys

import numpy as np


def fail_input(msg):
    print(f"compare_logits: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path, k, dataset):
    """(logits as float32 [N, K], labels or None)."""
    if path.endswith(".bin"):
        if not k:
            fail_input(f"{path}: a raw .bin file needs --shape-k")
        raw = np.fromfile(path, dtype="<f4")
        if raw.size % k:
            fail_input(f"{path}: {raw.size} floats is not a multiple of K={k}")
        return raw.reshape(-1, k), None
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if dataset not in f:
                fail_input(f"{path}: no dataset '{dataset}' (has {sorted(f.keys())})")
            x = f[dataset][()]
            labels = f["labels"][()].astype(np.int64) if "labels" in f else None
    except OSError as e:
        fail_input(f"{path}: cannot read as HDF5: {e}")
    if x.ndim != 2:
        fail_input(f"{path}: '{dataset}' has shape {x.shape}, expected N x K")
    if x.dtype != np.float32:
        fail_input(f"{path}: '{dataset}' has type {x.dtype}, expected float32")
    if k and x.shape[1] != k:
        fail_input(f"{path}: {x.shape[1]} columns, --shape-k says {k}")
    return x, labels


def compare(a, b, atol, abs_only):
    """Returns a dict of statistics; a and b are float32 [N, K]."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    if abs_only:
        scale = np.ones_like(b64)
    else:
        rowmax = np.max(np.abs(np.where(np.isfinite(b64), b64, 0.0)), axis=1, keepdims=True)
        scale = np.broadcast_to(np.maximum(1.0, rowmax), b64.shape)
    finite = np.isfinite(a64) & np.isfinite(b64)
    scaled = np.where(finite, diff / scale, np.inf)
    worst = np.unravel_index(int(np.argmax(scaled)), scaled.shape) if scaled.size else (0, 0)
    return {
        "max_abs": float(np.max(np.where(finite, diff, np.inf))) if diff.size else 0.0,
        "max_scaled": float(scaled[worst]) if scaled.size else 0.0,
        "worst": tuple(int(i) for i in worst),
        "n_over": int(np.count_nonzero(scaled > atol)),
        "n_nonfinite": int(np.count_nonzero(~finite)),
        "argmax_diff": int(np.count_nonzero(np.argmax(a, axis=1) != np.argmax(b, axis=1))),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b", help="the reference")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--abs-only", action="store_true",
                   help="no relative scaling for logits larger than 1")
    p.add_argument("--max-argmax-diff", type=int, default=None)
    p.add_argument("--n", type=int, default=None, help="compare the first N rows only")
    p.add_argument("--shape-k", type=int, default=None, help="columns of a raw .bin")
    p.add_argument("--dataset", default="logits")
    args = p.parse_args(argv)

    a, la = load(args.a, args.shape_k, args.dataset)
    b, lb = load(args.b, args.shape_k, args.dataset)
    if a.shape[1] != b.shape[1]:
        fail_input(f"{a.shape[1]} columns in {args.a} but {b.shape[1]} in {args.b}")
    if args.n is not None:
        for path, x in ((args.a, a), (args.b, b)):
            if x.shape[0] < args.n:
                fail_input(f"{path}: {x.shape[0]} rows, fewer than --n {args.n}")
        a, b = a[: args.n], b[: args.n]
        la = la[: args.n] if la is not None else None
        lb = lb[: args.n] if lb is not None else None
    elif a.shape[0] != b.shape[0]:
        fail_input(f"{a.shape[0]} rows in {args.a} but {b.shape[0]} in {args.b}")

    s = compare(a, b, args.atol, args.abs_only)
    problems = []
    if s["n_nonfinite"]:
        problems.append(f"{s['n_nonfinite']} non-finite values")
    if s["n_over"]:
        problems.append(f"{s['n_over']} values over tolerance")
    if args.max_argmax_diff is not None and s["argmax_diff"] > args.max_argmax_diff:
        problems.append(f"{s['argmax_diff']} argmax disagreements > {args.max_argmax_diff}")
    n_label_diff = 0
    if la is not None and lb is not None:
        if la.shape != lb.shape:
            problems.append(f"labels have {la.shape[0]} and {lb.shape[0]} entries")
        else:
            n_label_diff = int(np.count_nonzero(la != lb))
            if n_label_diff:
                problems.append(f"{n_label_diff} labels differ")

    r, c = s["worst"]
    worst = (f"worst [{r},{c}] a={a[r, c]:.9g} b={b[r, c]:.9g}" if a.size else "empty")
    mode = "abs" if args.abs_only else "row-rel"
    print(f"rows={a.shape[0]} k={a.shape[1]} max_abs_diff={s['max_abs']:.3e} "
          f"max_err({mode})={s['max_scaled']:.3e} atol={args.atol:g} {worst} "
          f"argmax_diff={s['argmax_diff']}"
          + (f" label_diff={n_label_diff}" if la is not None and lb is not None else "")
          + (" FAIL: " + "; ".join(problems) if problems else " OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
