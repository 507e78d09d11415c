#!/usr/bin/python3
"""The batch scripts of slurm/ on a real one-node Slurm cluster.

    test_slurm.py /path/to/lrcompress

Installs Debian's slurmctld, slurmd, slurm-client and munge when they are
missing, starts a private munged and the two Slurm daemons from
slurm/test/slurm.conf.in (all state, sockets and logs in a temporary
directory, free TCP ports, so it neither needs nor touches a system
Slurm), then:

1. submits slurm/lrcompress.sbatch on configs/default.yaml (kept small with
   --set) with `sbatch --wait`, and checks the exit code, the state that
   `scontrol show job` reports (sbatch --wait returns 0 for a cancelled
   job), the outputs, that the two tasks formed one MPI job (pmix), that
   the activations spilled to the node-local scratch (TMPDIR) and that the
   job's %x-%j.out log shows the result;
2. sends the USR1 of an approaching time limit to a running job, which
   requeues itself, and checks that the rerun resumes from the checkpoint;
3. submits a two-task array of slurm/sweep.sbatch, chains slurm/gather.py
   after it with --dependency=afterany, and checks the table's two rows;
4. submits a job with a config that does not exist and checks that it
   fails with exit code 2 and a clear message in its log.

The cluster is always shut down (scontrol shutdown, then the daemons and
munged it started, by pid), whatever happened. A failed job is reported
with its `scontrol show job` record and the end of its log.
"""
import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from e2e_common import (SOURCE_DIR, TempDir, check, describe, log,  # noqa: E402
                        main_wrapper, run)

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
SLURM_DIR = os.path.join(SOURCE_DIR, "slurm")
SBATCH_ONE = os.path.join(SLURM_DIR, "lrcompress.sbatch")
SBATCH_SWEEP = os.path.join(SLURM_DIR, "sweep.sbatch")
GATHER = os.path.join(SLURM_DIR, "gather.py")
CONF_IN = os.path.join(SLURM_DIR, "test", "slurm.conf.in")
CONFIG = os.path.join(SOURCE_DIR, "configs", "default.yaml")
MODEL = os.path.join(SOURCE_DIR, "models", "fashion_vgg.onnx")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
            "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
# The small job of every run: about 3 s on 2 ranks.
SMALL = ["--set", f"model={MODEL}", "--set", "images=300",
         "--set", "evaluation_limit=1000",
         "--set", "nonlinear.iters_small=5", "--set", "nonlinear.iters_large=5"]


def ensure_packages():
    """apt-get installs the Slurm and munge packages that are missing."""
    missing = []
    for pkg in PACKAGES:
        p = run(["dpkg-query", "-W", "-f=${Status}", pkg], timeout=60)
        if p.returncode != 0 or "install ok installed" not in p.stdout:
            missing.append(pkg)
    if not missing:
        return
    log(f"installing with apt-get: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    p = run(cmd, timeout=600, env=env)
    if p.returncode != 0:
        log("apt-get install failed; running apt-get update and trying again")
        run(["apt-get", "update"], timeout=600, env=env)
        p = run(cmd, timeout=600, env=env)
    check(p.returncode == 0,
          f"cannot install {' '.join(missing)} (needed for the Slurm test):\n{describe(p)}")
    log(f"installed: {' '.join(missing)}")


def sbin(name):
    """A daemon's path: on PATH, else Debian's /usr/sbin."""
    path = shutil.which(name) or os.path.join("/usr/sbin", name)
    check(os.access(path, os.X_OK), f"{name} not found (on PATH or in /usr/sbin)")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_hardware():
    """(CPUs, RealMemory MB) as slurmd sees them (`slurmd -C`)."""
    cpus, mem = os.cpu_count() or 1, 1024
    p = run([sbin("slurmd"), "-C"], timeout=60)
    if p.returncode == 0:
        m = re.search(r"\bCPUs=(\d+)", p.stdout)
        cpus = int(m.group(1)) if m else cpus
        m = re.search(r"\bRealMemory=(\d+)", p.stdout)
        mem = int(m.group(1)) if m else mem
    return cpus, max(256, mem * 9 // 10)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_gone(pids, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.2)
    return not any(pid_alive(p) for p in pids)


def parse_record(line):
    """scontrol's one-line record as a dict (values stop at spaces)."""
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def tail(path, n=60):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(lines[-n:])


class Cluster:
    """A one-node Slurm cluster whose files all live in one directory."""

    def __init__(self, work):
        # Unix sockets (munge, slurmd's step sockets, pmix) must have short
        # paths: the cluster lives directly under /tmp, not in the build tree.
        self.dir = tempfile.mkdtemp(prefix="lrc-slurm-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.work = work
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.munge_dir = os.path.join(self.dir, "munge")
        self.socket = os.path.join(self.munge_dir, "munge.socket")
        self.pids = {}
        self.jobs = []
        self.started = False
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))}
        self.env["SLURM_CONF"] = self.conf
        self.env["PATH"] = self.env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        self.cpus = 1

    # -- start and stop ------------------------------------------------------
    def start(self):
        for sub in ("ctld", "spool", "run", "log", "node-tmp"):
            os.makedirs(os.path.join(self.dir, sub))
        os.makedirs(self.munge_dir, mode=0o755)
        key = os.path.join(self.munge_dir, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(128))
        os.chmod(key, 0o600)
        p = run([sbin("munged"), "--force", f"--socket={self.socket}", f"--key-file={key}",
                 f"--pid-file={self.munge_dir}/munged.pid",
                 f"--log-file={self.munge_dir}/munged.log",
                 f"--seed-file={self.munge_dir}/munged.seed"], timeout=60)
        check(p.returncode == 0, f"munged did not start:\n{describe(p)}\n"
              f"{tail(os.path.join(self.munge_dir, 'munged.log'))}")
        self.pids["munged"] = self._wait_pid(os.path.join(self.munge_dir, "munged.pid"), "munged")

        self.cpus, mem = node_hardware()
        host = socket.gethostname().split(".")[0]
        with open(CONF_IN) as f:
            text = f.read()
        values = {"HOSTNAME": host, "CPUS": str(self.cpus), "REAL_MEMORY_MB": str(mem),
                  "SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port()),
                  "STATE_DIR": self.dir, "MUNGE_SOCKET": self.socket}
        for k, v in values.items():
            text = text.replace(f"@{k}@", v)
        left = re.findall(r"@[A-Z_]+@", text)
        check(not left, f"{CONF_IN}: placeholders the test does not fill: {left}")
        with open(self.conf, "w") as f:
            f.write(text)

        self.started = True
        for daemon in ("slurmctld", "slurmd"):
            p = run([sbin(daemon)], timeout=60, env=self.env)
            check(p.returncode == 0, f"{daemon} did not start:\n{describe(p)}\n"
                  f"{tail(os.path.join(self.dir, 'log', daemon + '.log'))}")
            self.pids[daemon] = self._wait_pid(
                os.path.join(self.dir, "run", daemon + ".pid"), daemon)
        deadline = time.time() + 30
        state = ""
        while time.time() < deadline:
            p = self.cmd(["sinfo", "-h", "-o", "%t"], ok=False)
            state = p.stdout.strip()
            if p.returncode == 0 and state in ("idle", "mix", "alloc"):
                break
            time.sleep(0.3)
        check(state == "idle", f"the node is '{state}', not idle, 30 s after start:\n"
              f"{self.daemon_logs()}")
        log(f"cluster up in {self.dir}: node {host}, {self.cpus} CPUs, {mem} MB")

    def _wait_pid(self, path, what):
        deadline = time.time() + 15
        while time.time() < deadline:
            pid = read_pid(path)
            if pid and pid_alive(pid):
                return pid
            time.sleep(0.1)
        check(False, f"{what} wrote no pid file {path} within 15 s:\n{self.daemon_logs()}")

    def daemon_logs(self):
        parts = []
        for name in ("log/slurmctld.log", "log/slurmd.log", "munge/munged.log"):
            parts.append(f"--- {name} (end) ---\n{tail(os.path.join(self.dir, name), 15)}")
        return "\n".join(parts)

    def stop(self):
        """Cancels our jobs, shuts Slurm down and ends every process the
        cluster started (by pid). Never raises."""
        try:
            if self.started:
                if self.jobs:
                    self.cmd(["scancel", *self.jobs], ok=False)
                    deadline = time.time() + 20
                    while time.time() < deadline:
                        p = self.cmd(["squeue", "-h", "-o", "%i"], ok=False)
                        if p.returncode != 0 or not p.stdout.strip():
                            break
                        time.sleep(0.5)
                self.cmd(["scontrol", "shutdown"], ok=False)
            slurm = [self.pids[d] for d in ("slurmctld", "slurmd") if d in self.pids]
            if not wait_gone(slurm, 20):
                self._kill(slurm)
            # Step daemons and job processes carry our SLURM_CONF.
            self._kill(self._ours())
            if "munged" in self.pids:
                self._kill([self.pids["munged"]])
        except Exception as e:  # the test's own result matters more
            print(f"warning: stopping the cluster: {e}", flush=True)

    def _ours(self):
        marker = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    @staticmethod
    def _kill(pids):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            live = [p for p in pids if pid_alive(p)]
            for p in live:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            if wait_gone(live, 10):
                return

    def cleanup(self, keep):
        if keep:
            print(f"(cluster files kept in {self.dir})", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- jobs -----------------------------------------------------------------
    def cmd(self, argv, ok=True, timeout=120, env=None, cwd=None):
        t0 = time.time()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               env=env or self.env, cwd=cwd, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            check(False, f"timed out after {timeout} s: {' '.join(argv)}\n{self.daemon_logs()}")
        p.seconds = time.time() - t0
        if ok:
            check(p.returncode == 0, f"{argv[0]} failed:\n{describe(p)}")
        return p

    def records(self, jobid):
        """The scontrol records of a job (one per array task)."""
        p = self.cmd(["scontrol", "show", "job", "-o", str(jobid)], ok=False)
        check(p.returncode == 0, f"scontrol show job {jobid} failed:\n{describe(p)}")
        return [parse_record(ln) for ln in p.stdout.splitlines() if ln.strip()]

    def report(self, jobid):
        """The job's record and the end of its log, for failure messages."""
        parts = []
        try:
            recs = self.records(jobid)
        except Exception as e:  # noqa: BLE001 - a report must not fail
            return f"(no record of job {jobid}: {e})\n{self.daemon_logs()}"
        for r in recs:
            keys = ("JobId", "ArrayJobId", "ArrayTaskId", "JobName", "JobState", "Reason",
                    "ExitCode", "Restarts", "StdOut")
            parts.append(" ".join(f"{k}={r[k]}" for k in keys if k in r))
            if r.get("StdOut"):
                parts.append(f"--- {r['StdOut']} (end) ---\n{tail(r['StdOut'])}")
        parts.append(self.daemon_logs())
        return "\n".join(parts)

    def sbatch(self, args, cwd, env=None, wait=True, timeout=600):
        """Submits; returns (job id, sbatch's exit code or None)."""
        argv = ["sbatch", "--parsable", *(["--wait"] if wait else []), *args]
        p = self.cmd(argv, ok=False, timeout=timeout, env=env, cwd=cwd)
        m = re.match(r"^(\d+)", p.stdout.strip())
        check(m is not None, f"sbatch did not submit:\n{describe(p)}\n{self.daemon_logs()}")
        jobid = m.group(1)
        self.jobs.append(jobid)
        return jobid, (p.returncode if wait else None)

    def wait_state(self, jobid, done, what, timeout=300):
        """Polls until done(records) holds; returns the records."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            recs = self.records(jobid)
            if done(recs):
                return recs
            time.sleep(0.5)
        check(False, f"{what}: job {jobid} timed out after {timeout} s:\n{self.report(jobid)}")

    def expect_success(self, jobid, rc, what):
        """The exit code of sbatch --wait and the state of every task."""
        recs = self.wait_state(jobid, lambda rs: all(r.get("JobState") in TERMINAL for r in rs),
                               what, timeout=60)
        bad = [r for r in recs if r.get("JobState") != "COMPLETED" or r.get("ExitCode") != "0:0"]
        check(rc == 0 and not bad,
              f"{what}: job {jobid} failed (sbatch --wait exit {rc}):\n{self.report(jobid)}")
        return recs


def h5_attrs(path):
    import h5py
    with h5py.File(path, "r") as f:
        root = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        ev = dict(f["evaluation"].attrs) if "evaluation" in f else None
    return root, ev


def check_outputs(out, what):
    for name in ("compressed.onnx", "results.h5", "stats.h5", "checkpoint.h5"):
        path = os.path.join(out, name)
        check(os.path.isfile(path) and os.path.getsize(path) > 0,
              f"{what}: {path} is missing or empty")
    root, ev = h5_attrs(os.path.join(out, "results.h5"))
    check(ev is not None, f"{what}: {out}/results.h5 has no /evaluation group")
    for k in ("original_top1", "compressed_top1", "measured_speedup"):
        check(k in ev, f"{what}: /evaluation has no attribute {k} (has {sorted(ev)})")
    check(0.5 < ev["compressed_top1"] <= 1.0,
          f"{what}: compressed top-1 {ev['compressed_top1']} is not plausible")
    return root, ev


def scenario_single(cl, work, job_env, overcommit):
    """1. One job: exit code, state, outputs, two MPI ranks, scratch, log."""
    out = os.path.join(work, "out", "default")
    # memory_limit_mb=26 spills the carried activations to scratch_dir,
    # which the script puts in the node-local TMPDIR.
    t0 = time.time()
    jobid, rc = cl.sbatch(["-N", "1", "-n", "2", *overcommit, "--mem-per-cpu=500M",
                           "--time=15", SBATCH_ONE, CONFIG, *SMALL,
                           "--set", f"output={out}", "--set", "memory_limit_mb=26"],
                          cwd=work, env=job_env)
    recs = cl.expect_success(jobid, rc, "lrcompress.sbatch")
    log(f"single job {jobid}: COMPLETED in {time.time() - t0:.1f} s (sbatch --wait)")
    what = f"lrcompress.sbatch job {jobid}"
    logfile = os.path.join(work, f"lrcompress-{jobid}.out")
    check(os.path.isfile(logfile),
          f"{what}: no log {logfile} (#SBATCH --output=%x-%j.out); StdOut={recs[0].get('StdOut')}")
    text = open(logfile, errors="replace").read()
    root, ev = check_outputs(out, what)
    check(int(root.get("mpi_ranks", 0)) == 2,
          f"{what}: results.h5 says mpi_ranks={root.get('mpi_ranks')}, expected 2 "
          f"(srun --mpi=pmix must join the two tasks into one MPI job)\n{tail(logfile)}")
    scratch = os.path.join(job_env["TMPDIR"], f"lrcompress.{jobid}")
    check(f"scratch: {scratch}" in text, f"{what}: the log does not show the node-local "
          f"scratch {scratch}:\n{tail(logfile)}")
    check(root.get("activations") == "spilled" and float(root.get("scratch_io_mb", 0)) > 0,
          f"{what}: expected spilled activations (memory_limit_mb=26), results.h5 says "
          f"activations={root.get('activations')} scratch_io_mb={root.get('scratch_io_mb')}")
    check(not os.path.exists(scratch), f"{what}: the scratch directory {scratch} was left behind")
    want = f"compressed top1={ev['compressed_top1']:.4f}"
    check(want in text, f"{what}: the log does not show the result '{want}':\n{tail(logfile)}")
    for s in (f"job {jobid} 'lrcompress'", "2 task(s)", "srun --mpi=pmix", "outputs:",
              "done in"):
        check(s in text, f"{what}: the log lacks '{s}':\n{tail(logfile)}")


def scenario_requeue(cl, work, job_env, overcommit):
    """2. USR1 (the time limit is near) -> the job requeues itself and the
    rerun resumes from the checkpoint."""
    out = os.path.join(work, "out", "requeue")
    # big enough that layers 2..5 take several seconds after the first
    args = ["--set", f"model={MODEL}", "--set", "images=1000", "--set", "evaluation_limit=500",
            "--set", "nonlinear.iters_small=25", "--set", "nonlinear.iters_large=25",
            "--set", f"output={out}"]
    t0 = time.time()
    jobid, _ = cl.sbatch(["-N", "1", "-n", "2", *overcommit, "--mem-per-cpu=500M",
                          "--time=15", SBATCH_ONE, CONFIG, *args],
                         cwd=work, env=job_env, wait=False)
    what = f"requeue job {jobid}"
    ckpt = os.path.join(out, "checkpoint.h5")
    deadline = time.time() + 180
    while not os.path.isfile(ckpt):
        state = cl.records(jobid)[0].get("JobState")
        check(state not in TERMINAL, f"{what}: ended ({state}) before its first "
              f"checkpoint:\n{cl.report(jobid)}")
        check(time.time() < deadline, f"{what}: no {ckpt} after 180 s:\n{cl.report(jobid)}")
        time.sleep(0.1)
    cl.cmd(["scancel", "--batch", "--signal=USR1", jobid])
    recs = cl.wait_state(jobid, lambda rs: int(rs[0].get("Restarts", "0")) >= 1
                         and rs[0].get("JobState") in TERMINAL, what, timeout=300)
    check(recs[0].get("JobState") == "COMPLETED" and recs[0].get("ExitCode") == "0:0",
          f"{what}: the requeued run did not complete:\n{cl.report(jobid)}")
    log(f"requeue job {jobid}: requeued on USR1, resumed, COMPLETED in {time.time() - t0:.1f} s")
    logfile = os.path.join(work, f"lrcompress-{jobid}.out")
    text = open(logfile, errors="replace").read()
    for s in ("restart 0", "USR1", f"requeueing job {jobid}", "restart 1",
              "found " + ckpt):
        check(s in text, f"{what}: the log lacks '{s}':\n{tail(logfile, 80)}")
    m = re.search(r"resuming: (\d+) of (\d+) layers come from the checkpoint", text)
    check(m is not None and 1 <= int(m.group(1)) < int(m.group(2)),
          f"{what}: the rerun did not resume from the checkpoint:\n{tail(logfile, 80)}")
    check(text.count("outputs:") == 1,
          f"{what}: expected one finished run in the log (append mode):\n{tail(logfile, 80)}")
    check_outputs(out, what)


def scenario_sweep(cl, work, job_env):
    """3. A two-task sweep array, then gather.py chained with afterany."""
    out = os.path.join(work, "out", "sweep")
    env = dict(job_env, SWEEP_SPEEDUPS="2 3", SWEEP_OUT=out)
    t0 = time.time()
    # one rank per task: both tasks run at once on two CPUs
    arr, _ = cl.sbatch(["--array=0-1", "-N", "1", "-n", "1", "--mem-per-cpu=500M",
                        "--time=15", SBATCH_SWEEP, CONFIG, *SMALL],
                       cwd=work, env=env, wait=False)
    gather, rc = cl.sbatch([f"--dependency=afterany:{arr}", "-n", "1", "--mem-per-cpu=200M",
                            "--time=5", "-J", "lrc-gather", "-o", "gather-%j.out",
                            "--wrap", f"/usr/bin/python3 {GATHER} {out}"],
                           cwd=work, env=env)
    tasks = cl.expect_success(arr, 0, "sweep.sbatch array")
    check(len(tasks) == 2, f"sweep array {arr}: {len(tasks)} task records, expected 2:\n"
          f"{cl.report(arr)}")
    cl.expect_success(gather, rc, "gather.py job")
    log(f"sweep array {arr} + gather job {gather}: COMPLETED in {time.time() - t0:.1f} s")
    for r in tasks:
        logfile = os.path.join(work, f"lrc-sweep-{arr}_{r.get('ArrayTaskId')}.out")
        check(os.path.isfile(logfile), f"sweep task {r.get('JobId')}: no log {logfile} "
              f"(#SBATCH --output=%x-%A_%a.out)")
    for s in (2, 3):
        check_outputs(os.path.join(out, f"nonlinear-asym_{s}x"), f"sweep task {s}x")
    with open(os.path.join(out, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 2, f"gather.py: {len(rows)} CSV rows, expected 2: {rows}")
    check(sorted(float(r["target"]) for r in rows) == [2.0, 3.0],
          f"gather.py: targets {[r['target'] for r in rows]}, expected 2 and 3")
    for r in rows:
        for k in ("method", "theoretical_speedup", "measured_speedup", "top1_original",
                  "top1_compressed", "top5_original", "top5_compressed", "wall_seconds"):
            check(r.get(k) not in (None, ""), f"gather.py: row {r.get('task')} has no {k}")
        check(abs(float(r["theoretical_speedup"]) - float(r["target"])) < 0.2,
              f"gather.py: row {r['task']}: theoretical {r['theoretical_speedup']} "
              f"is far from the target {r['target']}")
    md = open(os.path.join(out, "summary.md")).read().splitlines()
    check(len([ln for ln in md if ln.startswith("| nonlinear-asym_")]) == 2,
          "gather.py: summary.md does not have the two rows:\n" + "\n".join(md))
    glog = open(os.path.join(work, f"gather-{gather}.out")).read()
    check("nonlinear-asym_2x" in glog and "nonlinear-asym_3x" in glog,
          f"gather job {gather}: its log lacks the table:\n{glog}")


def scenario_bad_config(cl, work, job_env):
    """4. A missing config: exit code 2 and a clear message in the log."""
    missing = os.path.join(work, "no-such-config.yaml")
    jobid, rc = cl.sbatch(["-n", "1", "--time=5", SBATCH_ONE, missing],
                          cwd=work, env=job_env)
    recs = cl.wait_state(jobid, lambda rs: rs[0].get("JobState") in TERMINAL,
                         "bad-config job", timeout=60)
    what = f"bad-config job {jobid}"
    check(rc == 2 and recs[0].get("JobState") == "FAILED" and recs[0].get("ExitCode") == "2:0",
          f"{what}: expected FAILED with exit code 2 (sbatch --wait exit {rc}):\n{cl.report(jobid)}")
    text = open(os.path.join(work, f"lrcompress-{jobid}.out"), errors="replace").read()
    check(f"config '{missing}' is not a readable file" in text,
          f"{what}: the log does not name the missing config:\n{text}")
    # what a failed job's report in this test looks like
    rep = cl.report(jobid)
    check("JobState=FAILED" in rep and "is not a readable file" in rep,
          f"{what}: the failure report lacks the state or the log:\n{rep}")
    log(f"bad-config job {jobid}: FAILED with exit code 2 and a clear message, as expected")


def test():
    check(len(sys.argv) == 2, "usage: test_slurm.py /path/to/lrcompress")
    binary = os.path.abspath(sys.argv[1])
    check(os.access(binary, os.X_OK), f"{binary} is not executable")
    check(os.geteuid() == 0, "the Slurm test runs as root: it may apt-get install Slurm and "
          "starts munged, slurmctld and slurmd (SlurmUser root)")
    for f in (SBATCH_ONE, SBATCH_SWEEP, GATHER, CONF_IN, CONFIG, MODEL):
        check(os.path.isfile(f), f"{f} is missing")
    t_start = time.time()
    ensure_packages()

    with TempDir("e2e_slurm.") as work:
        cl = Cluster(work)
        ok = False
        try:
            cl.start()
            p = cl.cmd(["srun", "--mpi=list"], ok=False)
            check("pmix" in p.stdout + p.stderr,
                  f"this Slurm has no pmix MPI plugin (srun --mpi=list):\n{describe(p)}")
            job_env = dict(cl.env)
            job_env.update({"LRCOMPRESS": binary, "TMPDIR": os.path.join(cl.dir, "node-tmp"),
                            "OPENBLAS_NUM_THREADS": "1"})
            if os.geteuid() == 0:
                job_env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
                job_env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            job_env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
            overcommit = ["--overcommit"] if cl.cpus < 2 else []
            scenario_single(cl, work, job_env, overcommit)
            scenario_requeue(cl, work, job_env, overcommit)
            scenario_sweep(cl, work, job_env)
            scenario_bad_config(cl, work, job_env)
            ok = True
        finally:
            cl.stop()
            cl.cleanup(keep=not ok)
            leftover = cl._ours() + [p for p in cl.pids.values() if pid_alive(p)]
            if ok:
                check(not leftover, f"processes left after the shutdown: {leftover}")
    log(f"total {time.time() - t_start:.1f} s")


if __name__ == "__main__":
    main_wrapper(test)
