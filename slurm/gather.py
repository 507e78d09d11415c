#!/usr/bin/python3
"""Gathers the results.h5 files of a sweep (slurm/sweep.sbatch) into one table.

    /usr/bin/python3 slurm/gather.py out/sweep [MORE_DIRS ...] [--csv F] [--md F]

Every DIR/*/results.h5 (and DIR/results.h5) becomes one row: method, target
and theoretical speedup, measured speedup (forward time of the original over
the compressed model), top-1/top-5 of both models, the compression's wall
time (seconds_total of the run that finished the job: a resumed run counts
from its restart), ranks, the planned memory and the peak resident memory
per rank. The table goes to stdout as markdown and to DIR/summary.md and
DIR/summary.csv (the first DIR) unless --md/--csv say otherwise.

A task directory with no results.h5 (failed, cancelled or still running:
it may hold a checkpoint.h5) is listed on stderr. Exit status: 0 all rows
complete, 1 some task directories have no results, 2 nothing found or an
unreadable file. Needs python3-h5py (Debian).
"""
import argparse
import csv
import glob
import io
import os
import sys

try:
    import h5py
except ImportError:
    sys.exit("gather.py: error: h5py is missing (apt-get install python3-h5py; "
             "run with /usr/bin/python3)")

COLUMNS = [
    # (csv name, markdown header)
    ("task", "task"),
    ("method", "method"),
    ("target", "target"),
    ("theoretical_speedup", "theoretical"),
    ("measured_speedup", "measured"),
    ("top1_original", "top-1 orig."),
    ("top1_compressed", "top-1 comp."),
    ("top5_original", "top-5 orig."),
    ("top5_compressed", "top-5 comp."),
    ("wall_seconds", "wall s"),
    ("ranks", "ranks"),
    ("memory_planned_mb", "plan MiB/rank"),
    ("peak_rss_mb", "peak RSS MiB"),
    ("eval_images", "eval images"),
]


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_row(path, task):
    """One table row (a dict keyed by the csv names) from a results.h5."""
    with h5py.File(path, "r") as f:
        a = f.attrs
        row = {
            "task": task,
            "method": text(a.get("method", "?")),
            "target": float(a.get("speedup_target", 0.0)),
            "theoretical_speedup": float(a.get("speedup_theoretical", 0.0)),
            "wall_seconds": float(a.get("seconds_total", 0.0)),
            "ranks": int(a.get("mpi_ranks", 0)),
            "memory_planned_mb": (float(a["memory_planned_mb"])
                                  if "memory_planned_mb" in a else None),
            "peak_rss_mb": (float(max(f["peak_rss_mb"][()]))
                            if "peak_rss_mb" in f else None),
        }
        if "evaluation" in f:
            e = f["evaluation"].attrs
            row.update({
                "measured_speedup": float(e["measured_speedup"]),
                "top1_original": float(e["original_top1"]),
                "top1_compressed": float(e["compressed_top1"]),
                "top5_original": float(e["original_top5"]),
                "top5_compressed": float(e["compressed_top5"]),
                "eval_images": int(e["images"]),
            })
    return row


def fmt(key, v):
    if v is None:
        return "-"
    if key in ("target", "theoretical_speedup", "measured_speedup"):
        return f"{v:.2f}x" if key != "target" or v > 0 else "ranks"
    if key.startswith("top"):
        return f"{100.0 * v:.2f}%"
    if key in ("wall_seconds", "memory_planned_mb", "peak_rss_mb"):
        return f"{v:.1f}"
    return str(v)


def markdown(rows):
    out = io.StringIO()
    out.write("| " + " | ".join(h for _, h in COLUMNS) + " |\n")
    out.write("|" + "|".join("---" for _ in COLUMNS) + "|\n")
    for r in rows:
        out.write("| " + " | ".join(fmt(k, r.get(k)) for k, _ in COLUMNS) + " |\n")
    return out.getvalue()


def write_csv(rows, path):
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([k for k, _ in COLUMNS])
        for r in rows:
            w.writerow(["" if r.get(k) is None else
                        (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])
                        for k, _ in COLUMNS])
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", metavar="DIR",
                    help="a sweep's base output directory (SWEEP_OUT)")
    ap.add_argument("--csv", help="CSV output (default DIR/summary.csv)")
    ap.add_argument("--md", help="markdown output (default DIR/summary.md)")
    args = ap.parse_args()

    rows, missing, bad = [], [], []
    for d in args.dirs:
        if not os.path.isdir(d):
            sys.exit(f"gather.py: error: {d} is not a directory")
        tasks = [d] if os.path.isfile(os.path.join(d, "results.h5")) else []
        tasks += sorted(p for p in glob.glob(os.path.join(d, "*")) if os.path.isdir(p))
        for t in tasks:
            res = os.path.join(t, "results.h5")
            if os.path.isfile(res):
                try:
                    rows.append(read_row(res, os.path.relpath(t, d) if t != d
                                         else os.path.basename(os.path.abspath(d))))
                except (OSError, KeyError) as e:
                    bad.append(f"{res}: {e}")
            elif any(os.path.exists(os.path.join(t, n))
                     for n in ("checkpoint.h5", "stats.h5", "compressed.onnx")):
                has_ckpt = os.path.isfile(os.path.join(t, "checkpoint.h5"))
                missing.append(f"{t}: no results.h5"
                               + (" (checkpoint.h5 present: resubmit to resume)"
                                  if has_ckpt else ""))
    for m in bad:
        print(f"gather.py: error: cannot read {m}", file=sys.stderr)
    for m in missing:
        print(f"gather.py: incomplete: {m}", file=sys.stderr)
    if not rows:
        print(f"gather.py: error: no results.h5 under {', '.join(args.dirs)}",
              file=sys.stderr)
        sys.exit(2)

    rows.sort(key=lambda r: (r["method"], r["target"], r["task"]))
    md = markdown(rows)
    sys.stdout.write(md)
    base = args.dirs[0]
    md_path = args.md or os.path.join(base, "summary.md")
    csv_path = args.csv or os.path.join(base, "summary.csv")
    with open(md_path + ".tmp", "w") as f:
        f.write(md)
    os.replace(md_path + ".tmp", md_path)
    write_csv(rows, csv_path)
    print(f"gather.py: {len(rows)} row(s) -> {md_path}, {csv_path}", file=sys.stderr)
    sys.exit(2 if bad else 1 if missing else 0)


if __name__ == "__main__":
    main()
