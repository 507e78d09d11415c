#!/usr/bin/python3
"""Pipeline scaling and memory of `compress` on VGG-16: measured on 1 and 2
ranks, modelled at 16, 64 and 256.

    /usr/bin/python3 bench/bench_scaling.py [--images 16] [--locations 10]
        [--ranks 1,2] [--iters 25,25] [--method nonlinear-asym]
        [--workdir /tmp/lrc_bench_scaling] [--keep] [--json bench_scaling.json]
        [--model-images 3000] [--model-ranks 16,64,256]
        [--net-latency-us 2] [--net-gbs 12.5]

1. Writes VGG-16 (bench_vgg16.py's seeded weights, 138 M parameters) and
   --images random 224x224 images under --workdir.
2. Runs `lrcompress compress` at 4x with --method on each rank count of
   --ranks, one OpenBLAS thread per rank (so 1 rank uses one core and 2
   ranks two), and reads results.h5: the stage times (original pass,
   approximated pass, the solver's split per layer), the planned and the
   measured peak memory per rank.
3. Prints parallel efficiency T(1) / (P T(P)) of the response collection
   (the original pass), of the approximated pass's forward work, and of the
   whole run; the bytes each rank sends per layer (from the sizes of the
   reductions in src/method/solve.c); the memory plan against the measured
   peak; and a model of the time and memory at --model-ranks ranks for
   --model-images images, built from the measured rates:

     T(P) = N t_img / P                          (forward passes)
          + sum_layers I [n d^2 (2 + 4 r / d) / (P R)   (Z^T Yh, predictions)
                          + s(d)                       (d x d solves, serial)
                          + a(8 (d^2 + d + 5), P) + a(8 (2 d r + d), P)]
          + H                                     (HDF5 writes)

   with t_img the measured forward time per image and rank, n = N x
   locations samples, I iterations, R the measured rate of the
   per-sample work (s per sample x d^2), s(d) the measured time of one
   iteration's d x d solves (rank 0 or ScaLAPACK), and a(m, P) =
   2 log2(P) alpha + 2 (P - 1) / P m / beta the time of an Allreduce of m
   bytes (Rabenseifner; alpha = --net-latency-us, beta = --net-gbs: 2 us
   and 12.5 GB/s, an EDR InfiniBand link, by default).

About 4 minutes with the defaults on 2 idle cores. Needs python3-onnx,
python3-numpy, python3-h5py and the built lrcompress.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_vgg16 as vgg  # noqa: E402

try:
    import h5py
except ImportError as e:
    sys.exit(f"bench_scaling.py: error: {e} (apt-get install python3-h5py)")

MiB = 1048576.0


def log(msg):
    print(f"bench_scaling: {msg}", file=sys.stderr, flush=True)


def read_results(path):
    with h5py.File(path, "r") as f:
        r = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        r["peak_rss_mb"] = [float(x) for x in f["peak_rss_mb"][()]]
        layers = []
        order = f["layers"].attrs["order"]
        order = order.decode() if isinstance(order, bytes) else order
        for name in order.split(","):
            g = f["layers"][name]
            layers.append({"name": name, "d": int(g.attrs["d"]), "rank": int(g.attrs["rank"]),
                           "kept": int(g.attrs["kept"]), "samples": int(g.attrs["samples"]),
                           "seconds": float(g.attrs["seconds"]),
                           "solver": [float(x) for x in g["seconds_solver"][()]],
                           "iters": int(len(g["lambda"][()]))})
        r["layers"] = layers
    return r


def allreduce_s(m, p, alpha, beta):
    if p <= 1:
        return 0.0
    return 2.0 * math.log2(p) * alpha + 2.0 * (p - 1) / p * m / beta


def vgg_params():
    """Weights of bench_vgg16's VGG-16: conv and dense, with biases."""
    total, c = 0, 3
    for v in vgg.CFG:
        if v != "M":
            total += v * c * 9 + v
            c = v
    fin = 512 * 7 * 7
    for fout in (4096, 4096, 1000):
        total += fin * fout + fout
        fin = fout
    return total


def memory_plan(per, locations, layers, batch=64):
    """The bytes compress plans per rank (src/pipeline/compress.c
    plan_memory), for `per` images on the rank: a dict of parts."""
    d = [l["d"] for l in layers]
    width = 64 * 224 * 224           # the largest activation up to conv5_3
    maxact = 64 * 224 * 224
    in_sz = 3 * 224 * 224
    model = 2 * 4 * vgg_params()
    y = per * locations * sum(d) * 8
    yh = per * locations * max(d) * 8
    solver = per * locations * max(d) * 8 * 4 + 8 * max(d) ** 2 * 8
    cap = max(1, int(256 * MiB / ((2 * maxact + in_sz) * 4)))  # compress.c pass_batch
    b = min(batch, cap, max(per, 1))
    orig = b * (in_sz + 2 * maxact) * 4
    store = per * width * 4
    rest = yh + solver
    return {"weights (x2)": model, "responses": y,
            "carried activations": store, "solver": rest,
            "original pass buffers": orig,
            "total": model + y + max(orig, store + rest)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--locations", type=int, default=10)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--iters", default="25,25")
    ap.add_argument("--method", default="nonlinear-asym")
    ap.add_argument("--speedup", default="4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/lrc_bench_scaling")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default="bench_scaling.json")
    ap.add_argument("--model-images", type=int, default=3000)
    ap.add_argument("--model-ranks", default="16,64,256")
    ap.add_argument("--net-latency-us", type=float, default=2.0)
    ap.add_argument("--net-gbs", type=float, default=12.5)
    ap.add_argument("--lrcompress", default=os.path.join(vgg.ROOT, "build", "lrcompress"))
    ap.add_argument("--mpiexec", default="mpiexec")
    a = ap.parse_args()
    ranks = [int(x) for x in a.ranks.split(",")]
    if ranks[0] != 1:
        sys.exit("bench_scaling.py: error: --ranks must start with 1 (the reference)")
    if a.images < max(ranks):
        sys.exit("bench_scaling.py: error: --images must be at least the largest rank count")
    os.makedirs(a.workdir, exist_ok=True)
    model = os.path.join(a.workdir, "vgg16.onnx")
    data = os.path.join(a.workdir, "images.h5")
    t0 = time.time()
    vgg.write_vgg16(model, a.seed)
    vgg.write_images(data, a.images, a.seed)
    log(f"VGG-16 and {a.images} images written in {time.time() - t0:.1f} s")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **vgg.MPI_ENV)
    runs = {}
    for p in ranks:
        out = os.path.join(a.workdir, f"c{p}")
        os.makedirs(out, exist_ok=True)
        cmd = [a.mpiexec, "-n", str(p), "--oversubscribe", a.lrcompress, "compress", model,
               "--data", "h5:" + data, "--speedup", a.speedup, "--method", a.method,
               "--images", str(a.images), "--locations", str(a.locations),
               "--iters", a.iters, "--output", os.path.join(out, "c.onnx"),
               "--results", os.path.join(out, "results.h5")]
        _, _, wall = vgg.run(cmd, env=env)
        r = read_results(os.path.join(out, "results.h5"))
        r["wall"] = wall
        runs[p] = r
        log(f"{p} rank(s): {wall:.1f} s wall, original pass {r['seconds_original_pass']:.1f} s, "
            f"approximated pass {r['seconds_approx_pass']:.1f} s")

    # ---- measured: efficiency ----
    def parts(r):
        solve = sum(l["seconds"] for l in r["layers"])
        return {"original pass": r["seconds_original_pass"],
                "approx. forward": r["seconds_approx_pass"] - solve,
                "solves": solve, "run (compress)": r["seconds_total"]}
    base = parts(runs[1])
    print(f"\nVGG-16, {a.images} images x {a.locations} locations, {a.method} at "
          f"{a.speedup}x, iterations {a.iters}, one BLAS thread per rank\n")
    print("| stage | " + " | ".join(f"{p} rank{'s' if p > 1 else ''} (s)" for p in ranks)
          + " | " + " | ".join(f"efficiency on {p}" for p in ranks[1:]) + " |")
    print("|---" * (1 + 2 * len(ranks) - 1) + "|")
    eff = {}
    for k in base:
        row = [parts(runs[p])[k] for p in ranks]
        e = [base[k] / (p * parts(runs[p])[k]) if parts(runs[p])[k] > 0 else 0.0
             for p in ranks[1:]]
        eff[k] = e
        print(f"| {k} | " + " | ".join(f"{x:.2f}" for x in row) + " | "
              + " | ".join(f"{x:.0%}" for x in e) + " |")

    # ---- bytes per layer ----
    print("\nBytes each rank contributes to the reductions, per layer "
          "(message sizes; a ring Allreduce sends 2 (P-1)/P of it per rank):\n")
    print("| layer | d | d' | statistics (once) | per iteration | whole solve |")
    print("|---|---|---|---|---|---|")
    layers = runs[1]["layers"]
    iters = sum(int(x) for x in a.iters.split(","))
    comm = []
    for l in layers:
        d, r = l["d"], l["rank"]
        stats = 8 * (2 * d + 1 + 2 * d * d)
        it = 8 * (d * d + d + 5) + 8 * (2 * d * r + d)
        total = stats + iters * it
        comm.append({"name": l["name"], "d": d, "rank": r, "stats": stats,
                     "per_iter": it, "total": total})
        print(f"| {l['name']} | {d} | {r} | {stats / MiB:.2f} MiB | {it / MiB:.2f} MiB | "
              f"{total / MiB:.1f} MiB |")
    print(f"| all | | | | | {sum(c['total'] for c in comm) / MiB:.0f} MiB |")

    # ---- rates for the model, from the 1-rank run ----
    r1 = runs[1]
    n1 = a.images * a.locations
    t_img = (base["original pass"] + base["approx. forward"]) / a.images
    per_sample = []   # seconds per (sample x d^2) of the z-step, products, predictions
    solve_it = {}     # seconds of one iteration's d x d solves, by d
    for l in r1["layers"]:
        if l["iters"] == 0 or l["kept"]:
            continue
        s = l["solver"]
        per_sample.append((s[0] + s[1] + s[3]) / (l["iters"] * n1 * l["d"] ** 2))
        solve_it.setdefault(l["d"], []).append(s[2] / l["iters"])
    rate = float(np.median(per_sample)) if per_sample else 0.0
    solve_it = {d: float(np.median(v)) for d, v in solve_it.items()}
    other = r1["seconds_total"] - sum(base[k] for k in ("original pass", "approx. forward",
                                                         "solves"))
    alpha, beta = a.net_latency_us * 1e-6, a.net_gbs * 1e9
    N = a.model_images
    print(f"\nModel for {N} images x {a.locations} locations (rates from the 1-rank "
          f"run: forward {t_img:.2f} s per image; per-sample solver work "
          f"{rate * 1e9:.2f} ns per sample x d^2 per iteration; one iteration's "
          f"d x d solves " + ", ".join(f"{solve_it[d] * 1e3:.0f} ms at d = {d}"
                                        for d in sorted(solve_it))
          + f"; network alpha {a.net_latency_us:g} us, beta {a.net_gbs:g} GB/s):\n")
    print("| ranks | forward | per-sample solver work | d x d solves (serial) "
          "| Allreduce + Bcast | other | total | communication share |")
    print("|---|---|---|---|---|---|---|---|")
    model_rows = []
    for p in [1] + [int(x) for x in a.model_ranks.split(",")]:
        fwd = N * t_img / p
        work = sum(iters * N * a.locations * l["d"] ** 2 * rate / p
                   for l in layers if not l["kept"])
        solves = sum(iters * solve_it.get(l["d"], 0.0) for l in layers if not l["kept"])
        net = sum(iters * (allreduce_s(8 * (l["d"] ** 2 + l["d"] + 5), p, alpha, beta)
                           + allreduce_s(8 * (2 * l["d"] * l["rank"] + l["d"]), p, alpha,
                                         beta))
                  + allreduce_s(8 * (2 * l["d"] ** 2 + 2 * l["d"] + 1), p, alpha, beta)
                  for l in layers if not l["kept"])
        tot = fwd + work + solves + net + other
        model_rows.append({"ranks": p, "forward": fwd, "work": work, "solves": solves,
                           "net": net, "other": other, "total": tot})
        print(f"| {p} | {fwd:.1f} s | {work:.1f} s | {solves:.1f} s | {net:.2f} s | "
              f"{other:.1f} s | {tot:.1f} s | {net / tot:.1%} |")
    # where the network alone would catch up with the per-rank compute
    cross = None
    for p in [2 ** k for k in range(1, 21)]:
        fwd = N * t_img / p
        work = sum(iters * N * a.locations * l["d"] ** 2 * rate / p
                   for l in layers if not l["kept"])
        net = sum(iters * (allreduce_s(8 * (l["d"] ** 2 + l["d"] + 5), p, alpha, beta)
                           + allreduce_s(8 * (2 * l["d"] * l["rank"] + l["d"]), p, alpha,
                                         beta))
                  for l in layers if not l["kept"])
        if net >= fwd + work:
            cross = p
            break
    print(f"\nCommunication would exceed the parallel compute (forward + per-sample "
          f"work) from about {cross} ranks; the serial d x d solves "
          f"({model_rows[0]['solves']:.0f} s) exceed the parallel compute from "
          + next((f"{r['ranks']} ranks" for r in model_rows
                  if r["solves"] > r["forward"] + r["work"]), "beyond the modelled counts"))

    # ---- memory ----
    print("\nMemory per rank (MiB): the plan (src/pipeline/compress.c) against the "
          "measured peak resident set:\n")
    print("| ranks | images per rank | planned | measured peak (max over ranks) |")
    print("|---|---|---|---|")
    mem_rows = []
    for p in ranks:
        per = -(-a.images // p)
        plan = memory_plan(per, a.locations, layers)
        peak = max(runs[p]["peak_rss_mb"])
        mem_rows.append({"ranks": p, "per": per, "planned_mb": plan["total"] / MiB,
                         "reported_plan_mb": float(runs[p]["memory_planned_mb"]),
                         "peak_mb": peak})
        print(f"| {p} | {per} | {plan['total'] / MiB:.0f} (results.h5: "
              f"{float(runs[p]['memory_planned_mb']):.0f}) | {peak:.0f} |")
    overhead = float(np.median([m["peak_mb"] - m["planned_mb"] for m in mem_rows]))
    per64 = -(-N // 64)
    plan64 = memory_plan(per64, a.locations, layers)
    print(f"\nVGG-16, {N} images over 64 ranks ({per64} per rank): plan "
          f"{plan64['total'] / MiB:.0f} MiB + the measured overhead beyond the plan "
          f"({overhead:.0f} MiB: libraries, MPI, the forward plans) = "
          f"{plan64['total'] / MiB + overhead:.0f} MiB per rank; parts: "
          + ", ".join(f"{k} {v / MiB:.0f}" for k, v in plan64.items() if k != "total"))

    with open(a.json, "w") as f:
        json.dump({"images": a.images, "locations": a.locations, "method": a.method,
                   "iters": a.iters, "runs": {str(p): {k: v for k, v in r.items()
                                                       if isinstance(v, (int, float, list,
                                                                         str))}
                                              for p, r in runs.items()},
                   "efficiency": eff, "bytes_per_layer": comm,
                   "model": {"images": N, "rows": model_rows, "comm_dominates_from": cross,
                             "t_img": t_img, "rate_s_per_sample_d2": rate,
                             "solve_per_iter_s": solve_it},
                   "memory": {"rows": mem_rows, "overhead_mb": overhead,
                              "vgg16_3000_over_64_mb": plan64["total"] / MiB + overhead,
                              "parts_mb": {k: v / MiB for k, v in plan64.items()}}},
                  f, indent=1, default=float)
    log(f"figures written to {a.json}")
    if not a.keep:
        shutil.rmtree(a.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
