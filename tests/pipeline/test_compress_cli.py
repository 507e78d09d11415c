"""End-to-end test of `lrcompress compress` on the real reference model.

  test_compress_cli.py LRCOMPRESS MPIEXEC NPFLAG

1. Compresses models/fashion_vgg.onnx at 4x (nonlinear-asym, 1,000
   calibration images of the train split, 2 ranks): every approximated layer
   keeps a sensible rank (between d/8 and d/2, never 1), the theoretical
   speedup is within [4, 4.4], and results.h5 holds what the table printed
   (eigenvalues descending, ranks, a non-increasing relaxed objective under
   each lambda, the final error at most the linear one).
2. The compressed ONNX runs in onnxruntime and gives lrcompress's own logits
   within 1e-4 on 1,000 test images. At 4x on the same samples the methods
   keep the papers' order (svd <= linear <= linear-asym <= nonlinear-asym
   <= 3d on top-1), nonlinear-asym loses at most 8 pp and 3d at most 2.5 pp
   (measured: 6 and 1.1 pp, docs/RESULTS.md).
3. Bad input: each case exits non-zero with one message naming the problem,
   and leaves no output file behind (a previous output is untouched).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from e2e_common import (FASHION_DIR, REF_MODEL, TempDir, check, compare, describe,  # noqa: E402
                        log, main_wrapper, model_norm, ort_run, parse_result, read_saved,
                        run, run_ok)

import numpy as np  # noqa: E402


def write_one_conv_model(path):
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, built with onnx."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rs = np.random.RandomState(1)
    inits = [numpy_helper.from_array(rs.randn(4, 1, 3, 3).astype(np.float32), "w"),
             numpy_helper.from_array(rs.randn(10, 4).astype(np.float32), "fw")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw"], ["logits"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "one_conv",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def eval_lines(p):
    """(original top-1, compressed top-1) from compress --eval's output."""
    lines = {ln.split()[0]: ln for ln in p.stdout.splitlines() if ln.startswith(("original", "compressed"))}
    check("original" in lines and "compressed" in lines, f"--eval printed no result:\n{describe(p)}")
    return (float(lines["original"].split("top1=")[1].split()[0]),
            float(lines["compressed"].split("top1=")[1].split()[0]))


def test(exe, mpiexec, npflag):
    check(os.path.isfile(REF_MODEL), f"{REF_MODEL} is missing: the reference model comes "
          "from models/train_fashion_vgg.py")
    mpi = [mpiexec, npflag, "2", "--oversubscribe"]
    with TempDir("compress_cli_") as tmp:
        out = os.path.join(tmp, "c4.onnx")
        res = os.path.join(tmp, "c4.h5")
        p = run_ok(mpi + [exe, "compress", REF_MODEL, "--data", "fashion-mnist:train",
                          "--speedup", "4", "--images", "1000", "--output", out,
                          "--results", res, "--eval", "fashion-mnist:test",
                          "--eval-limit", "2000"], "compress at 4x", timeout=900)
        log(p.stdout)
        check(os.path.isfile(out) and not os.path.exists(out + ".tmp"),
              f"compress did not leave exactly {out}")

        import h5py
        with h5py.File(res, "r") as f:
            sp = float(f.attrs["speedup_theoretical"])
            check(4.0 <= sp <= 4.4, f"theoretical speedup {sp} outside [4, 4.4]")
            check(f.attrs["method"] == b"nonlinear-asym" or f.attrs["method"] == "nonlinear-asym",
                  f"method attribute {f.attrs['method']!r}")
            order = f["layers"].attrs["order"]
            order = order.decode() if isinstance(order, bytes) else order
            names = order.split(",")
            check(len(names) == 5, f"expected 5 target layers (every conv but the first), got {names}")
            for n in names:
                g = f["layers"][n]
                d, r = int(g.attrs["d"]), int(g.attrs["rank"])
                check(max(2, d // 8) <= r <= d // 2,
                      f"layer {n}: rank {r} of {d} is not sensible at 4x")
                name = g.attrs["name"]
                name = name.decode() if isinstance(name, bytes) else name
                row = [ln for ln in p.stdout.splitlines() if ln.startswith(name + " ")]
                check(len(row) == 1 and row[0].split()[1:3] == [str(d), str(r)],
                      f"layer {name}: the printed table disagrees with results.h5 (d {d}, rank {r})")
                eig = g["eigenvalues"][()]
                check(eig.shape == (d,) and np.all(np.diff(eig) <= 1e-12 * eig[0]) and eig[-1] >= 0,
                      f"layer {n}: eigenvalues not descending and non-negative")
                lam = g["lambda"][()]
                rel, relm = g["objective_relaxed"][()], g["objective_relaxed_after_m"][()]
                check(len(lam) == 50, f"layer {n}: {len(lam)} iterations recorded, expected 50")
                for i in range(len(lam)):
                    check(relm[i] <= rel[i] * (1 + 1e-9) + 1e-12,
                          f"layer {n}: the (M,b)-step raised the relaxed objective at {i}")
                    if i + 1 < len(lam) and lam[i + 1] == lam[i]:
                        check(rel[i + 1] <= relm[i] * (1 + 1e-9) + 1e-12,
                              f"layer {n}: the z-step raised the relaxed objective at {i + 1}")
                check(g.attrs["final_error"] <= g.attrs["linear_error"],
                      f"layer {n}: final error above the linear solution's")

        # accuracy at 4x, every method on the same samples and ranks: the
        # papers' ordering, and bounds 2-3 pp looser than measured (docs/RESULTS.md:
        # nonlinear-asym -5.98 pp, 3d -1.07 pp with 3,000 images)
        t_o, top1 = eval_lines(p)
        acc = {"nonlinear-asym": top1}
        for m in ("svd", "linear", "linear-asym", "3d"):
            q = run_ok(mpi + [exe, "compress", REF_MODEL, "--data", "fashion-mnist:train",
                              "--speedup", "4", "--method", m, "--images", "1000",
                              "--output", os.path.join(tmp, m + ".onnx"), "--quiet",
                              "--eval", "fashion-mnist:test", "--eval-limit", "2000"],
                       f"compress --method {m} at 4x", timeout=900)
            acc[m] = eval_lines(q)[1]
        log("top-1 at 4x: " + ", ".join(f"{m} {a:.4f}" for m, a in acc.items()) + f" (original {t_o:.4f})")
        order = ["svd", "linear", "linear-asym", "nonlinear-asym", "3d"]
        for lo, hi in zip(order, order[1:]):
            check(acc[lo] <= acc[hi], f"at 4x {lo} ({acc[lo]}) beats {hi} ({acc[hi]})")
        check(t_o - acc["nonlinear-asym"] <= 0.08, f"nonlinear-asym top-1 fell from {t_o} to "
              f"{acc['nonlinear-asym']} at 4x")
        check(t_o - acc["3d"] <= 0.025, f"3d top-1 fell from {t_o} to {acc['3d']} at 4x")

        # the compressed ONNX in onnxruntime vs lrcompress itself
        ours = os.path.join(tmp, "ours.h5")
        pe = run_ok([exe, "eval", out, "--data", "fashion-mnist:test", "--limit", "1000",
                     "--save-logits", ours], "eval of the compressed model")
        parse_result(pe, "eval of the compressed model")
        read_saved(ours, "eval of the compressed model")
        mean, std = model_norm(out)
        ref = os.path.join(tmp, "ort.bin")
        ort_run([out, "--idx", os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"), "1000",
                 "--mean", mean, "--std", std, ref], "ORT on the compressed model")
        log(compare(ours, ref, ["--shape-k", "10", "--atol", "1e-4"], "compressed model vs ORT"))

        # bad input: non-zero exit, one message, nothing left behind
        keep = os.path.join(tmp, "keep.onnx")
        with open(keep, "wb") as f:
            f.write(b"previous result")
        base = [exe, "compress", "--images", "20", "--quiet"]
        cases = [
            (["--speedup", "1", "--output", keep], 2, "must be greater than 1"),
            (["--speedup", "0.5", "--output", keep], 2, "must be greater than 1"),
            (["--speedup", "4", "--layers", "nope", "--output", keep], 2, "no layer named 'nope'"),
            (["--speedup", "4", "--layers", "/features/features.1/Relu", "--output", keep], 2,
             "not a Conv"),
            (["--speedup", "4", "--images", "70000", "--output", keep], 2, "exceeds the 60000 images"),
            (["--speedup", "4", "--images", "0", "--output", keep], 2, "--images must be at least 1"),
            (["--speedup", "1000", "--output", keep], 2, "cannot be reached"),
            (["--speedup", "4", "--method", "magic", "--output", keep], 2, "method 'magic'"),
            (["--speedup", "4", "--ranks", "3,4", "--output", keep], 2, "--ranks gives 2 ranks"),
            (["--speedup", "4", "--output", os.path.join(tmp, "no", "such", "dir.onnx")], 1,
             "cannot write here"),
        ]
        # a model whose only conv is the first (kept), and data holding a NaN
        one_conv = os.path.join(tmp, "one_conv.onnx")
        nan_data = os.path.join(tmp, "nan.h5")
        write_one_conv_model(one_conv)
        import h5py
        with h5py.File(nan_data, "w") as f:
            img = np.random.RandomState(0).randint(0, 255, (20, 1, 28, 28)).astype(np.float32)
            img[7, 0, 3, 4] = np.nan
            f["images"] = img
            f["labels"] = np.zeros(20, np.int32)
        cases += [
            ([one_conv, "--speedup", "2", "--output", keep], 2, "no conv layer to approximate"),
            (["--data", "h5:" + nan_data, "--speedup", "2", "--output", keep], 1, "non-finite pixel"),
        ]
        for extra, code, msg in cases:
            args = list(extra)
            if not args[0].endswith(".onnx"):
                args = [REF_MODEL] + args
            if "--data" not in args:
                args += ["--data", "fashion-mnist:train"]
            q = run(base + args, timeout=300)
            check(q.returncode == code, f"expected exit {code} for {extra}:\n{describe(q)}")
            errs = [ln for ln in q.stderr.splitlines() if "error:" in ln]
            check(len(errs) >= 1 and msg in errs[0], f"expected '{msg}' for {extra}:\n{describe(q)}")
            with open(keep, "rb") as f:
                check(f.read() == b"previous result", f"{extra} touched the previous output")
            check(not any(n.endswith(".tmp") for n in os.listdir(tmp)),
                  f"{extra} left a temporary file in {tmp}: {os.listdir(tmp)}")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
