#!/usr/bin/python3
"""Runs `lrcompress run` over methods x whole-model speedups and writes one
output directory per run plus an index, the input of the analysis notebooks
(docs/ANALYSIS.md).

    /usr/bin/python3 analysis/sweep.py --exe build/lrcompress --out out/sweep
        [--methods svd,linear,linear-asym,nonlinear,nonlinear-asym,3d]
        [--speedups 2,3,4] [--images 3000] [--eval-limit 0] [--iters 25,25]
        [--model models/fashion_vgg.onnx] [--config configs/default.yaml]
        [--ranks 2] [--mpiexec mpirun] [--np-flag=-np]

Each run goes to OUT/METHOD-Sx/ (compressed.onnx, results.h5, stats.h5 and
run.log, the program's output). OUT/sweep.json lists the runs with their
settings; the notebooks read it. The other settings come from --config.
A failed run stops the sweep and shows the program's output.
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INDEX = "sweep.json"

# What mpirun needs on a small machine, possibly as root; a value already in
# the environment wins.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_mpi_yield_when_idle": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def run_dir_name(method, speedup):
    return f"{method}-{speedup:g}x"


def parse_iters(text):
    """'N' or 'SMALL,LARGE' -> (iters_small, iters_large)."""
    parts = [int(x) for x in text.split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 0:
        raise argparse.ArgumentTypeError(f"--iters {text!r}: expected N or SMALL,LARGE")
    return tuple(parts)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exe", default=os.path.join(REPO, "build", "lrcompress"),
                    help="the lrcompress program")
    ap.add_argument("--model", default=os.path.join(REPO, "models", "fashion_vgg.onnx"))
    ap.add_argument("--config", default=os.path.join(REPO, "configs", "default.yaml"),
                    help="base configuration; the options below override its keys")
    ap.add_argument("--out", required=True, help="sweep directory (created)")
    ap.add_argument("--methods", default="svd,linear,linear-asym,nonlinear,nonlinear-asym,3d")
    ap.add_argument("--speedups", default="2,3,4")
    ap.add_argument("--images", type=int, default=3000, help="calibration images")
    ap.add_argument("--eval-limit", type=int, default=0,
                    help="evaluate the first N images only (0: all)")
    ap.add_argument("--iters", type=parse_iters,
                    help="nonlinear iterations: N (both phases) or SMALL,LARGE "
                         "(default: the config's)")
    ap.add_argument("--ranks", type=int, default=2, help="MPI ranks per run")
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--np-flag", default="-np")
    a = ap.parse_args(argv)
    a.methods = [m for m in a.methods.split(",") if m]
    a.speedups = [float(s) for s in a.speedups.split(",") if s]
    return a


def run_one(a, method, speedup, out_dir, env):
    """Runs one compression into out_dir; returns its wall time in seconds.
    Exits with the program's output when it fails."""
    sets = {"model": a.model, "output": out_dir, "method": method, "speedup": f"{speedup:g}",
            "images": a.images, "evaluation_limit": a.eval_limit,
            # A stale checkpoint of another sweep would be refused, and a
            # sweep's runs are short: always start fresh.
            "checkpoint": "false"}
    if a.iters:
        sets["nonlinear.iters_small"], sets["nonlinear.iters_large"] = a.iters
    cmd = [a.mpiexec, a.np_flag, str(a.ranks), "--oversubscribe", a.exe, "run", a.config]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    cmd.append("--quiet")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.time() - t0
    with open(os.path.join(out_dir, "run.log"), "w") as f:
        f.write(f"$ {shlex.join(cmd)}\n{p.stdout}{p.stderr}")
    if p.returncode != 0:
        sys.stderr.write(f"sweep: {method} at {speedup:g}x failed (exit {p.returncode}):\n"
                         f"$ {shlex.join(cmd)}\n--- stdout ---\n{p.stdout}"
                         f"--- stderr ---\n{p.stderr}")
        raise SystemExit(1)
    for name in ("results.h5", "stats.h5"):
        if not os.path.isfile(os.path.join(out_dir, name)):
            raise SystemExit(f"sweep: {method} at {speedup:g}x exited 0 but wrote no "
                             f"{name} in {out_dir}")
    return seconds


def main(argv=None):
    a = parse_args(argv)
    for path, what in ((a.exe, "--exe"), (a.model, "--model"), (a.config, "--config")):
        if not os.path.isfile(path):
            raise SystemExit(f"sweep: {what} {path} does not exist")
    a.exe, a.model, a.config = (os.path.abspath(p) for p in (a.exe, a.model, a.config))
    env = dict(MPI_ENV, **os.environ)
    os.makedirs(a.out, exist_ok=True)

    runs = []
    for speedup in a.speedups:
        for method in a.methods:
            name = run_dir_name(method, speedup)
            seconds = run_one(a, method, speedup, os.path.join(a.out, name), env)
            runs.append({"method": method, "speedup": speedup, "dir": name,
                         "seconds": round(seconds, 2)})
            print(f"sweep: {name:22s} {seconds:6.1f} s", flush=True)

    index = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "exe": a.exe, "model": a.model, "config": a.config, "images": a.images,
        "evaluation_limit": a.eval_limit, "iters": list(a.iters) if a.iters else None,
        "mpi_ranks": a.ranks, "runs": runs,
    }
    path = os.path.join(a.out, INDEX)
    with open(path + ".tmp", "w") as f:
        json.dump(index, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"sweep: {len(runs)} runs, index {path}")


if __name__ == "__main__":
    main()
