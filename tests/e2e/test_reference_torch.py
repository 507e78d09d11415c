#!/usr/bin/python3
"""e2e_reference_torch: `lrcompress eval` of the reference model on all
10,000 Fashion-MNIST test images against the torch logits stored with it.

    /usr/bin/python3 tests/e2e/test_reference_torch.py LRCOMPRESS
        [--model models/fashion_vgg.onnx] [--logits models/fashion_vgg_test_logits.h5]
        [--mean M --std S]

Checks that `inspect MODEL` exits 0 with a table, then runs
`eval MODEL --data fashion-mnist:test --save-logits OUT.h5` with the
normalisation from the model's metadata (unless --mean/--std are given) and
asserts: one result line with images=10000; saved labels equal the torch
file's; logits within 1e-4 absolute of torch's; at most 5 rows whose arg-max
differs; the printed top1 and top5 equal the torch file's "top1"/"top5"
attributes within 5e-4 and follow from the saved logits.
"""
import argparse
import os

from e2e_common import (REF_LOGITS, REF_MODEL, TempDir, check, check_printed_accuracy,
                        compare, describe, log, main_wrapper, parse_result, read_saved, run)

ATOL = 1e-4
MAX_ARGMAX_DIFF = 5
ACC_TOL = 5e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lrcompress")
    ap.add_argument("--model", default=REF_MODEL)
    ap.add_argument("--logits", default=REF_LOGITS)
    ap.add_argument("--mean")
    ap.add_argument("--std")
    args = ap.parse_args()
    for path in (args.model, args.logits):
        check(os.path.isfile(path), f"{path} is missing: the reference model and its "
              "torch logits come from models/train_fashion_vgg.py")
    import h5py
    with h5py.File(args.logits, "r") as f:
        n = f["logits"].shape[0]
        ref_top1 = float(f.attrs["top1"])
        ref_top5 = float(f.attrs["top5"]) if "top5" in f.attrs else None
    check(n == 10000, f"{args.logits}: {n} rows, expected the 10,000 test images")

    p = run([args.lrcompress, "inspect", args.model], timeout=120)
    check(p.returncode == 0 and p.stdout.strip(),
          f"inspect should exit 0 with a layer table:\n{describe(p)}")

    with TempDir("e2e_reference_torch.") as d:
        saved = os.path.join(d, "lrc.h5")
        cmd = [args.lrcompress, "eval", args.model, "--data", "fashion-mnist:test",
               "--save-logits", saved]
        if args.mean is not None:
            cmd += ["--mean", args.mean, "--std", args.std]
        p = run(cmd, timeout=1800)
        check(p.returncode == 0, f"eval failed:\n{describe(p)}")
        log(f"{p.stdout.strip()}  ({p.seconds:.1f} s)")
        top1, top5, images = parse_result(p, "eval")
        check(images == n, f"eval reports images={images}, expected {n}")
        logits, labels = read_saved(saved, "eval")
        check_printed_accuracy(top1, top5, logits, labels, "eval")
        summary = compare(saved, args.logits, ["--abs-only", "--atol", str(ATOL),
                                              "--max-argmax-diff", str(MAX_ARGMAX_DIFF)],
                          "lrcompress vs torch")
        log(f"lrcompress vs torch: {summary}")
        check(abs(top1 - ref_top1) <= ACC_TOL,
              f"printed top1={top1:.4f}, torch's top1={ref_top1:.6f} (tolerance {ACC_TOL})")
        if ref_top5 is not None:
            check(abs(top5 - ref_top5) <= ACC_TOL,
                  f"printed top5={top5:.4f}, torch's top5={ref_top5:.6f} (tolerance {ACC_TOL})")
        log(f"top1 {top1:.4f} vs torch {ref_top1:.6f}; top5 {top5:.4f} vs torch "
            f"{ref_top5 if ref_top5 is not None else float('nan'):.6f}")


if __name__ == "__main__":
    main_wrapper(main)
