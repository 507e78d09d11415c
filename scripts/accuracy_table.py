#!/usr/bin/python3
"""Accuracy of every method at several whole-model speedups on the reference
model: compresses with 3,000 calibration images of the Fashion-MNIST train
split, evaluates original and compressed on all 10,000 test images, and
writes a Markdown table (docs/RESULTS.md by default) and the raw results
(one results.h5 per run under --work).

    /usr/bin/python3 scripts/accuracy_table.py [--ranks 2] [--speedups 2,3,4]
        [--methods svd,linear,linear-asym,nonlinear,nonlinear-asym,3d]
        [--images 3000] [--out docs/RESULTS.md]
"""
import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env):
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout, p.stderr, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "build"))
    ap.add_argument("--model", default=os.path.join(HERE, "models", "fashion_vgg.onnx"))
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--speedups", default="2,3,4")
    ap.add_argument("--methods", default="svd,linear,linear-asym,nonlinear,nonlinear-asym,3d")
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/lrc-accuracy")
    ap.add_argument("--out", default=os.path.join(HERE, "docs", "RESULTS.md"))
    a = ap.parse_args()

    exe = os.path.join(a.build, "lrcompress")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1", OPENBLAS_NUM_THREADS="1")
    mpi = ["mpirun", "-np", str(a.ranks), "--oversubscribe"]
    os.makedirs(a.work, exist_ok=True)
    rows = []
    base = None
    for s in a.speedups.split(","):
        for m in a.methods.split(","):
            out = os.path.join(a.work, f"{m}_{s}x.onnx")
            res = os.path.join(a.work, f"{m}_{s}x.h5")
            cmd = mpi + [exe, "compress", a.model, "--data", "fashion-mnist:train",
                         "--speedup", s, "--method", m, "--images", str(a.images),
                         "--seed", str(a.seed), "--output", out, "--results", res,
                         "--eval", "fashion-mnist:test", "--quiet"]
            so, _, secs = run(cmd, env)
            o = re.search(r"^original\s+top1=([\d.]+) top5=([\d.]+)", so, re.M)
            c = re.search(r"^compressed top1=([\d.]+) top5=([\d.]+)", so, re.M)
            sp = re.search(r"theoretical speedup ([\d.]+)x", so)
            ms = re.search(r"measured speedup ([\d.]+)x", so)
            ranks = re.findall(r"^(\S+)\s+(\d+)\s+(\d+)\s+[\d.]+%", so, re.M)
            t = re.search(r"total ([\d.]+) s on", so)
            base = (float(o.group(1)), float(o.group(2)))
            rows.append(dict(method=m, target=s, top1=float(c.group(1)), top5=float(c.group(2)),
                             speedup=float(sp.group(1)), measured=float(ms.group(1)),
                             ranks=" ".join(f"{d2}" for _, _, d2 in ranks),
                             secs=float(t.group(1)), wall=secs))
            print(f"{m:15s} {s}x: top1 {c.group(1)} (orig {o.group(1)}), "
                  f"theoretical {sp.group(1)}x, ranks {rows[-1]['ranks']}", flush=True)

    lines = []
    lines.append("# Accuracy of the compressed reference model\n")
    lines.append(f"Measured {datetime.date.today().isoformat()} on {platform.node()} "
                 f"({os.cpu_count()} cores), {a.ranks} MPI ranks, with\n")
    lines.append("```sh\n/usr/bin/python3 scripts/accuracy_table.py "
                 f"--ranks {a.ranks} --speedups {a.speedups} --images {a.images}\n```\n")
    lines.append(f"Model: `models/fashion_vgg.onnx`, original top-1 {base[0]:.4f}, "
                 f"top-5 {base[1]:.4f} on the 10,000 Fashion-MNIST test images. "
                 f"Calibration: {a.images} train images (seed {a.seed}), 10 locations "
                 "per image and layer; every conv but the first is approximated; ranks "
                 "by the greedy PCA-energy rule for the target whole-model conv speedup. "
                 "No fine-tuning.\n")
    lines.append("| target | method | theoretical | top-1 | Δ top-1 (pp) | top-5 | Δ top-5 (pp) "
                 "| ranks d' | compress time (s) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(f"| {r['target']}x | {r['method']} | {r['speedup']:.2f}x | {r['top1']:.4f} | "
                     f"{100 * (r['top1'] - base[0]):+.2f} | {r['top5']:.4f} | "
                     f"{100 * (r['top5'] - base[1]):+.2f} | {r['ranks']} | {r['secs']:.1f} |")
    lines.append("")
    lines.append("Measured speedups of these small 28x28 models are not meaningful "
                 "(dominated by per-layer overheads); see bench/ for speed.\n")
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
