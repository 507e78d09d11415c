"""End-to-end test of `lrcompress run` on the default config at 1, 2 and 3
ranks (300 calibration images, 5 + 5 iterations, 1,000 evaluation images):
the chosen ranks are identical, the compressed weights agree within 1e-5
(relative to each tensor's largest value), the accuracy is the same, and the
output directory (nested, created) holds compressed.onnx and results.h5.

  test_run_cli.py LRCOMPRESS MPIEXEC NPFLAG
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from e2e_common import SOURCE_DIR, TempDir, check, describe, log, main_wrapper, run_ok  # noqa: E402

import numpy as np  # noqa: E402


def test(exe, mpiexec, npflag):
    import h5py
    import onnx
    from onnx import numpy_helper
    cfg = os.path.join(SOURCE_DIR, "configs", "default.yaml")
    model = os.path.join(SOURCE_DIR, "models", "fashion_vgg.onnx")
    runs = {}
    with TempDir("run_cli_") as tmp:
        for np_ in (1, 2, 3):
            out = os.path.join(tmp, f"np{np_}", "nested")
            p = run_ok([mpiexec, npflag, str(np_), "--oversubscribe", exe, "run", cfg,
                        "--set", f"model={model}", "--set", f"output={out}",
                        "--set", "images=300", "--set", "evaluation_limit=1000",
                        "--set", "nonlinear.iters_small=5", "--set", "nonlinear.iters_large=5",
                        "--quiet"], f"run on {np_} ranks", timeout=600)
            check(os.path.isfile(os.path.join(out, "compressed.onnx")) and
                  os.path.isfile(os.path.join(out, "results.h5")),
                  f"run on {np_} ranks did not write both outputs in {out}")
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("compressed top1=")]
            check(len(line) == 1, f"no accuracy line:\n{describe(p)}")
            with h5py.File(os.path.join(out, "results.h5"), "r") as f:
                check(int(f.attrs["mpi_ranks"]) == np_, "results.h5 records the wrong rank count")
                order = f["layers"].attrs["order"]
                order = order.decode() if isinstance(order, bytes) else order
                ranks = [int(f["layers"][n].attrs["rank"]) for n in order.split(",")]
            m = onnx.load(os.path.join(out, "compressed.onnx"))
            w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
            top1 = float(line[0].split("top1=")[1].split()[0])
            runs[np_] = (ranks, w, top1)
            log(f"np {np_}: ranks {ranks}, compressed top1 {top1}")
        r1, w1, a1 = runs[1]
        for np_ in (2, 3):
            r, w, a = runs[np_]
            check(r == r1, f"ranks differ: {r1} on 1 rank, {r} on {np_}")
            check(sorted(w) == sorted(w1), f"the models' tensors differ in name on {np_} ranks")
            for k in w1:
                scale = max(1e-30, float(np.max(np.abs(w1[k]))))
                diff = float(np.max(np.abs(w[k] - w1[k])))
                check(diff <= 1e-5 * scale, f"{k}: weights differ by {diff} (scale {scale}) on {np_} ranks")
            check(abs(a - a1) <= 0.001, f"top-1 {a} on {np_} ranks vs {a1} on 1")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
