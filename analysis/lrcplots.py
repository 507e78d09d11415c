"""Reading lrcompress outputs for the analysis notebooks.

A sweep directory (written by analysis/sweep.py) holds sweep.json and one
run directory per (method, speedup) with results.h5 and stats.h5, laid out
as docs/FORMAT.md describes. The notebooks take the sweep directory from
$LRC_SWEEP_DIR (default out/sweep) and write their figures into
$LRC_FIGURE_DIR (default docs/figures); relative paths start at the
repository root.
"""
import csv
import json
import math
import os
from dataclasses import dataclass, field

import h5py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Plot order, colours and markers per method, from the data-free baseline to
# the TPAMI paper's full method.
METHODS = ["svd", "linear", "linear-asym", "nonlinear", "nonlinear-asym", "3d"]
COLORS = {"svd": "tab:gray", "linear": "tab:blue", "linear-asym": "tab:cyan",
          "nonlinear": "tab:red", "nonlinear-asym": "tab:orange", "3d": "tab:green"}
MARKERS = {"svd": "x", "linear": "s", "linear-asym": "D",
           "nonlinear": "o", "nonlinear-asym": "^", "3d": "v"}


@dataclass
class Layer:
    """One approximated layer of a run (results.h5 /layers/NAME)."""
    key: str             # the group name
    name: str            # the conv's own name in the model
    index: int
    d: int
    rank: int
    kept: bool           # left in its original form
    cost_before: int     # multiply-adds per image
    cost_after: int
    energy: float        # PCA energy kept by the first `rank` eigenvalues
    linear_error: float  # mean ||r(y) - r(M yhat + b)||^2, linear solution
    final_error: float   # the same for the returned solution
    target_energy: float  # mean ||r(y)||^2 (0 when the run did not record it)

    @property
    def label(self):
        """A short name for axes: '/features/features.5/Conv' -> 'features.5'."""
        parts = [p for p in self.name.split("/") if p and p != "Conv"]
        return parts[-1] if parts else self.key

    @property
    def speedup(self):
        return self.cost_before / self.cost_after

    @property
    def relative_error(self):
        """final_error / target_energy, the 'rel. error' lrcompress prints;
        NaN when the target energy was not recorded."""
        return self.final_error / self.target_energy if self.target_energy > 0 else math.nan


@dataclass
class Run:
    """One `lrcompress run` output directory."""
    method: str
    speedup_target: float
    path: str
    attrs: dict = field(default_factory=dict)       # results.h5 root attributes
    evaluation: dict = field(default_factory=dict)  # /evaluation attributes (empty if none)
    layers: list = field(default_factory=list)      # Layer, bottom-up

    @property
    def label(self):
        return f"{self.method} {self.speedup_target:g}x"

    @property
    def ranks(self):
        return [layer.rank for layer in self.layers]


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _attrs(obj):
    return {k: _text(v) for k, v in obj.attrs.items()}


def _repo_path(variable, default):
    """$VARIABLE or DEFAULT; relative to the repository root, not to the
    kernel's working directory (the notebook's folder)."""
    return os.path.normpath(os.path.join(REPO, os.environ.get(variable) or default))


def sweep_dir():
    return _repo_path("LRC_SWEEP_DIR", os.path.join("out", "sweep"))


def figure_dir():
    path = _repo_path("LRC_FIGURE_DIR", os.path.join("docs", "figures"))
    os.makedirs(path, exist_ok=True)
    return path


def read_run(path, method=None, speedup=None):
    """A Run from PATH/results.h5 (method and target from the file unless given)."""
    results = os.path.join(path, "results.h5")
    if not os.path.isfile(results):
        raise FileNotFoundError(f"{results} is missing: is {path} an lrcompress run output?")
    with h5py.File(results, "r") as f:
        attrs = _attrs(f)
        run = Run(method or attrs["method"],
                  speedup if speedup is not None else float(attrs["speedup_target"]),
                  path, attrs, _attrs(f["evaluation"]) if "evaluation" in f else {})
        group = f["layers"]
        for key in _text(group.attrs["order"]).split(","):
            g = group[key]
            a = _attrs(g)
            run.layers.append(Layer(
                key=key, name=a.get("name", key), index=int(a["index"]), d=int(a["d"]),
                rank=int(a["rank"]), kept=bool(a.get("kept", 0)),
                cost_before=int(a["cost_before"]), cost_after=int(a["cost_after"]),
                energy=float(a["energy"]), linear_error=float(a["linear_error"]),
                final_error=float(a["final_error"]),
                target_energy=float(a.get("target_energy", 0.0))))
    return run


def read_eigenvalues(path):
    """{layer key: eigenvalues of cov_y, descending} from PATH/stats.h5."""
    stats = os.path.join(path, "stats.h5")
    if not os.path.isfile(stats):
        raise FileNotFoundError(f"{stats} is missing: is {path} an lrcompress run output?")
    with h5py.File(stats, "r") as f:
        return {key: g["eigenvalues"][()] for key, g in f["layers"].items()}


def load_sweep(path=None):
    """The runs listed in PATH/sweep.json (default: sweep_dir()), in the
    order METHODS x speedup."""
    path = path or sweep_dir()
    index = os.path.join(path, "sweep.json")
    if not os.path.isfile(index):
        raise FileNotFoundError(f"{index} is missing: run analysis/sweep.py --out {path} "
                                "first, or set LRC_SWEEP_DIR to a sweep directory")
    with open(index) as f:
        entries = json.load(f)["runs"]
    runs = [read_run(os.path.join(path, e["dir"]), e["method"], float(e["speedup"]))
            for e in entries]
    return sorted(runs, key=lambda r: (method_order(r.method), r.speedup_target))


def method_order(method):
    return METHODS.index(method) if method in METHODS else len(METHODS)


def by_method(runs):
    """{method: [runs by increasing target speedup]} in METHODS order."""
    out = {}
    for run in sorted(runs, key=lambda r: (method_order(r.method), r.speedup_target)):
        out.setdefault(run.method, []).append(run)
    return out


def save_figure(fig, name):
    """Writes FIG as NAME.png into figure_dir(); returns the path."""
    path = os.path.join(figure_dir(), f"{name}.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


ACCURACY_COLUMNS = ["method", "target", "theoretical", "measured", "top1", "d_top1_pp",
                    "top5", "d_top5_pp", "ranks"]


def accuracy_rows(runs):
    """One dict per evaluated run (ACCURACY_COLUMNS), sorted by target, method."""
    rows = []
    for run in sorted(runs, key=lambda r: (r.speedup_target, method_order(r.method))):
        e = run.evaluation
        if not e:
            continue
        rows.append({
            "method": run.method, "target": run.speedup_target,
            "theoretical": float(e["theoretical_speedup"]),
            "measured": float(e["measured_speedup"]),
            "top1": float(e["compressed_top1"]),
            "d_top1_pp": 100 * (float(e["compressed_top1"]) - float(e["original_top1"])),
            "top5": float(e["compressed_top5"]),
            "d_top5_pp": 100 * (float(e["compressed_top5"]) - float(e["original_top5"])),
            "ranks": " ".join(str(r) for r in run.ranks),
        })
    return rows


def markdown_table(rows):
    lines = ["| target | method | theoretical | measured | top-1 | Δ top-1 (pp) | top-5 "
             "| Δ top-5 (pp) | ranks d' |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['target']:g}x | {r['method']} | {r['theoretical']:.2f}x "
                     f"| {r['measured']:.2f}x | {r['top1']:.4f} | {r['d_top1_pp']:+.2f} "
                     f"| {r['top5']:.4f} | {r['d_top5_pp']:+.2f} | {r['ranks']} |")
    return "\n".join(lines) + "\n"


def write_accuracy_tables(rows, name):
    """Writes NAME.csv and NAME.md into figure_dir(); returns both paths."""
    csv_path = os.path.join(figure_dir(), f"{name}.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ACCURACY_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    md_path = os.path.join(figure_dir(), f"{name}.md")
    with open(md_path, "w") as f:
        f.write(markdown_table(rows))
    return csv_path, md_path
