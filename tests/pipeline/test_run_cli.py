"""End-to-end test of `lrcompress run` on the default config at 1, 2 and 3
ranks (300 calibration images, 5 + 5 iterations, 1,000 evaluation images):
the chosen ranks are identical, the compressed weights are the same bits
(mixed precision, the default), the accuracy is the same, the
output directory (nested, created) holds compressed.onnx, compressed.h5
(bitwise the ONNX weights), results.h5 and stats.h5, and stats.h5 (written with parallel HDF5) holds the documented
datasets, eigenvalues equal to numpy's of the stored covariance, and the same
statistics on every rank count: the original network's within 1e-9, those of
the approximated activations within 1e-6 (stats.h5's sums are in double,
so their last bits depend on the rank count). Then: a run stopped after layer
2 and resumed gives bitwise the weights of an uninterrupted run; another
job's checkpoint is refused; a bad image in one rank's shard ends all ranks
within a minute with a message naming that rank and the file.

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
                ev = f["evaluation"].attrs
                check(int(ev["images"]) == 1000 and abs(float(ev["compressed_top1"]) -
                      float(line[0].split("top1=")[1].split()[0])) < 5e-5 and
                      float(ev["measured_speedup"]) > 0 and float(ev["theoretical_speedup"]) >= 4,
                      f"results.h5 /evaluation disagrees with the printed result: {dict(ev)}")
                order = f["layers"].attrs["order"]
                order = order.decode() if isinstance(order, bytes) else order
                ranks = [int(f["layers"][n].attrs["rank"]) for n in order.split(",")]
            with h5py.File(os.path.join(out, "stats.h5"), "r") as f:
                stats = {}
                for g in f["layers"].values():
                    for k in ("eigenvalues", "mean_y", "cov_y", "mean_yhat", "cov_yhat", "cross_cov"):
                        check(k in g, f"stats.h5 {g.name} lacks '{k}'")
                    cov = g["cov_y"][()]
                    check(np.allclose(cov, cov.T, rtol=0, atol=1e-12 * np.abs(cov).max()),
                          f"{g.name}: cov_y is not symmetric")
                    ev = np.sort(np.clip(np.linalg.eigvalsh(cov), 0, None))[::-1]
                    check(np.allclose(ev, g["eigenvalues"][()], rtol=1e-9, atol=1e-9 * ev[0]),
                          f"{g.name}: stored eigenvalues are not those of cov_y")
                    check(int(g.attrs["samples"]) == 3000, f"{g.name}: samples attribute")
                    stats[g.name] = {k: g[k][()] for k in ("cov_y", "cov_yhat", "cross_cov")}
            m = onnx.load(os.path.join(out, "compressed.onnx"))
            w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
            # the HDF5 model holds the same layers and bitwise the same weights
            with h5py.File(os.path.join(out, "compressed.h5"), "r") as f:
                check(f.attrs["format"] in (b"lrcompress-model", "lrcompress-model") and
                      int(f.attrs["layers"]) == len(f["layers"]) == len(m.graph.node),
                      f"compressed.h5 on {np_} ranks: layers {len(f['layers'])} vs "
                      f"{len(m.graph.node)} ONNX nodes")
                hw = {}
                for g in f["layers"].values():
                    name = g.attrs["name"]
                    name = name.decode() if isinstance(name, bytes) else name
                    for k in ("weight", "bias"):
                        if k in g:
                            hw[f"{name}.{k}"] = g[k][()]
            check(sorted(hw) == sorted(w) and all(np.array_equal(hw[k], w[k]) for k in w),
                  f"compressed.h5 weights differ from compressed.onnx's on {np_} ranks")
            top1 = float(line[0].split("top1=")[1].split()[0])
            runs[np_] = (ranks, w, top1, stats)
            log(f"np {np_}: ranks {ranks}, compressed top1 {top1}")
        r1, w1, a1, s1 = runs[1]
        for np_ in (2, 3):
            r, w, a, s = runs[np_]
            for g in s1:
                for k in s1[g]:
                    diff = float(np.max(np.abs(s[g][k] - s1[g][k])))
                    tol = 1e-9 if k == "cov_y" else 1e-6
                    check(diff <= tol * float(np.max(np.abs(s1[g][k]))),
                          f"stats.h5 {g}/{k} differs by {diff} on {np_} ranks")
            check(r == r1, f"ranks differ: {r1} on 1 rank, {r} on {np_}")
            check(sorted(w) == sorted(w1), f"the models' tensors differ in name on {np_} ranks")
            for k in w1:
                # mixed precision (the default config's): the same bits
                diff = float(np.max(np.abs(w[k] - w1[k])))
                check(np.array_equal(w[k], w1[k]),
                      f"{k}: weights differ by {diff} on {np_} ranks from 1 rank's")
            check(abs(a - a1) <= 0.001, f"top-1 {a} on {np_} ranks vs {a1} on 1")

        # checkpoint and resume: stop after layer 2, resume, compare with the
        # uninterrupted 2-rank run above (np2/nested): the same bits
        out = os.path.join(tmp, "resume")
        base = [mpiexec, npflag, "2", "--oversubscribe", exe, "run", cfg,
                "--set", f"model={model}", "--set", f"output={out}",
                "--set", "images=300", "--set", "evaluation_limit=1000",
                "--set", "nonlinear.iters_small=5", "--set", "nonlinear.iters_large=5",
                "--quiet"]
        from e2e_common import run
        q = run(base + ["--set", "stop_after_layer=2"], timeout=600)
        check(q.returncode == 3, f"a stop after layer 2 should exit 3:\n{describe(q)}")
        check(os.path.isfile(os.path.join(out, "checkpoint.h5")) and
              not os.path.exists(os.path.join(out, "compressed.onnx")),
              "the stopped run should leave a checkpoint and no model")
        with h5py.File(os.path.join(out, "checkpoint.h5"), "r") as f:
            check(int(f.attrs["layers_done"]) == 2, "the checkpoint should hold 2 layers")
        q = run_ok(base, "resumed run", timeout=600)
        m = onnx.load(os.path.join(out, "compressed.onnx"))
        wr = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        m = onnx.load(os.path.join(tmp, "np2", "nested", "compressed.onnx"))
        w2 = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        check(sorted(wr) == sorted(w2) and all(np.array_equal(wr[k], w2[k]) for k in w2),
              "the resumed run's weights differ from the uninterrupted run's")
        # a checkpoint of another job is refused, and left alone
        q = run(base + ["--set", "seed=7"], timeout=600)
        check(q.returncode != 0 and "belongs to another job" in q.stderr,
              f"a checkpoint of another job should be refused:\n{describe(q)}")
        log("resume: identical weights; another job's checkpoint refused")

        # one rank's shard is bad: the last image (rank 2's of 3) holds a NaN;
        # every rank ends, quickly, with a message naming rank 2 and the file
        bad = os.path.join(tmp, "bad_shard.h5")
        with h5py.File(bad, "w") as f:
            img = np.random.RandomState(3).randint(0, 255, (30, 1, 28, 28)).astype(np.float32)
            img[29, 0, 10, 10] = np.nan
            f["images"] = img
            f["labels"] = np.zeros(30, np.int32)
        q = run([mpiexec, npflag, "3", "--oversubscribe", exe, "run", cfg,
                 "--set", f"model={model}", "--set", f"output={os.path.join(tmp, 'fail')}",
                 "--set", f"calibration=h5:{bad}", "--set", "images=30", "--quiet"], timeout=120)
        check(q.returncode != 0, f"a bad shard must fail the run:\n{describe(q)}")
        check(q.seconds < 60, f"the failing run took {q.seconds:.0f} s to end")
        errs = [ln for ln in q.stderr.splitlines() if "error:" in ln]
        check(any("[rank 2]" in ln and bad in ln for ln in errs),
              f"no message naming rank 2 and {bad}:\n{describe(q)}")
        log(f"bad shard on rank 2: all ranks ended in {q.seconds:.1f} s: {errs[0][:160]}")

        # a memory limit the run cannot meet is refused before any work
        q = run(base + ["--set", "memory_limit_mb=5"], timeout=120)
        check(q.returncode == 2 and "over memory_limit_mb 5" in q.stderr,
              f"memory_limit_mb=5 should be refused:\n{describe(q)}")

        # a limit below the in-memory plan: the carried activations spill to
        # per-rank scratch files in micro-batches, the weights are bitwise
        # those of the in-memory 2-rank run, the scratch files are gone
        with h5py.File(os.path.join(tmp, "np2", "nested", "results.h5"), "r") as f:
            check(f.attrs["activations"] in (b"memory", "memory"),
                  "the unlimited run should keep its activations in memory")
            planned = float(f.attrs["memory_planned_mb"])
        out = os.path.join(tmp, "spill")
        scratch = os.path.join(tmp, "scratch")
        limit = int(planned) - 2
        spill = [mpiexec, npflag, "2", "--oversubscribe", exe, "run", cfg,
                 "--set", f"model={model}", "--set", f"output={out}",
                 "--set", "images=300", "--set", "evaluation_limit=1000",
                 "--set", "nonlinear.iters_small=5", "--set", "nonlinear.iters_large=5",
                 "--set", f"memory_limit_mb={limit}", "--set", f"scratch_dir={scratch}"]
        q = run_ok(spill, "run with spilled activations", timeout=600)
        check("spilling them to per-rank scratch HDF5 files" in q.stderr + q.stdout,
              f"the spilling run should say that it spills:\n{describe(q)}")
        m = onnx.load(os.path.join(out, "compressed.onnx"))
        ws = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        check(sorted(ws) == sorted(w2) and all(np.array_equal(ws[k], w2[k]) for k in w2),
              "the spilled run's weights differ from the in-memory run's")
        with h5py.File(os.path.join(out, "results.h5"), "r") as f:
            a = f.attrs
            check(a["activations"] in (b"spilled", "spilled") and
                  1 <= int(a["micro_batch"]) < 150 and float(a["scratch_io_mb"]) > 0 and
                  float(a["memory_planned_mb"]) <= limit,
                  f"results.h5 should record the spill: {dict(a)}")
        left = os.listdir(scratch)
        check(left == [], f"scratch files left behind: {left}")
        log(f"spilled at memory_limit_mb={limit}: bitwise the in-memory weights")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
