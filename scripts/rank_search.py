#!/usr/bin/python3
"""An upper bound for rank allocation at a fixed budget: a coordinate search
over the ranks of a model's approximated convs (every conv but the first),
scoring each allocation by the compressed model's top-1 on the *test* set.
It is an oracle, for diagnosis (docs/RESULTS.md: can any choice of ranks
reach the accuracy target?), never a way to choose ranks.

    /usr/bin/python3 scripts/rank_search.py --start 13,30,32,63,42
        [--model models/fashion_vgg.onnx] [--method nonlinear-asym]
        [--np 2] [--max-evals 80] [--log rank_search.log]

Starts from --start (for example the ranks the greedy rule printed for a
speedup) and takes that allocation's cost as the budget. Each round tries
moving 15% or 30% of a fifth of the budget from one layer to another (whole
rank steps; a rank step of layer l costs (k k c + d) H W multiply-adds, from
the model's shapes) and keeps the first move that gains more than 0.05 pp;
it stops when no move gains or after --max-evals compressions. Each
evaluation is `lrcompress compress --ranks ... --eval fashion-mnist:test`
with the default 3,000 calibration images; each line of --log is the
ranks, the cost over the budget and the top-1 change in pp.
"""
import argparse
import itertools
import os
import re
import subprocess

import onnx
from onnx import shape_inference

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rank_step_costs(path):
    """(k k c + d) H W, and d, of every conv but the first, in order."""
    m = shape_inference.infer_shapes(onnx.load(path))
    inits = {t.name: list(t.dims) for t in m.graph.initializer}
    shapes = {}
    for v in list(m.graph.value_info) + list(m.graph.output):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        shapes[v.name] = dims
    costs = []
    for node in m.graph.node:
        if node.op_type != "Conv":
            continue
        d, c, kh, kw = inits[node.input[1]]
        h, w = shapes[node.output[0]][2:4]
        costs.append(((kh * kw * c + d) * h * w, d))
    return costs[1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", required=True, help="comma-separated ranks")
    ap.add_argument("--model", default=os.path.join(HERE, "models", "fashion_vgg.onnx"))
    ap.add_argument("--method", default="nonlinear-asym")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--max-evals", type=int, default=80)
    ap.add_argument("--lrcompress", default=os.path.join(HERE, "build", "lrcompress"))
    ap.add_argument("--work", default="/tmp/lrc_rank_search")
    ap.add_argument("--log", default="rank_search.log")
    a = ap.parse_args()
    unit, full = zip(*rank_step_costs(a.model))
    start = [int(x) for x in a.start.split(",")]
    if len(start) != len(unit):
        raise SystemExit(f"--start has {len(start)} ranks; {a.model} approximates "
                         f"{len(unit)} convs")
    budget = sum(r * u for r, u in zip(start, unit))
    os.makedirs(a.work, exist_ok=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1")
    seen = {}

    def score(ranks, log):
        key = tuple(ranks)
        if key not in seen:
            p = subprocess.run(["mpirun", "-np", str(a.np), "--oversubscribe", a.lrcompress,
                                "compress", a.model, "--data", "fashion-mnist:train",
                                "--method", a.method, "--ranks", ",".join(map(str, ranks)),
                                "--output", os.path.join(a.work, "x.onnx"),
                                "--eval", "fashion-mnist:test", "--quiet"],
                               capture_output=True, text=True, env=env)
            m = re.search(r"accuracy change: top1 ([-+0-9.]+) pp", p.stdout)
            if p.returncode != 0 or not m:
                raise SystemExit(f"compress --ranks {key} failed:\n{p.stdout}{p.stderr}")
            seen[key] = float(m.group(1))
            line = (f"{list(ranks)} {sum(r * u for r, u in zip(ranks, unit)) / budget:.4f} "
                    f"{seen[key]:+.2f}")
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
        return seen[key]

    with open(a.log, "w") as log:
        best = list(start)
        best_v = score(best, log)
        improved = True
        while improved and len(seen) < a.max_evals:
            improved = False
            for i, j in itertools.permutations(range(len(unit)), 2):
                for frac in (0.15, 0.3):
                    di = int(frac * budget / 5) // unit[i]
                    if di < 1:
                        continue
                    dj = -(-(di * unit[i]) // unit[j])
                    r = list(best)
                    r[i] += di
                    r[j] -= dj
                    if r[i] > full[i] or r[j] < 1 or sum(x * u for x, u in zip(r, unit)) > budget:
                        continue
                    if len(seen) >= a.max_evals:
                        break
                    v = score(r, log)
                    if v > best_v + 0.05:
                        best, best_v, improved = r, v, True
                        break
                if improved or len(seen) >= a.max_evals:
                    break
        print(f"best after {len(seen)} allocations: --ranks {','.join(map(str, best))} "
              f"top-1 {best_v:+.2f} pp")


if __name__ == "__main__":
    main()
