"""One training over several nodes: torchrun agents joined by a c10d rendezvous.

Every node runs one ``torchrun`` agent with ``--nnodes N --nproc-per-node G --rdzv-backend c10d
--rdzv-endpoint HOST:PORT --rdzv-id ID``; the agents meet at HOST:PORT (the c10d store is hosted by
the agent on HOST), agree on the ranks and start G workers each. Nothing else is launched here:

    srun    inside a Slurm allocation of N nodes (a job of ``sbatch --nodes N``): one ``srun`` step
            with one task per node; HOST is the allocation's first node, where the batch script
            (and so this launcher) runs, and PORT a port free there.
    local   N agents on this machine, standing in for N nodes (tests, a box without Slurm);
            HOST is localhost. With GPUs, agent i gets the i-th G of the visible ones.

No agent restarts its workers (torchrun's default ``--max-restarts 0``): when a node is lost, the
others fail, the job fails, and running it again resumes from the last checkpoint of the exp dir,
as for one node.
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import IO, Sequence

from mer.jobs.common import SignalTrap, UsageError, die_with_parent, visible_gpus

RDZV_BACKEND = "c10d"
# Seconds the other agents get to stop on their own once one has failed, before they are killed.
STOP_GRACE_S = 20.0


def free_port(host: str = "") -> int:
    """A TCP port nobody listens on here now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def torchrun_argv(nnodes: int, nproc_per_node: int, endpoint: str, rdzv_id: str, module: str,
                  args: Sequence[str], python: str = sys.executable) -> list[str]:
    """The command of one node's agent."""
    return [python, "-m", "torch.distributed.run", "--nnodes", str(nnodes),
            "--nproc-per-node", str(nproc_per_node), "--rdzv-backend", RDZV_BACKEND,
            "--rdzv-endpoint", endpoint, "--rdzv-id", rdzv_id, "-m", module, *args]


# ---------------------------------------------------------------------------------------- Slurm


def in_slurm_allocation(environ=None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("SLURM_JOB_ID") and env.get("SLURM_JOB_NODELIST"))


def slurm_nodes(environ=None) -> list[str]:
    """The host names of this allocation, first node first (``scontrol show hostnames``)."""
    env = os.environ if environ is None else environ
    nodelist = env["SLURM_JOB_NODELIST"]
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                             check=True, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise UsageError(f"cannot expand SLURM_JOB_NODELIST={nodelist} with scontrol: {e}") from e
    nodes = out.split()
    if not nodes:
        raise UsageError(f"scontrol show hostnames {nodelist} names no node")
    return nodes


def srun_argv(nnodes: int, gpus_per_node: int, agent: Sequence[str], environ=None) -> list[str]:
    """One srun step over the allocation's nodes, one agent (task) per node. ``--export=ALL``: the
    batch step's environment (path.sh's) reaches the agents although sbatch exported only PATH
    (srun would otherwise inherit that through SLURM_EXPORT_ENV). A failed agent ends the step."""
    env = os.environ if environ is None else environ
    argv = ["srun", "--export=ALL", f"--nodes={nnodes}", f"--ntasks={nnodes}", "--ntasks-per-node=1",
            "--kill-on-bad-exit=1"]
    if gpus_per_node > 0:
        argv.append(f"--gres=gpu:{gpus_per_node}")
    if env.get("SLURM_CPUS_PER_TASK"):  # srun does not inherit sbatch's --cpus-per-task (Slurm >= 22.05)
        argv.append(f"--cpus-per-task={env['SLURM_CPUS_PER_TASK']}")
    argv += shlex.split(env.get("MER_SRUN_ARGS", ""))  # a site's own flags
    return [*argv, *agent]


def slurm_launch(nnodes: int, nproc_per_node: int, gpus_per_node: int, module: str, args: Sequence[str],
                 err: IO[str], environ=None) -> list[str]:
    """The srun command line for this allocation (checked against its size)."""
    env = os.environ if environ is None else environ
    have = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 0)
    if have < nnodes:
        raise UsageError(f"--nnodes {nnodes}, but this Slurm allocation (job {env['SLURM_JOB_ID']}) has {have} "
                         f"node(s): submit the job with --num-nodes {nnodes} (sbatch --nodes)")
    host = slurm_nodes(env)[0]
    me = socket.gethostname().split(".")[0]
    if me != host.split(".")[0]:
        print(f"train_nodes: warning: the rendezvous port is chosen on {me}, but the endpoint is the first "
              f"node {host}: run this launcher on {host} (a batch script does)", file=err)
    endpoint = f"{host}:{free_port()}"
    agent = torchrun_argv(nnodes, nproc_per_node, endpoint, f"mer-{env['SLURM_JOB_ID']}", module, args)
    return srun_argv(nnodes, gpus_per_node, agent, env)


# ---------------------------------------------------------------------------------------- local


def agent_gpus(nnodes: int, gpus_per_node: int, environ=None) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each local agent (None: leave it as it is)."""
    if gpus_per_node == 0:
        return [None] * nnodes
    gpus = visible_gpus(environ)
    if len(gpus) < nnodes * gpus_per_node:
        raise UsageError(f"{nnodes} local agents with {gpus_per_node} GPU(s) each need "
                         f"{nnodes * gpus_per_node} GPUs; {len(gpus)} are visible")
    return [",".join(gpus[i * gpus_per_node:(i + 1) * gpus_per_node]) for i in range(nnodes)]


def local_launch(nnodes: int, nproc_per_node: int, gpus_per_node: int, module: str, args: Sequence[str],
                 err: IO[str]) -> int:
    """Runs N agents here and waits for them; when one fails the others are stopped (as srun's
    --kill-on-bad-exit does). Returns the first failure's exit status, or 0."""
    slots = agent_gpus(nnodes, gpus_per_node)
    port = free_port("127.0.0.1")
    agent = torchrun_argv(nnodes, nproc_per_node, f"localhost:{port}", f"mer-{os.getpid()}", module, args)
    print(f"train_nodes: {nnodes} local agents: {shlex.join(agent)}", file=err, flush=True)
    procs: list[subprocess.Popen] = []

    def stop(sig):
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, sig)
                except OSError:
                    pass

    with SignalTrap(lambda signum, count: stop(signal.SIGTERM if count == 1 else signal.SIGKILL)) as trap:
        for slot in slots:
            env = dict(os.environ)
            if slot is not None:
                env["CUDA_VISIBLE_DEVICES"] = slot
            # its own session, like a node of its own (torchrun stops its workers on SIGTERM)
            procs.append(subprocess.Popen(agent, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                                          preexec_fn=die_with_parent(os.getpid())))
        deadline = None  # once an agent has failed: when the others get SIGKILL
        while any(p.poll() is None for p in procs):
            if deadline is None and any(p.returncode not in (None, 0) for p in procs):
                print("train_nodes: an agent failed; stopping the others", file=err, flush=True)
                stop(signal.SIGTERM)
                deadline = time.monotonic() + STOP_GRACE_S
            elif deadline is not None and time.monotonic() > deadline:
                stop(signal.SIGKILL)
            time.sleep(0.1)
        if trap.signum is not None:
            return 128 + trap.signum
    codes = [p.returncode for p in procs]
    if not any(codes):
        return 0
    print("train_nodes: the agents ended with "
          + ", ".join(f"agent {i}: " + (f"signal {-c}" if c < 0 else f"exit {c}") for i, c in enumerate(codes)),
          file=err, flush=True)
    failed = next(c for c in codes if c)
    return 128 - failed if failed < 0 else failed


def launch(nnodes: int, nproc_per_node: int, gpus_per_node: int, module: str, args: Sequence[str],
           launcher: str = "auto", err: IO[str] | None = None) -> int:
    """Runs one training over ``nnodes`` nodes; ``launcher``: auto (srun inside a Slurm allocation,
    else local), srun or local. Returns the exit status."""
    err = err if err is not None else sys.stderr
    if nnodes < 1 or nproc_per_node < 1 or gpus_per_node < 0:
        raise UsageError("--nnodes and --nproc-per-node need an integer >= 1, --gpus-per-node >= 0")
    if launcher == "auto":
        launcher = "srun" if in_slurm_allocation() else "local"
    if launcher == "local":
        return local_launch(nnodes, nproc_per_node, gpus_per_node, module, args, err)
    if launcher != "srun":
        raise UsageError(f"unknown launcher {launcher!r} (auto, srun or local)")
    if not in_slurm_allocation():
        raise UsageError("--launcher srun runs inside a Slurm allocation (SLURM_JOB_ID and SLURM_JOB_NODELIST "
                         "are not set)")
    argv = slurm_launch(nnodes, nproc_per_node, gpus_per_node, module, args, err)
    print(f"train_nodes: {shlex.join(argv)}", file=err, flush=True)
    try:
        os.execvp(argv[0], argv)  # srun forwards signals to the agents and ends them all
    except OSError as e:
        raise UsageError(f"cannot run srun: {e.strerror}") from e
    return 1  # not reached
