#!/usr/bin/python3
"""model_export_ort: a model written by lrc_onnx_save, run by onnxruntime.

    /usr/bin/python3 tests/model/check_export_ort.py TEST_ONNX_EXPORT

TEST_ONNX_EXPORT --write-only DIR writes the all-ops net of the export
round-trip test (conv with asymmetric pads and stride 2, 1x1 conv, relu,
maxpool with ceil_mode, avgpool with count_include_pad, global average pool,
flatten, dense, softmax) as DIR/export.onnx, a random float32 input, and
lrcompress's float32 output for it. onnxruntime-node runs the file through
tests/tools/ort/ort_run.mjs (graph optimisations off, one thread). When the
Debian python3-onnx is present, onnx.checker (full check, with shape
inference) must also accept the file.

Asserts: ORT's output has the shape lrcompress reports and
max |ort - lrc| / max(1, |lrc|) <= 1e-5.
Needs: LRC_SOURCE_DIR and LRC_TEST_TMP (set by ctest), node, and
tests/tools/ort/node_modules (tests/tools/ort/install.sh); fails, never
skips, when they are missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

TOL = 1e-5


def fail(msg):
    print(f"model_export_ort: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"model_export_ort: {msg}", flush=True)


def run(cmd, what, timeout=300):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{what} did not finish in {timeout} s: {' '.join(cmd)}")
    if p.returncode != 0:
        fail(f"{what} exited with {p.returncode}: {' '.join(cmd)}\n"
             f"--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
    return p


def read_f32(path, count, what):
    a = np.fromfile(path, dtype="<f4")
    if a.size != count:
        fail(f"{what} {path} holds {a.size} floats, expected {count}")
    return a.astype(np.float64)


def onnx_check(model):
    """The ONNX reference checker, when Debian's python3-onnx is present."""
    try:
        import onnx
    except ImportError:
        log("python3-onnx not importable: onnx.checker skipped")
        return
    m = onnx.load(model)
    onnx.checker.check_model(m, full_check=True)
    log(f"onnx.checker (onnx {onnx.__version__}) accepts the model: ir_version "
        f"{m.ir_version}, opset {[(o.domain, o.version) for o in m.opset_import]}, "
        f"{len(m.graph.node)} nodes")


def main():
    if len(sys.argv) != 2:
        fail("usage: check_export_ort.py TEST_ONNX_EXPORT")
    prog = sys.argv[1]
    src = os.environ.get("LRC_SOURCE_DIR")
    tmp = os.environ.get("LRC_TEST_TMP")
    if not src or not tmp:
        fail("LRC_SOURCE_DIR and LRC_TEST_TMP must be set (run through ctest)")
    ort_dir = os.path.join(src, "tests", "tools", "ort")
    ort_run = os.path.join(ort_dir, "ort_run.mjs")
    node = shutil.which("node")
    if node is None:
        fail("node is not on PATH: the ORT reference needs Node.js "
             "(apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(ort_dir, "node_modules", "onnxruntime-node")):
        fail(f"onnxruntime-node is not installed in {ort_dir}/node_modules: "
             f"run tests/tools/ort/install.sh")

    os.makedirs(tmp, exist_ok=True)
    d = tempfile.mkdtemp(prefix="model_export_ort.", dir=tmp)
    try:
        run([prog, "--write-only", d], "test_onnx_export --write-only")
        with open(os.path.join(d, "export_shape.txt")) as f:
            n, c, h, w, k = (int(v) for v in f.read().split())
        model = os.path.join(d, "export.onnx")
        onnx_check(model)
        out = os.path.join(d, "ort_out.bin")
        p = run([node, ort_run, model, os.path.join(d, "export_in.bin"),
                 str(n), str(c), str(h), str(w), out], "ort_run.mjs")
        log(p.stdout.strip())
        want_shape = f"shape [{n},{k}]"
        if want_shape not in p.stdout:
            fail(f"ORT's output shape is not [{n},{k}]: {p.stdout.strip()}")
        lrc = read_f32(os.path.join(d, "export_out.bin"), n * k, "lrcompress output")
        ort = read_f32(out, n * k, "ORT output")
        if not np.all(np.isfinite(ort)):
            fail("ORT's output holds non-finite values")
        err = np.abs(ort - lrc) / np.maximum(1.0, np.abs(lrc))
        i = int(np.argmax(err))
        log(f"{n} images x {k} outputs: max relative error {err[i]:.3g} at {i} "
            f"(lrc {lrc[i]:.9g}, ORT {ort[i]:.9g}), tolerance {TOL:g}")
        if err[i] > TOL:
            fail(f"ORT and lrcompress disagree: error {err[i]:.3g} > {TOL:g}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    log("ok")


if __name__ == "__main__":
    main()
