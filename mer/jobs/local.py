"""The local backend: the jobs of an array as processes of this machine, K at a time, GPUs shared out."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO

from mer.jobs.common import (INT_OPTIONS, LOCAL_IGNORED, Interrupted, JobArray, JobResult, SignalTrap, UsageError,
                             cpu_count, die_with_parent, log_header, now_date, visible_gpus)


class LocalBackend:
    name = "local"

    def __init__(self, err: IO[str] | None = None):
        self.err = err if err is not None else sys.stderr

    def plan(self, array: JobArray) -> tuple[int, list[str | None]]:
        """(max concurrent jobs, one CUDA_VISIBLE_DEVICES value per slot or [None] * K)."""
        threads = array.int_option("num_threads", 1)
        k = array.int_option("max_jobs_run", max(1, cpu_count() // threads))
        # --num-nodes N: the job runs N agents here (mer.jobs.nodes), each with --gpu GPUs
        ngpu = array.int_option("gpu", 0) * array.int_option("num_nodes", 1)
        if ngpu == 0:
            return k, [None] * k
        gpus = visible_gpus()
        groups = [",".join(gpus[i:i + ngpu]) for i in range(0, len(gpus) - ngpu + 1, ngpu)]
        if not groups:
            src = ("CUDA_VISIBLE_DEVICES=" + os.environ["CUDA_VISIBLE_DEVICES"]
                   if "CUDA_VISIBLE_DEVICES" in os.environ else "nvidia-smi -L")
            raise UsageError(f"--gpu {ngpu} needs {ngpu} GPU(s) per job, but {src} gives "
                             f"{len(gpus)}")
        k = min(k, len(groups))
        return k, groups[:k]

    def run(self, array: JobArray) -> list[JobResult]:
        for name in array.options:
            if name not in INT_OPTIONS and name not in LOCAL_IGNORED:
                print(f"{self.name}: ignoring option --{name} (only meaningful to cluster "
                      "backends)", file=self.err)
        k, slots = self.plan(array)
        threads = array.int_option("num_threads", 1)
        free = deque(slots)
        pending = deque(array.ids)
        running: dict[int, tuple[subprocess.Popen, JobResult, IO[bytes], float, str | None]] = {}
        results: dict[int, JobResult] = {}
        host = socket.gethostname()

        def kill_all(signum, count):
            sig = signal.SIGTERM if count == 1 else signal.SIGKILL
            for proc, *_ in running.values():
                try:
                    os.killpg(proc.pid, sig)
                except OSError:
                    pass

        with SignalTrap(kill_all) as trap:
            while (pending and trap.signum is None) or running:  # interrupted: no new job, no spin
                while pending and free and trap.signum is None:
                    job = pending.popleft()
                    slot = free.popleft()
                    log = array.log_of(job)
                    command = array.command_of(job)
                    where = f"# Running on {host}"
                    if slot is not None:
                        where += f" with CUDA_VISIBLE_DEVICES={slot}"
                    try:
                        Path(log).parent.mkdir(parents=True, exist_ok=True)
                        with open(log, "w", encoding="utf-8") as f:
                            f.write(f"{log_header(command)}\n# Started at {now_date()}\n"
                                    f"{where}\n")
                        out = open(log, "ab")
                    except OSError as e:
                        results[job] = JobResult(job, log, None, f"cannot write the log: {e}")
                        free.append(slot)
                        continue
                    env = dict(os.environ)
                    if slot is not None:
                        env["CUDA_VISIBLE_DEVICES"] = slot
                    proc = subprocess.Popen(["bash", "-c", command], stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True,
                                            preexec_fn=die_with_parent(os.getpid()))
                    running[job] = (proc, JobResult(job, log, None), out, time.monotonic(), slot)
                for job in list(running):
                    proc, res, out, t0, slot = running[job]
                    rc = proc.poll()
                    if rc is None:
                        continue
                    del running[job]
                    res.code = 128 - rc if rc < 0 else rc
                    out.write(f"# Accounting: time={round(time.monotonic() - t0)} threads={threads}"
                              f"\n# Ended (code {res.code}) at {now_date()}\n".encode())
                    out.close()
                    results[job] = res
                    free.append(slot)
                if running:
                    time.sleep(0.02)
            if trap.signum is not None:
                print(f"{self.name}: interrupted; {len(results)} job(s) ran, "
                      f"{len(pending)} not started", file=self.err)
                raise Interrupted(trap.signum)
        return [results[j] for j in sorted(results)]
