"""A rank killed in the middle of a 3-rank `lrcompress run` (SIGKILL, once
the checkpoint holds a layer and before the job ends): every rank is gone
within 10 s and mpirun exits non-zero; the rerun resumes from the
checkpoint (it says so) and writes bitwise the weights of an uninterrupted
run. Also determinism: the uninterrupted run repeated gives bitwise the
same model; a 4-rank run gives the same ranks and the same weights, bit
for bit (mixed precision, the default); a
different seed samples differently (other spectra).

    test_rank_failure.py LRCOMPRESS MPIEXEC NPFLAG
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from e2e_common import SOURCE_DIR, TempDir, check, describe, log, main_wrapper, run, run_ok  # noqa: E402

import numpy as np  # noqa: E402


def weights(path):
    import onnx
    from onnx import numpy_helper
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def layers_done(ckpt):
    import h5py
    try:
        with h5py.File(ckpt, "r") as f:
            return int(f.attrs["layers_done"])
    except (OSError, KeyError):
        return 0


def descendants(pid):
    """Every process below pid (mpirun's launched ranks)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True,
                         text=True).stdout
    kids = {}
    for ln in out.splitlines():
        p, pp, comm = ln.split(None, 2)
        kids.setdefault(int(pp), []).append((int(p), comm.strip()))
    found, todo = [], [pid]
    while todo:
        for p, comm in kids.get(todo.pop(), []):
            found.append((p, comm))
            todo.append(p)
    return found


def test(exe, mpiexec, npflag):
    cfg = os.path.join(SOURCE_DIR, "configs", "default.yaml")
    model = os.path.join(SOURCE_DIR, "models", "fashion_vgg.onnx")
    with TempDir("rank_failure_") as tmp:
        def cmd(np_, out, *sets, quiet=True):
            c = [mpiexec, npflag, str(np_), "--oversubscribe", exe, "run", cfg,
                 "--set", f"model={model}", "--set", f"output={out}",
                 "--set", "images=300", "--set", "evaluation_limit=500",
                 "--set", "nonlinear.iters_small=100", "--set", "nonlinear.iters_large=100"]
            for s in sets:
                c += ["--set", s]
            return c + (["--quiet"] if quiet else [])

        # the reference: uninterrupted, twice (bitwise the same)
        ref = os.path.join(tmp, "ref")
        run_ok(cmd(3, ref), "uninterrupted 3-rank run")
        w_ref = weights(os.path.join(ref, "compressed.onnx"))
        again = os.path.join(tmp, "again")
        run_ok(cmd(3, again), "repeated 3-rank run")
        w_again = weights(os.path.join(again, "compressed.onnx"))
        check(sorted(w_again) == sorted(w_ref) and
              all(np.array_equal(w_again[k], w_ref[k]) for k in w_ref),
              "the same job twice on 3 ranks gave different weights")
        log("determinism: the same job twice on 3 ranks, bitwise the same weights")

        # kill rank 1 once a layer is checkpointed
        out = os.path.join(tmp, "killed")
        ckpt = os.path.join(out, "checkpoint.h5")
        p = subprocess.Popen(cmd(3, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL)
        killed = None
        t_end = time.time() + 300
        while time.time() < t_end and p.poll() is None:
            if layers_done(ckpt) >= 1:
                ranks = [pid for pid, comm in descendants(p.pid) if "lrcompress" in comm]
                if len(ranks) == 3:
                    killed = sorted(ranks)[1]
                    os.kill(killed, signal.SIGKILL)
                    break
            time.sleep(0.05)
        check(killed is not None, "the run ended (or found no ranks) before a rank "
              "could be killed after its first checkpointed layer")
        t_kill = time.time()
        try:
            so, se = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            raise
        took = time.time() - t_kill
        left = [pid for pid, comm in descendants(p.pid) if "lrcompress" in comm]
        check(p.returncode != 0, f"mpirun exited 0 after a rank was killed:\n{se[-2000:]}")
        check(took <= 10 and not left, f"ranks still running {took:.1f} s after the kill: {left}")
        done = layers_done(ckpt)
        check(done >= 1 and not os.path.exists(os.path.join(out, "compressed.onnx")),
              f"after the kill: checkpoint layers {done}, and no model expected")
        log(f"killed rank pid {killed}: mpirun exited {p.returncode} within {took:.1f} s, "
            f"checkpoint holds {done} layer(s)")
        q = run_ok(cmd(3, out, quiet=False), "rerun after the kill")
        check(f"resuming: {done} of" in q.stderr,
              f"the rerun should resume from the checkpoint's {done} layer(s):\n{describe(q)}")
        w = weights(os.path.join(out, "compressed.onnx"))
        check(sorted(w) == sorted(w_ref) and all(np.array_equal(w[k], w_ref[k]) for k in w_ref),
              "the resumed run's weights differ from the uninterrupted run's")
        log("resumed after the kill: bitwise the uninterrupted run's weights")

        # 4 ranks: same ranks, the same bits (mixed precision, the
        # default); another seed: other samples
        import h5py
        four = os.path.join(tmp, "four")
        run_ok(cmd(4, four), "4-rank run")
        w4 = weights(os.path.join(four, "compressed.onnx"))
        for k in w_ref:
            d = float(np.abs(w4[k] - w_ref[k]).max())
            check(np.array_equal(w4[k], w_ref[k]), f"{k}: 4 ranks differ from 3 by {d}")

        def spectra(d):
            with h5py.File(os.path.join(d, "results.h5"), "r") as f:
                order = f["layers"].attrs["order"]
                order = order.decode() if isinstance(order, bytes) else order
                return ([int(f["layers"][n].attrs["rank"]) for n in order.split(",")],
                        [f["layers"][n]["eigenvalues"][()] for n in order.split(",")])
        r3, e3 = spectra(ref)
        r4, e4 = spectra(four)
        check(r3 == r4, f"ranks differ: {r3} on 3 ranks, {r4} on 4")
        seven = os.path.join(tmp, "seed7")
        run_ok(cmd(2, seven, "seed=7"), "run with seed 7")
        _, e7 = spectra(seven)
        check(any(not np.allclose(a, b, rtol=1e-6) for a, b in zip(e3, e7)),
              "seed 7 gave the same spectra as seed 1: the sample ignores the seed")
        log("4 ranks: same ranks, the same weights bit for bit as 3 ranks; seed 7 samples differently")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
