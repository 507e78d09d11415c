"""Bad input never crashes, hangs or leaves output behind. Over the corpus of
tests/data/bad/make_bad.py (IDX, HDF5, YAML, ONNX files wrong in one way
each): a non-zero exit (no signal), exactly one error line, naming the file
and the problem. Then the system cases: a missing file, a directory given
as a file, an output path that cannot be created, and a full disk (a 64 KiB
file-size limit) during a run whose output directory holds an earlier
run's results: non-zero exit, one message, no partial or temporary file,
the earlier results byte for byte untouched.

    test_bad_inputs.py LRCOMPRESS MPIEXEC NPFLAG
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from e2e_common import REF_MODEL, SOURCE_DIR, TempDir, check, describe, log, main_wrapper, run, run_ok  # noqa: E402


def one_error(p, what, names):
    """Checks p failed cleanly with one error line holding every text in names."""
    check(p.returncode > 0, f"{what}: expected a non-zero exit, got {p.returncode}:\n{describe(p)}")
    errs = [ln for ln in p.stderr.splitlines() if " error" in ln]
    check(len(errs) == 1, f"{what}: expected one error line, got {len(errs)}:\n{describe(p)}")
    for n in names:
        check(n in errs[0], f"{what}: the error does not name '{n}': {errs[0]}")
    return errs[0]


def digest(d):
    return {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
            for f in sorted(os.listdir(d))}


def test(exe, mpiexec, npflag):
    with TempDir("bad_inputs_") as tmp:
        corpus = os.path.join(tmp, "bad")
        run_ok(["/usr/bin/python3", os.path.join(HERE, "bad", "make_bad.py"), SOURCE_DIR, corpus],
               "make_bad.py")
        with open(os.path.join(corpus, "manifest.json")) as f:
            entries = json.load(f)
        for e in entries:
            args = {"data": ["data", e["arg"]], "run": ["run", e["arg"]],
                    "inspect": ["inspect", e["arg"], "--input", "1,28,28"]}[e["kind"]]
            p = run([exe] + args, timeout=60)
            one_error(p, e["arg"], [os.path.basename(e["files"][0]), e["want"]])
        check(not os.path.exists(os.path.join(corpus, "never")), "a bad config left output behind")
        log(f"{len(entries)} bad files: one error line each, naming the file and the problem")

        # a missing file and a directory in place of a file
        missing = os.path.join(tmp, "missing.onnx")
        one_error(run([exe, "eval", missing, "--data", "fashion-mnist:test"]), "missing model",
                  ["missing.onnx"])
        one_error(run([exe, "eval", tmp, "--data", "fashion-mnist:test"]), "directory as model",
                  [os.path.basename(tmp)])
        one_error(run([exe, "data", f"h5:{tmp}"]), "directory as data", [os.path.basename(tmp)])
        # an output that cannot be created (/proc takes no new files, even from root)
        one_error(run([exe, "compress", REF_MODEL, "--data", "fashion-mnist:train", "--speedup",
                       "2", "--images", "20", "--output", "/proc/lrc_test/out.onnx"]),
                  "unwritable output", ["/proc/lrc_test/out.onnx"])
        log("missing file, directory as file, unwritable output: refused, naming the path")

        # a full disk: a 16 MiB tmpfs holds an earlier run's results, then is
        # filled but for 64 KiB; the next run in it fails and leaves them as
        # they were
        disk = os.path.join(tmp, "disk")
        os.makedirs(disk)
        m = run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk])
        if m.returncode != 0:
            log(f"full disk: NOT RUN, no tmpfs can be mounted here ({m.stderr.strip()})")
            return
        try:
            full_disk(exe, disk)
        finally:
            run(["umount", disk])


def full_disk(exe, disk):
    out = os.path.join(disk, "job")
    cfg = os.path.join(SOURCE_DIR, "configs", "default.yaml")
    base = [exe, "run", cfg, "--set", f"model={REF_MODEL}", "--set", f"output={out}",
            "--set", "images=100", "--set", "evaluation_limit=200",
            "--set", "nonlinear.iters_small=2", "--set", "nonlinear.iters_large=2",
            "--set", "checkpoint=false", "--quiet"]
    run_ok(base, "the earlier run")
    before = digest(out)
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(os.path.join(disk, "filler"), "wb") as f:
        f.write(b"\0" * max(0, free - 64 * 1024))
    p = run(base + ["--set", "seed=5"], timeout=300)
    err = one_error(p, "full disk", [])
    after = digest(out)
    check(after == before, f"the failed run changed the earlier results: {before} -> {after}")
    log(f"full disk: exit {p.returncode}, '{err.strip()[:160]}', earlier results untouched")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
