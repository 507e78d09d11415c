#!/usr/bin/python3
"""e2e_analysis_notebooks: the analysis notebooks run headless on a real
sweep and draw their figures.

    /usr/bin/python3 tests/analysis/test_notebooks.py LRCOMPRESS MPIEXEC NP_FLAG

Runs analysis/sweep.py with LRCOMPRESS under `MPIEXEC NP_FLAG 2` (methods
linear, linear-asym, nonlinear, nonlinear-asym at 2x and 4x; 300 calibration
images, 5 + 5 iterations, 1,000 evaluation images), then executes every
notebook of analysis/ with `jupyter nbconvert --execute` on that sweep, into
a temporary directory, and asserts: each notebook runs without an error or
anything on stderr, and writes its PNG (a valid PNG of sensible size, not
blank); the accuracy notebook also writes its table with one row per run.
Missing Python or Jupyter packages fail the test and name the Debian
package to install.
"""
import csv
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "e2e"))
from e2e_common import (PYTHON, REF_MODEL, SOURCE_DIR, TempDir, check, describe, log,  # noqa: E402
                        main_wrapper, run)

ANALYSIS = os.path.join(SOURCE_DIR, "analysis")
JUPYTER = "/usr/bin/jupyter"
METHODS = ["linear", "linear-asym", "nonlinear", "nonlinear-asym"]
SPEEDUPS = ["2", "4"]
# notebook -> the files it must write into LRC_FIGURE_DIR
NOTEBOOKS = {
    "pca_energy": ["pca_energy.png"],
    "error_vs_speedup": ["error_vs_speedup.png"],
    "sym_vs_asym": ["sym_vs_asym.png"],
    "accuracy_vs_speedup": ["accuracy_vs_speedup.png", "accuracy_vs_speedup.csv",
                            "accuracy_vs_speedup.md"],
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 20_000
MIN_PNG_SIDE = 400


def require_tools():
    """Fails (never skips) when a package the notebooks need is missing."""
    for module, package in (("numpy", "python3-numpy"), ("h5py", "python3-h5py"),
                            ("matplotlib", "python3-matplotlib"),
                            ("nbformat", "python3-nbformat"), ("ipykernel", "python3-ipykernel")):
        p = run([PYTHON, "-c", f"import {module}"], timeout=120)
        check(p.returncode == 0, f"{PYTHON} cannot import {module}: "
              f"apt-get install -y --no-install-recommends {package}")
    check(os.access(JUPYTER, os.X_OK), f"{JUPYTER} is missing: "
          "apt-get install -y --no-install-recommends jupyter-nbconvert")
    p = run([JUPYTER, "nbconvert", "--version"], timeout=120)
    check(p.returncode == 0, "jupyter nbconvert does not run: apt-get install -y "
          f"--no-install-recommends jupyter-nbconvert\n{describe(p)}")


def check_png(path, what):
    check(os.path.isfile(path), f"{what}: {path} was not written")
    with open(path, "rb") as f:
        head = f.read(24)
    size = os.path.getsize(path)
    check(head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR",
          f"{what}: {path} is not a PNG (starts {head[:16]!r})")
    width, height = struct.unpack(">II", head[16:24])
    check(size >= MIN_PNG_BYTES and min(width, height) >= MIN_PNG_SIDE,
          f"{what}: {path} is {width}x{height} pixels, {size} bytes: expected at least "
          f"{MIN_PNG_SIDE} pixels a side and {MIN_PNG_BYTES} bytes")
    # A figure whose plotting failed quietly is one flat colour.
    p = run([PYTHON, "-c", "import sys, matplotlib.image as m; "
             "print(float(m.imread(sys.argv[1])[..., :3].std()))", path], timeout=120)
    check(p.returncode == 0 and float(p.stdout) > 0.01,
          f"{what}: {path} looks blank (pixel std {p.stdout.strip()}):\n{describe(p)}")
    return width, height, size


def check_executed(path, what):
    """No error output and nothing on stderr in the executed notebook."""
    import nbformat  # here, so that require_tools can name the package first
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                trace = "\n".join(out.get("traceback", []))[-2000:]
                check(False, f"{what}: cell {i} raised {out.ename}: {out.evalue}\n{trace}")
            check(not (out.output_type == "stream" and out.name == "stderr"),
                  f"{what}: cell {i} wrote to stderr:\n{out.text[:2000]}")


def run_sweep(lrcompress, mpiexec, np_flag, out):
    cmd = [PYTHON, os.path.join(ANALYSIS, "sweep.py"), "--exe", lrcompress,
           "--mpiexec", mpiexec, f"--np-flag={np_flag}", "--ranks", "2", "--model", REF_MODEL,
           "--out", out, "--methods", ",".join(METHODS), "--speedups", ",".join(SPEEDUPS),
           "--images", "300", "--eval-limit", "1000", "--iters", "5,5"]
    p = run(cmd, timeout=600)
    check(p.returncode == 0, f"sweep.py failed:\n{describe(p)}")
    log(f"sweep: {len(METHODS) * len(SPEEDUPS)} runs in {p.seconds:.1f} s")
    with open(os.path.join(out, "sweep.json")) as f:
        runs = json.load(f)["runs"]
    got = sorted((r["method"], f"{r['speedup']:g}") for r in runs)
    want = sorted((m, s) for m in METHODS for s in SPEEDUPS)
    check(got == want, f"sweep.json lists {got}, expected {want}")
    for r in runs:
        for name in ("results.h5", "stats.h5"):
            path = os.path.join(out, r["dir"], name)
            check(os.path.isfile(path), f"sweep.json lists {r['dir']} but {path} is missing")
    return len(runs)


def run_notebook(name, sweep, figures, executed):
    env = dict(os.environ, LRC_SWEEP_DIR=sweep, LRC_FIGURE_DIR=figures, MPLBACKEND="Agg",
               PYDEVD_DISABLE_FILE_VALIDATION="1", PYTHONDONTWRITEBYTECODE="1")
    cmd = [JUPYTER, "nbconvert", "--to", "notebook", "--execute",
           os.path.join(ANALYSIS, f"{name}.ipynb"), "--output-dir", executed, "--output", name]
    p = run(cmd, timeout=300, env=env)
    check(p.returncode == 0, f"{name}.ipynb failed:\n{describe(p)}")
    check_executed(os.path.join(executed, f"{name}.ipynb"), f"{name}.ipynb")
    return p.seconds


def main():
    check(len(sys.argv) == 4, f"usage: {sys.argv[0]} LRCOMPRESS MPIEXEC NP_FLAG")
    lrcompress, mpiexec, np_flag = sys.argv[1:]
    check(os.path.isfile(lrcompress), f"{lrcompress} does not exist")
    check(os.path.isfile(REF_MODEL), f"{REF_MODEL} is missing: the reference model comes "
          "from models/train_fashion_vgg.py")
    require_tools()

    t0 = time.time()
    with TempDir("e2e_analysis_notebooks.") as d:
        sweep = os.path.join(d, "sweep")
        figures = os.path.join(d, "figures")
        executed = os.path.join(d, "executed")
        n_runs = run_sweep(lrcompress, mpiexec, np_flag, sweep)
        for name, outputs in NOTEBOOKS.items():
            seconds = run_notebook(name, sweep, figures, executed)
            for out in outputs:
                path = os.path.join(figures, out)
                if out.endswith(".png"):
                    w, h, size = check_png(path, f"{name}.ipynb")
                    log(f"{name}.ipynb: {seconds:.1f} s, {out} {w}x{h} {size // 1024} KiB")
                else:
                    check(os.path.isfile(path) and os.path.getsize(path) > 0,
                          f"{name}.ipynb: {path} was not written")
        with open(os.path.join(figures, "accuracy_vs_speedup.csv")) as f:
            rows = list(csv.DictReader(f))
        check(len(rows) == n_runs, f"accuracy_vs_speedup.csv has {len(rows)} rows, "
              f"expected one per run ({n_runs})")
    log(f"total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main_wrapper(main)
