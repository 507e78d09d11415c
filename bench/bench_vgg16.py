#!/usr/bin/python3
"""Whole-network speed of VGG-16 compressed at 2x to 5x: theory vs measured.

    /usr/bin/python3 bench/bench_vgg16.py [--speedups 2,3,4,5] [--images 32]
        [--locations 10] [--method linear] [--ranks 2] [--batches 1,8]
        [--time-images 8] [--reps 3] [--workdir /tmp/lrc_bench_vgg16]
        [--keep] [--eval-check] [--backend openblas|onednn]
        [--json bench_vgg16.json]

1. Writes VGG-16 (torchvision's layout: 13 3x3 convs with ReLU, 5 max-pools,
   Flatten, 3 fully connected layers; 138 M parameters) as ONNX with
   He-normal weights from --seed, and --images random 224x224 images as an
   h5: data file, both under --workdir (never in the repository).
2. Compresses it with `lrcompress compress ... --speedup S` for each S
   (--method linear by default: the solve is not what is measured here, and
   every method but 3d gives the same shapes for the same ranks).
3. Times the original and the compressed models on one thread with
   build/bench/bench_model (lrcompress's forward engine, batches 1 and 8,
   warm-up excluded, best of --reps) and reports, for each S, the
   theoretical speedup (ratio of multiply-adds, whole net and convs alone),
   the measured one (ratio of forward times) and measured / theoretical
   (the issue's target: >= 90% at 4x); --backend onednn times both on the
   optional oneDNN backend (a build with -DLRC_WITH_DNNL=ON; the per-layer
   split stays OpenBLAS's); then each original conv against
   the pair that replaced it in the model closest to 4x, and the
   bench_conv command that times those ranks conv by conv.

About 7 minutes with the defaults on 2 idle cores (model generation 6 s,
each compress 20-30 s on 2 ranks, timing 4.5 minutes). A full run in the
papers' setting uses 3,000 images and 10 locations with the nonlinear-asym
method on ImageNet data and weights (--images 3000 --method nonlinear-asym);
that changes the ranks, not the speed of a given shape.

Needs Debian's python3-onnx, python3-numpy, python3-h5py and the built
lrcompress and bench_model (cmake --build build --target lrcompress bench).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

try:
    import h5py
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    sys.exit(f"bench_vgg16.py: error: {e} (apt-get install python3-onnx python3-h5py)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
       512, 512, 512, "M"]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_mpi_yield_when_idle": "1"}


def log(msg):
    print(f"bench_vgg16: {msg}", file=sys.stderr, flush=True)


def write_vgg16(path, seed):
    """VGG-16 with He-normal conv and dense weights, small random biases."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    x, c, block, idx = "input", 3, 1, 1

    def param(name, arr):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))

    for v in CFG:
        if v == "M":
            y = f"pool{block}"
            nodes.append(helper.make_node("MaxPool", [x], [y], name=y,
                                          kernel_shape=[2, 2], strides=[2, 2]))
            x, block, idx = y, block + 1, 1
            continue
        name = f"conv{block}_{idx}"
        w = rng.standard_normal((v, c, 3, 3), dtype=np.float32) * np.sqrt(2.0 / (9 * c))
        param(name + ".weight", w)
        param(name + ".bias", rng.normal(0, 0.01, v))
        nodes.append(helper.make_node("Conv", [x, name + ".weight", name + ".bias"],
                                      [name], name=name, kernel_shape=[3, 3],
                                      pads=[1, 1, 1, 1], strides=[1, 1]))
        nodes.append(helper.make_node("Relu", [name], [name + "_relu"],
                                      name=name + "_relu"))
        x, c, idx = name + "_relu", v, idx + 1
    nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flatten", axis=1))
    x, fin = "flat", 512 * 7 * 7
    for i, fout in enumerate([4096, 4096, 1000], start=6):
        name = f"fc{i}"
        w = rng.standard_normal((fout, fin), dtype=np.float32) * np.sqrt(2.0 / fin)
        param(name + ".weight", w)
        param(name + ".bias", rng.normal(0, 0.01, fout))
        out = "logits" if fout == 1000 else name
        nodes.append(helper.make_node("Gemm", [x, name + ".weight", name + ".bias"],
                                      [out], name=name, transB=1))
        x, fin = out, fout
        if fout != 1000:
            nodes.append(helper.make_node("Relu", [x], [name + "_relu"],
                                          name=name + "_relu"))
            x = name + "_relu"
    graph = helper.make_graph(
        nodes, "vgg16_seeded",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="lrcompress bench_vgg16.py")
    for k, v in (("lrc.mean", "123.675,116.28,103.53"), ("lrc.std", "58.395,57.12,57.375")):
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, path)


def write_images(path, n, seed):
    rng = np.random.default_rng(seed + 1)
    with h5py.File(path, "w") as f:
        f["images"] = rng.integers(0, 256, (n, 3, 224, 224), dtype=np.uint8)
        f["labels"] = rng.integers(0, 1000, n, dtype=np.int32)


def _in_c(name):
    """Input channels of VGG-16's conv `name` (conv{block}_{index})."""
    convs = [v for v in CFG if v != "M"]
    names, block, idx = [], 1, 1
    for v in CFG:
        if v == "M":
            block, idx = block + 1, 1
        else:
            names.append(f"conv{block}_{idx}")
            idx += 1
    i = names.index(name)
    return 3 if i == 0 else convs[i - 1]


def run(cmd, env=None):
    log("$ " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    dt = time.time() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        sys.exit(f"bench_vgg16.py: error: {cmd[0]} failed with status {p.returncode}")
    return p.stdout, p.stderr, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speedups", default="2,3,4,5")
    ap.add_argument("--images", type=int, default=32, help="calibration images")
    ap.add_argument("--locations", type=int, default=10)
    ap.add_argument("--method", default="linear")
    ap.add_argument("--ranks", type=int, default=2,
                    help="MPI ranks for compress (1: run it directly)")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--time-images", type=int, default=8,
                    help="images per timed pass (bench_model --images)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/lrc_bench_vgg16")
    ap.add_argument("--keep", action="store_true", help="keep the models in --workdir")
    ap.add_argument("--eval-check", action="store_true",
                    help="also time the original and the 4x model with lrcompress eval")
    ap.add_argument("--lrcompress", default=os.path.join(ROOT, "build", "lrcompress"))
    ap.add_argument("--bench-model",
                    default=os.path.join(ROOT, "build", "bench", "bench_model"))
    ap.add_argument("--backend", default="openblas", choices=("openblas", "onednn"),
                    help="bench_model's engine for the whole-net times")
    ap.add_argument("--json", default="bench_vgg16.json")
    a = ap.parse_args()
    speedups = [float(s) for s in a.speedups.split(",")]
    for exe in (a.lrcompress, a.bench_model):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench_vgg16.py: error: {exe} not found: build it with "
                     "cmake --build build --target lrcompress bench")

    os.makedirs(a.workdir, exist_ok=True)
    model = os.path.join(a.workdir, f"vgg16_seed{a.seed}.onnx")
    data = os.path.join(a.workdir, f"images_{a.images}_seed{a.seed}.h5")
    t0 = time.time()
    if not os.path.exists(model):
        log(f"writing {model}")
        write_vgg16(model, a.seed)
    if not os.path.exists(data):
        log(f"writing {data}")
        write_images(data, a.images, a.seed)
    t_gen = time.time() - t0

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **MPI_ENV)
    compressed, report = [], {"speedups": []}
    for s in speedups:
        out = os.path.join(a.workdir, f"vgg16_seed{a.seed}_{s:g}x.onnx")
        cmd = [a.lrcompress, "compress", model, "--data", "h5:" + data,
               "--speedup", f"{s:g}", "--images", str(a.images),
               "--locations", str(a.locations), "--method", a.method,
               "--output", out]
        if a.ranks > 1:
            cmd = ["mpirun", "-np", str(a.ranks), "--oversubscribe"] + cmd
        so, se, dt = run(cmd, env)
        m = re.search(r"theoretical (?:conv )?speedup ([0-9.]+)x", so + se)
        # compress's table: "layer d d' energy ..." per approximated conv
        ranks = {r.group(1): int(r.group(3)) for r in
                 re.finditer(r"^(conv\S+)\s+(\d+)\s+(\d+)\s", so + se, re.M)}
        report["speedups"].append({"target": s, "compress_seconds": dt,
                                   "reported_conv_speedup": float(m.group(1)) if m else None,
                                   "ranks": ranks, "model": out})
        log(f"{s:g}x: compressed in {dt:.0f} s"
            + (f", theoretical conv speedup {m.group(1)}x" if m else ""))
        compressed.append(out)

    bm_json = os.path.join(a.workdir, "bench_model.json")
    so, _, dt_time = run([a.bench_model, model] + compressed +
                         ["--batches", a.batches, "--images", str(a.time_images),
                          "--reps", str(a.reps), "--threads", "1", "--backend", a.backend,
                          "--json", bm_json],
                         env)
    print(so, end="")
    with open(bm_json) as f:
        bm = json.load(f)

    batches = [int(b) for b in a.batches.split(",")]
    print("\nbench_vgg16: VGG-16 at 224x224, one thread, best of %d; speedup "
          "measured/theoretical (issue target >= 90%% at 4x)" % a.reps)
    print("  %6s %9s %9s | %s" % ("target", "theory", "conv th.",
                                  " | ".join("batch %-3d measured  ratio  conv ms.  ratio" % b
                                             for b in batches)))
    for i, s in enumerate(speedups):
        mr = bm["models"][i + 1]
        row = report["speedups"][i]
        row.update({"theoretical_speedup": mr["theoretical_speedup"],
                    "theoretical_conv_speedup": mr["theoretical_conv_speedup"],
                    "batches": []})
        cells = []
        for k, b in enumerate(batches):
            ms, cms = mr["measured_speedup"][k], mr["measured_conv_speedup"][k]
            paired = mr.get("paired_speedup")
            row["batches"].append({
                "batch": b, "measured_speedup": ms, "measured_conv_speedup": cms,
                "paired_speedup": paired[k] if paired else None,
                "paired_speedup_range": [mr["paired_speedup_min"][k],
                                         mr["paired_speedup_max"][k]] if paired else None,
                "measured_over_theoretical": ms / mr["theoretical_speedup"],
                "conv_measured_over_theoretical": cms / mr["theoretical_conv_speedup"],
                "seconds_per_image": mr["batches"][k]["seconds_per_image"],
                "original_seconds_per_image": bm["models"][0]["batches"][k]["seconds_per_image"]})
            cells.append("%7.2fx %5.0f%% %7.2fx %5.0f%%" % (
                ms, 100 * ms / mr["theoretical_speedup"], cms,
                100 * cms / mr["theoretical_conv_speedup"]))
        print("  %5gx %8.2fx %8.2fx | %s" % (s, mr["theoretical_speedup"],
                                            mr["theoretical_conv_speedup"],
                                            " | ".join("        " + c for c in cells)))
    if bm.get("rounds"):
        print("  paired rounds (%d; each runs every model once in turn): median "
              "speedup [least, most], of theory" % bm["rounds"])
        for i, s in enumerate(speedups):
            mr = bm["models"][i + 1]
            th = mr["theoretical_speedup"]
            print("  %5gx | %s" % (s, " | ".join(
                "batch %-3d %6.2fx [%.2f, %.2f] %4.0f%%" % (
                    b, mr["paired_speedup"][k], mr["paired_speedup_min"][k],
                    mr["paired_speedup_max"][k], 100 * mr["paired_speedup"][k] / th)
                for k, b in enumerate(batches))))

    # where the time goes: each original conv against what replaced it, in
    # the model closest to 4x
    k4 = min(range(len(speedups)), key=lambda i: abs(speedups[i] - 4.0))
    peak = bm["sgemm_peak_gflops"]
    report["layers_at"] = speedups[k4]
    report["layers"] = []
    for k, b in enumerate(batches):
        orig = {l["name"]: l for l in bm["models"][0]["batches"][k]["layers"]}
        comp = {l["name"]: l for l in bm["models"][k4 + 1]["batches"][k]["layers"]}
        print("\n  per conv at %gx, batch %d (ms per image; rate as a fraction of the "
              "sgemm peak, %.1f GFLOP/s)" % (speedups[k4], b, peak))
        print("  %-8s | %8s %6s | %5s %8s %6s | %8s %6s | %7s %8s %6s" % (
            "layer", "orig ms", "rate", "d'", "A ms", "rate", "B ms", "rate",
            "theory", "measured", "ratio"))
        for name, lo in orig.items():
            if lo["op"] != "Conv":
                continue
            pair = [comp.get(name + "_lrA"), comp.get(name + "_lrB")]
            if pair[0] is None:
                pair = [comp[name], None]
            t_new = sum(p["seconds_per_image"] for p in pair if p)
            m_new = sum(p["macs"] for p in pair if p)

            def rate(l):
                return 2 * l["macs"] / l["seconds_per_image"] / 1e9 / peak

            th, ms = lo["macs"] / m_new, lo["seconds_per_image"] / t_new
            # d' from the 1x1 layer's MACs: d d' h w over d k k c h w
            dprime = "-" if pair[1] is None else str(round(
                pair[1]["macs"] / (lo["macs"] / (9 * _in_c(name)))))
            print("  %-8s | %8.2f %5.0f%% | %5s %8.2f %5.0f%% | %8s %6s | %6.2fx %7.2fx "
                  "%5.0f%%" % (
                      name, 1e3 * lo["seconds_per_image"], 100 * rate(lo), dprime,
                      1e3 * pair[0]["seconds_per_image"], 100 * rate(pair[0]),
                      "-" if pair[1] is None else "%.2f" % (1e3 * pair[1]["seconds_per_image"]),
                      "-" if pair[1] is None else "%.0f%%" % (100 * rate(pair[1])),
                      th, ms, 100 * ms / th))
            report["layers"].append({"batch": b, "name": name, "d_prime": dprime,
                                     "original_s": lo["seconds_per_image"],
                                     "replacement_s": t_new, "theoretical_speedup": th,
                                     "measured_speedup": ms})
        other = [sum(l["seconds_per_image"] for l in m.values() if l["op"] != "Conv")
                 for m in (orig, comp)]
        print("  other layers (ReLU, pooling, dense): %.1f ms original, %.1f ms at %gx" % (
            1e3 * other[0], 1e3 * other[1], speedups[k4]))
    r4 = report["speedups"][k4]["ranks"]
    names = [l["name"] for l in bm["models"][0]["batches"][0]["layers"] if l["op"] == "Conv"]
    if r4:
        print("  the same ranks, conv by conv with the prototypes: build/bench/bench_conv "
              "--ranks " + ",".join(str(r4.get(n, 0)) for n in names))

    if a.eval_check:
        # lrcompress eval's own throughput line (forward time only, warm-up
        # excluded), as a check of bench_model's figures
        report["eval_check"] = []
        four = [c for s, c in zip(speedups, compressed) if s == 4.0]
        for mpath in [model] + four:
            for b in batches:
                _, se, _ = run([a.lrcompress, "eval", mpath, "--data", "h5:" + data,
                                "--batch", str(b), "--limit", str(max(b, a.time_images))],
                               env)
                m = re.search(r"([0-9.]+) images/s", se)
                ips = float(m.group(1)) if m else None
                report["eval_check"].append({"model": mpath, "batch": b,
                                             "images_per_s": ips})
                log(f"lrcompress eval {os.path.basename(mpath)} batch {b}: {ips} images/s")

    report.update({"benchmark": "bench_vgg16", "seed": a.seed, "images": a.images,
                   "locations": a.locations, "method": a.method, "ranks": a.ranks,
                   "generate_seconds": t_gen, "timing_seconds": dt_time,
                   "bench_model": bm})
    with open(a.json, "w") as f:
        json.dump(report, f, indent=1)
    print(f"  figures written to {a.json}")
    if not a.keep:
        for p in [model] + compressed:
            os.remove(p)
        os.remove(data)
        os.remove(bm_json)
        try:
            os.rmdir(a.workdir)
        except OSError:
            pass


if __name__ == "__main__":
    main()
