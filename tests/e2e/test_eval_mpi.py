#!/usr/bin/python3
"""e2e_eval_mpi: `lrcompress eval` gives the same answer at any number of
ranks.

    /usr/bin/python3 tests/e2e/test_eval_mpi.py LRCOMPRESS --mpiexec MPIEXEC
        [--np-flag=-n] [--preflags="..."] [--postflags "..."] [--nps 1,2,3]
        [--model models/fashion_vgg.onnx] [--limit 2000] [--mean M --std S]

Runs `eval MODEL --data fashion-mnist:test --limit 2000 --save-logits` once
without mpirun and once under `MPIEXEC -n P --oversubscribe` for each P, and
asserts: every run prints one and the same result line with images=2000,
and every saved "logits" and "labels" data set is bitwise identical to the
serial run's (the files themselves may differ in HDF5 bookkeeping). Then the
same runs with `--backend winograd`, and with `--backend onednn` (in a build
with the oneDNN backend): bitwise identical to each other, and within 1e-4
(of the largest logit, at least 1) of the OpenBLAS backend's logits.
"""
import argparse
import os
import shlex

import numpy as np

from e2e_common import (REF_MODEL, TempDir, check, check_printed_accuracy, describe, log,
                        main_wrapper, parse_result, read_saved, run)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lrcompress")
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--np-flag", default="-n")
    ap.add_argument("--preflags", default="")
    ap.add_argument("--postflags", default="")
    ap.add_argument("--nps", default="1,2,3")
    ap.add_argument("--model", default=REF_MODEL)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--mean")
    ap.add_argument("--std")
    args = ap.parse_args()
    check(os.path.isfile(args.model), f"{args.model} is missing: the reference model "
          "comes from models/train_fashion_vgg.py")
    norm = ["--mean", args.mean, "--std", args.std] if args.mean is not None else []

    with TempDir("e2e_eval_mpi.") as d:
        runs = [("serial", [])]
        for np_ in [int(x) for x in args.nps.split(",")]:
            runs.append((f"np{np_}", [args.mpiexec, args.np_flag, str(np_), "--oversubscribe",
                                      *shlex.split(args.preflags)]))
        results = []
        for tag, prefix in runs:
            saved = os.path.join(d, f"{tag}.h5")
            cmd = prefix + [args.lrcompress, *shlex.split(args.postflags), "eval", args.model,
                            "--data", "fashion-mnist:test", "--limit", str(args.limit),
                            "--save-logits", saved, *norm]
            p = run(cmd, timeout=900)
            check(p.returncode == 0, f"{tag}: eval failed:\n{describe(p)}")
            top1, top5, n = parse_result(p, f"{tag}: eval")
            check(n == args.limit, f"{tag}: images={n}, expected {args.limit}")
            logits, labels = read_saved(saved, tag)
            check(logits.shape[0] == args.limit,
                  f"{tag}: saved {logits.shape[0]} rows, expected {args.limit}")
            check_printed_accuracy(top1, top5, logits, labels, tag)
            log(f"{tag:6s} {p.stdout.strip()}  ({p.seconds:.1f} s)")
            results.append((tag, p.stdout.strip(), logits, labels))

        base_tag, base_line, base_logits, base_labels = results[0]
        for tag, line, logits, labels in results[1:]:
            check(line == base_line, f"{tag} printed '{line}', {base_tag} printed '{base_line}'")
            check(np.array_equal(labels, base_labels),
                  f"{tag}: saved labels differ from {base_tag}'s in "
                  f"{int(np.sum(labels != base_labels))} places")
            if logits.tobytes() != base_logits.tobytes():
                diff = np.abs(logits.astype(np.float64) - base_logits)
                rows = np.unique(np.nonzero(logits != base_logits)[0])
                check(False, f"{tag}: saved logits differ from {base_tag}'s in "
                      f"{rows.size} rows (first {rows[:10].tolist()}), max abs diff "
                      f"{diff.max():.3e}")
        log("all runs agree bitwise")

        # The winograd backend, and the oneDNN backend (in a build with
        # it): the same bits on every rank count too, within 1e-4 of the
        # OpenBLAS backend's logits.
        for backend in ("winograd", "onednn"):
            other_backend(args, d, runs, norm, backend, base_logits)


def other_backend(args, d, runs, norm, backend, base_logits):
    got = []
    for tag, prefix in runs:
        saved = os.path.join(d, f"{backend}_{tag}.h5")
        cmd = prefix + [args.lrcompress, *shlex.split(args.postflags), "eval", args.model,
                        "--data", "fashion-mnist:test", "--limit", str(args.limit),
                        "--save-logits", saved, "--backend", backend, *norm]
        p = run(cmd, timeout=900)
        if p.returncode != 0:
            check(backend == "onednn" and "LRC_WITH_DNNL" in p.stderr,
                  f"{tag}: eval --backend {backend} failed:\n{describe(p)}")
            log(f"--backend {backend}: not in this build, skipped")
            return
        check(f"{backend} backend" in p.stderr,
              f"{tag}: eval --backend {backend} does not name its backend:\n{describe(p)}")
        logits, labels = read_saved(saved, f"{backend} {tag}")
        got.append((tag, p.stdout.strip(), logits))
    for tag, line, logits in got[1:]:
        check(line == got[0][1], f"{backend} {tag} printed '{line}', serial printed "
              f"'{got[0][1]}'")
        check(logits.tobytes() == got[0][2].tobytes(),
              f"{backend} {tag}: logits differ from the serial run's (max abs diff "
              f"{np.abs(logits.astype(np.float64) - got[0][2]).max():.3e})")
    worst = float(np.abs(got[0][2].astype(np.float64) - base_logits).max())
    scale = float(np.abs(base_logits).max())
    check(worst <= 1e-4 * max(1.0, scale),
          f"{backend} logits differ from openblas's by {worst:.3e} (scale {scale:.3g})")
    log(f"--backend {backend}: all runs agree bitwise; {worst:.2e} from the openblas "
        f"backend's logits (largest {scale:.3g})")


if __name__ == "__main__":
    main_wrapper(main)
