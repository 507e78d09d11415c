#!/usr/bin/python3
"""e2e_onnx_corpus: the ONNX importer and `lrcompress eval` on the generated
corpus (tests/tools/gen_onnx_models.py), checked against onnxruntime.

    /usr/bin/python3 tests/e2e/test_onnx_corpus.py LRCOMPRESS [--keep DIR]
        [--only NAME[,NAME...]]

Good models: `inspect` exits 0 with a table; `eval --data h5:<name>.h5
--mean 0,.. --std 1,.. --batch 3 --save-logits` prints one result line for
all 7 images whose top1/top5 follow from the saved logits, saves float32
7 x K logits and int32 zero labels, and the logits agree with onnxruntime
(ort_run.mjs on the same raw input) within 1e-4 (absolute for rows of logits up to 1,
relative to the row's largest logit above; see compare_logits.py).

Bad models: `inspect` and `eval` each exit with status 1 (not a signal),
write exactly one stderr line "lrcompress error: ..." (or "lrcompress
[rank 0] error: ...") that names the model file and contains every
expected substring (case-insensitive, with the model's path taken out) and
print no result line.

All problems are collected and listed before the test fails.
"""
import argparse
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

from e2e_common import (COMPARE, GEN_MODELS, PYTHON, E2EFailure, TempDir, check,
                        check_printed_accuracy, describe, log, main_wrapper,
                        ort_run, parse_result, read_saved, require_ort, run,
                        run_ok, RESULT_RE)

ATOL = 1e-4
# The error line's prefix; the rank tag (STYLE.md: every message starts with
# the rank) is allowed but not required.
ERROR_RE = re.compile(r"^lrcompress( \[rank \d+\])? error: ")


def check_good(lrc, d, g):
    name, (c, h, w) = g["name"], g["chw"]
    model = os.path.join(d, g["file"])
    p = run([lrc, "inspect", model], timeout=120)
    check(p.returncode == 0 and p.stdout.strip(),
          f"{name}: inspect should exit 0 with a layer table:\n{describe(p)}")

    ort_out = os.path.join(d, f"{name}.ort.bin")
    ort_run([model, os.path.join(d, g["in_bin"]), str(g["n"]), str(c), str(h), str(w),
             ort_out, "--batch", "2"], name)

    saved = os.path.join(d, f"{name}.lrc.h5")
    zeros, ones = ",".join(["0"] * c), ",".join(["1"] * c)
    p = run([lrc, "eval", model, "--data", "h5:" + os.path.join(d, g["h5"]),
             "--mean", zeros, "--std", ones, "--batch", "3", "--save-logits", saved],
            timeout=300)
    check(p.returncode == 0, f"{name}: eval failed:\n{describe(p)}")
    top1, top5, images = parse_result(p, f"{name}: eval")
    check(images == g["n"], f"{name}: eval reports images={images}, the data has {g['n']}")
    logits, labels = read_saved(saved, name)
    check(logits.shape == (g["n"], g["k"]),
          f"{name}: saved logits are {logits.shape}, expected ({g['n']}, {g['k']})")
    check(not labels.any(), f"{name}: saved labels {labels.tolist()}, the data's are zeros")
    check_printed_accuracy(top1, top5, logits, labels, name)

    p = run([PYTHON, COMPARE, saved, ort_out, "--shape-k", str(g["k"]), "--atol", str(ATOL)],
            timeout=120)
    summary = p.stdout.strip() or p.stderr.strip()
    check(p.returncode == 0, f"{name} (opset {g['opset']}, input {c}x{h}x{w}, ops "
          f"{'/'.join(g['ops'])}): lrcompress vs onnxruntime: {summary}")
    return summary


def check_bad_run(p, what, model, expect):
    problems = []
    rc = p.returncode
    if rc != 1:
        problems.append("killed by signal %d" % -rc if rc < 0 else f"exit code {rc}, expected 1")
    # the one line about OpenBLAS's kernels (OPENBLAS_CORETYPE=Haswell on an
    # AVX-512 CPU) is about the machine, not the model
    lines = [ln for ln in p.stderr.splitlines()
             if ln.strip() and not ln.startswith("lrcompress: warning: OpenBLAS ")]
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, expected exactly 1")
    err = next((ln for ln in lines if ERROR_RE.match(ln)), None)
    if err is None:
        problems.append("no stderr line starts with 'lrcompress error: '")
    else:
        if os.path.basename(model) not in err:
            problems.append("the error does not name the model file")
        text = err.replace(model, "<file>").replace(os.path.basename(model), "<file>").lower()
        missing = [s for s in expect if s.lower() not in text]
        if missing:
            problems.append(f"the error does not mention {missing}")
    if any(RESULT_RE.match(ln.strip()) for ln in p.stdout.splitlines()):
        problems.append("a result line was printed")
    check(not problems, f"{what}: {'; '.join(problems)}\n{describe(p)}")
    return err


def check_bad(lrc, d, b):
    model = os.path.join(d, b["file"])
    p = run([lrc, "inspect", model], timeout=120)
    err = check_bad_run(p, f"{b['name']} ({b['why']}): inspect", model, b["expect"])
    p = run([lrc, "eval", model, "--data", "h5:" + os.path.join(d, b["h5"]),
             "--mean", ",".join(["0"] * b["chw"][0]), "--std", ",".join(["1"] * b["chw"][0])],
            timeout=120)
    check_bad_run(p, f"{b['name']} ({b['why']}): eval", model, b["expect"])
    return err


def run_corpus(lrc, d, only):
    run_ok([PYTHON, GEN_MODELS, d], "gen_onnx_models.py")
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    require_ort()
    jobs = [("good", g, check_good) for g in manifest["good"]] + \
           [("bad ", b, check_bad) for b in manifest["bad"]]
    jobs = [j for j in jobs if not only or j[1]["name"] in only]
    check(jobs, f"no model matches --only {sorted(only or [])}")

    def one(job):
        kind, entry, fn = job
        try:
            return f"{kind} {entry['name']:28s} ok: {fn(lrc, d, entry)}", None
        except E2EFailure as e:
            return f"{kind} {entry['name']:28s} FAILED", str(e)

    # Two at a time: most of the time is process start-up (MPI, node).
    failures = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for line, err in pool.map(one, jobs):
            log(line)
            if err:
                failures.append(err)
    check(not failures, f"{len(failures)} of the corpus checks failed:\n\n" +
          "\n\n".join(failures))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lrcompress")
    ap.add_argument("--keep", help="generate and keep the corpus in this directory")
    ap.add_argument("--only", help="comma-separated model names")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        run_corpus(args.lrcompress, args.keep, only)
    else:
        with TempDir("e2e_onnx_corpus.") as d:
            run_corpus(args.lrcompress, d, only)


if __name__ == "__main__":
    main_wrapper(main)
