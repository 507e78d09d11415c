"""Numerical robustness of `lrcompress compress` on the reference model, the
documented behaviour in each case and never a NaN:

- a calibration set smaller than the layers are wide (2 images x 10
  locations = 20 samples for layers of up to 128 filters): the covariances
  are rank-deficient, the solver's pseudo-inverse gives the minimum-norm
  solution; the run succeeds with finite weights and errors;
- dead and constant filters (a conv whose first 10 filters never fire and
  whose 11th is a constant): rank-deficient covariances with zero and
  constant rows; the run succeeds, finite, and still compresses;
- a rank that makes the decomposed form no cheaper (d' = d): that layer is
  kept in its original form, bitwise, and the table says "kept".

    test_robustness.py LRCOMPRESS MPIEXEC NPFLAG
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from e2e_common import REF_MODEL, TempDir, check, log, main_wrapper, run_ok  # noqa: E402

import numpy as np  # noqa: E402


def weights(path):
    import onnx
    from onnx import numpy_helper
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def finite_run(exe, mpi, model, out, extra, what):
    import h5py
    res = out + ".h5"
    p = run_ok(mpi + ["2", "--oversubscribe", exe, "compress", model, "--data",
                      "fashion-mnist:train", "--output", out, "--results", res,
                      "--iters", "10,10", "--eval", "fashion-mnist:test",
                      "--eval-limit", "500"] + extra, what)
    w = weights(out)
    bad = [k for k, v in w.items() if not np.all(np.isfinite(v))]
    check(not bad, f"{what}: non-finite weights in {bad}")
    with h5py.File(res, "r") as f:
        for g in f["layers"].values():
            for k in ("linear_error", "final_error"):
                check(np.isfinite(float(g.attrs[k])), f"{what}: {g.name} {k} is not finite")
    return p, w


def test(exe, mpiexec, npflag):
    import onnx
    from onnx import numpy_helper
    mpi = [mpiexec, npflag]
    with TempDir("robust_") as tmp:
        # fewer samples than filters
        p, _ = finite_run(exe, mpi, REF_MODEL, os.path.join(tmp, "tiny.onnx"),
                          ["--speedup", "4", "--images", "2"], "2 calibration images")
        check("compressed top1=" in p.stdout, f"no accuracy line:\n{p.stdout}")
        log("2 images (20 samples < d = 128): finite weights and errors")

        # dead and constant filters in features.5 (64 filters)
        m = onnx.load(REF_MODEL)
        init = {t.name: t for t in m.graph.initializer}
        w = numpy_helper.to_array(init["features.5.weight"]).copy()
        b = numpy_helper.to_array(init["features.5.bias"]).copy()
        w[:11] = 0.0
        b[:10] = -1.0   # never fires after the ReLU
        b[10] = 2.0     # a constant channel
        init["features.5.weight"].CopyFrom(numpy_helper.from_array(w, "features.5.weight"))
        init["features.5.bias"].CopyFrom(numpy_helper.from_array(b, "features.5.bias"))
        dead = os.path.join(tmp, "dead.onnx")
        onnx.save(m, dead)
        p, wd = finite_run(exe, mpi, dead, os.path.join(tmp, "dead_c.onnx"),
                           ["--speedup", "3", "--images", "300"], "dead filters")
        check(any(k.endswith("_lrA.weight") for k in wd), "the dead-filter model was not compressed")
        log("10 dead filters and a constant one: finite, compressed")

        # d' = d on the second target: kept as it was
        orig = weights(REF_MODEL)
        p, wk = finite_run(exe, mpi, REF_MODEL, os.path.join(tmp, "kept.onnx"),
                           ["--ranks", "8,64,16,32,32", "--images", "300"], "a kept layer")
        kept = "/features/features.5/Conv.weight"  # exported under the node's name
        check(kept in wk and np.array_equal(wk[kept], orig["features.5.weight"]),
              "the layer with d' = d should be kept bitwise in its original form")
        check(not any(k.startswith("/features/features.5/Conv_lr") for k in wk),
              "the kept layer should not be decomposed")
        check(any("kept" in ln and "features.5" in ln for ln in p.stdout.splitlines()),
              f"the table should say the layer is kept:\n{p.stdout}")
        log("d' = d: the layer kept bitwise; the table says so")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
