"""Shared helpers of the end-to-end test drivers (tests/e2e/test_*.py).

The drivers run the real `lrcompress` binary (its path is an argument) and
compare what it prints and saves with independent references: onnxruntime
through tests/tools/ort/ort_run.mjs, torch logits stored with the reference
model, and tests/tools/compare_logits.py. A failed check raises E2EFailure;
`main_wrapper` turns that into one "FAIL:" line and exit status 1.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LRC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(SOURCE_DIR, "tests", "tools")
ORT_DIR = os.path.join(TOOLS, "ort")
ORT_RUN = os.path.join(ORT_DIR, "ort_run.mjs")
COMPARE = os.path.join(TOOLS, "compare_logits.py")
GEN_MODELS = os.path.join(TOOLS, "gen_onnx_models.py")
PYTHON = "/usr/bin/python3"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
REF_MODEL = os.path.join(SOURCE_DIR, "models", "fashion_vgg.onnx")
REF_LOGITS = os.path.join(SOURCE_DIR, "models", "fashion_vgg_test_logits.h5")

# "top1=0.XXXX top5=0.XXXX images=N", the one line `lrcompress eval` prints.
RESULT_RE = re.compile(r"^top1=([01]\.\d{4}) top5=([01]\.\d{4}) images=(\d+)$")


class E2EFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise E2EFailure(msg)


def log(msg):
    print(msg, flush=True)


def run(cmd, timeout=600, env=None):
    """Runs cmd; returns CompletedProcess with text stdout/stderr."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise E2EFailure(f"timed out after {timeout} s: {shlex.join(cmd)}")
    p.seconds = time.time() - t0
    return p


def describe(p):
    """The command, its exit status and output, for failure messages."""
    rc = p.returncode
    status = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
    return (f"$ {shlex.join(p.args)}\n  -> {status}\n"
            f"  stdout: {p.stdout.strip()[:2000]!r}\n  stderr: {p.stderr.strip()[:2000]!r}")


def run_ok(cmd, what, timeout=600):
    p = run(cmd, timeout)
    check(p.returncode == 0, f"{what} failed:\n{describe(p)}")
    return p


def parse_result(p, what):
    """(top1, top5, images) from the single result line of `lrcompress eval`."""
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    hits = [RESULT_RE.match(ln.strip()) for ln in lines]
    hits = [h for h in hits if h]
    check(len(hits) == 1, f"{what}: expected one 'top1=... top5=... images=N' line "
          f"on stdout, found {len(hits)}:\n{describe(p)}")
    check(len(lines) == 1, f"{what}: stdout has other lines besides the result:\n{describe(p)}")
    return float(hits[0].group(1)), float(hits[0].group(2)), int(hits[0].group(3))


def read_saved(path, what):
    """(logits float32 [N, K], labels int) from an --save-logits file, with
    its format checked."""
    import h5py
    check(os.path.isfile(path), f"{what}: --save-logits did not write {path}")
    with h5py.File(path, "r") as f:
        check("logits" in f and "labels" in f,
              f"{what}: {path} has datasets {sorted(f.keys())}, expected logits and labels")
        lg, lb = f["logits"], f["labels"]
        check(lg.dtype == np.float32 and lg.ndim == 2,
              f"{what}: logits are {lg.dtype} {lg.shape}, expected float32 N x K")
        check(lb.dtype == np.int32 and lb.ndim == 1 and lb.shape[0] == lg.shape[0],
              f"{what}: labels are {lb.dtype} {lb.shape}, expected int32 [{lg.shape[0]}]")
        return lg[()], lb[()]


def topk_from_logits(logits, labels, k):
    """Top-k accuracy (exact ties, unlikely with float logits, go to the
    lower class index)."""
    order = np.argsort(-logits.astype(np.float64), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == labels[:, None], axis=1)))


def check_printed_accuracy(top1, top5, logits, labels, what):
    """The printed top1/top5 (4 decimals) must follow from the saved logits."""
    k = logits.shape[1]
    want1 = topk_from_logits(logits, labels, 1)
    check(abs(top1 - want1) <= 5.1e-5,
          f"{what}: printed top1={top1:.4f} but the saved logits give {want1:.6f}")
    if k >= 5:
        want5 = topk_from_logits(logits, labels, 5)
        check(abs(top5 - want5) <= 5.1e-5,
              f"{what}: printed top5={top5:.4f} but the saved logits give {want5:.6f}")


def require_ort():
    """Fails (never skips) when onnxruntime-node is not installed."""
    mod = os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")
    check(shutil.which("node") is not None,
          "node is not on PATH: the ORT reference needs Node.js 20 (apt-get install nodejs npm)")
    check(os.path.isdir(mod),
          f"onnxruntime-node is not installed ({mod} is missing): "
          f"run tests/tools/ort/install.sh")


def ort_run(args, what, timeout=600):
    require_ort()
    return run_ok(["node", ORT_RUN, *args], f"{what}: ort_run.mjs", timeout)


def compare(a, b, extra, what):
    """Runs compare_logits.py; fails with its summary line."""
    p = run([PYTHON, COMPARE, a, b, *extra], timeout=300)
    summary = (p.stdout.strip() or p.stderr.strip())
    check(p.returncode == 0, f"{what}: logits disagree: {summary}")
    return summary


def model_norm(model):
    """lrc.mean / lrc.std from the model's metadata, read with python onnx."""
    import onnx
    m = onnx.load(model, load_external_data=False)
    meta = {p.key: p.value for p in m.metadata_props}
    check("lrc.mean" in meta and "lrc.std" in meta,
          f"{model}: metadata has no lrc.mean/lrc.std (has {sorted(meta)})")
    return meta["lrc.mean"], meta["lrc.std"]


class TempDir:
    """A directory under $LRC_TEST_TMP, removed when the test passes and
    kept (and named) when it fails."""

    def __init__(self, prefix):
        base = os.environ.get("LRC_TEST_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=prefix, dir=base)

    def __enter__(self):
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            print(f"(files kept in {self.path})", flush=True)
        return False


def main_wrapper(fn):
    try:
        fn()
    except E2EFailure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    print("PASS", flush=True)
