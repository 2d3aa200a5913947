"""The warm server: imports what mer's commands import, then forks one child per client request.

    python -m mer.warm.server SOCKET     (emo.sh starts it; it ends with emo.sh)

Each child becomes the requested `python -m mer.bin.<tool> ARGS` as a fresh interpreter would run it:
the client's standard streams, working directory, environment and umask; torch's and the BLAS
libraries' thread counts from its OMP_NUM_THREADS; Python's and NumPy's global random state drawn
anew; signals at their defaults; exit code, or death by a signal, reported back. The server declines
a request (the client then runs the command cold) whose environment differs from the server's in a
variable the preloaded libraries read when imported (HF_*, TORCH*, PYTHON*, ..., see IMPORT_TIME_ENV),
or that comes after a source file of the mer modules it imported has changed (the tree updated under a
running recipe: a child would mix the old modules with new ones).
One thread, one selector: a forked child inherits no lock held by another thread.
"""
from __future__ import annotations

import atexit
import importlib
import importlib.util
import io
import json
import logging
import os
import random
import runpy
import selectors
import signal
import socket
import struct
import sys
import traceback

from mer.jobs.common import die_with_parent

PRELOAD = ("numpy", "torch", "kaldiio", "yaml", "sklearn.metrics", "sklearn.linear_model", "transformers",
           "matplotlib", "mer.train.trainer", "mer.inference", "mer.features", "mer.scoring.results_md",
           "mer.report.html", "mer.plots.plan", "mer.combine")
# Read by the preloaded libraries when they are imported: a request that sets them otherwise runs cold.
# OMP_NUM_THREADS is applied per child instead; PYTHONPATH is compared as a set of entries.
IMPORT_TIME_ENV = ("HF_", "HUGGINGFACE", "TRANSFORMERS", "TOKENIZERS", "TORCH", "PYTORCH", "CUDA_LAUNCH",
                   "MPL", "PYTHON", "OPENBLAS", "MKL_", "KMP_", "GOMP_", "OMP_", "LD_", "XDG_CACHE_HOME")
PER_CHILD_ENV = ("OMP_NUM_THREADS", "PYTHONPATH")


def import_time_env(env: dict) -> dict:
    out = {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_ENV) and k not in PER_CHILD_ENV}
    out["PYTHONPATH"] = sorted(set(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p))
    return out


def source_times(package: str = "mer") -> dict[str, int | None]:
    """The source file of each of `package`'s modules imported so far -> its modification time."""
    files = {getattr(m, "__file__", None) for n, m in list(sys.modules.items())
             if n == package or n.startswith(package + ".")}
    return {f: _mtime(f) for f in files if f}


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def why_cold(request: dict, server_env: dict, sources: dict[str, int | None] | None = None) -> str | None:
    """Why the request must run in a fresh interpreter, or None. `sources`: source_times() after the
    server's imports."""
    argv = request.get("argv", [])
    if len(argv) < 2 or argv[0] != "-m" or not argv[1].startswith("mer.bin."):
        return "only `-m mer.bin.<tool>` runs warm"
    ours, theirs = import_time_env(server_env), import_time_env(request["env"])
    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if differ:
        return f"environment differs in {', '.join(differ)}"
    changed = next((f for f, t in (sources or {}).items() if _mtime(f) != t), None)
    return f"{changed} changed since the server imported it" if changed else None


def exit_status(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.waitstatus_to_exitcode(status)}


def child_threads(env: dict) -> int:
    """What a fresh interpreter with this environment would use: OMP_NUM_THREADS, else every CPU."""
    try:
        return max(1, int(env["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return len(os.sched_getaffinity(0))


def become(request: dict, fds: list[int], own_fds: list[int], server_pid: int) -> None:
    """In the forked child: turn into the requested command, run it, exit. Never returns."""
    code = 1
    try:
        die_with_parent(server_pid)()  # a server killed outright leaves no command running on
        for fd in own_fds:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds) - {0, 1, 2}:
            os.close(fd)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        reopen_std_streams(bool(request["env"].get("PYTHONUNBUFFERED")))
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        logging.root.handlers.clear()  # a fresh interpreter's logging: nothing configured yet
        for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if entry and entry not in sys.path:
                sys.path.insert(1, entry)
        sys.path[0] = request["cwd"]  # as `python -m` puts the working directory first
        import numpy
        import torch
        from threadpoolctl import threadpool_limits
        threads = child_threads(request["env"])
        torch.set_num_threads(threads)
        threadpool_limits(threads)
        random.seed()
        numpy.random.seed()
        sys.argv = ["-m", *request["argv"][2:]]
        code = run_module(request["argv"][1])
    except BaseException:  # noqa: B036 - the child must always reach os._exit
        traceback.print_exc()
    finally:
        finish(code)


def reopen_std_streams(unbuffered: bool) -> None:
    """sys.stdin/stdout/stderr on the new fds 0-2, buffered as a fresh interpreter buffers them."""
    enc, errors = sys.stdout.encoding, sys.stdout.errors

    def writer(fd: int, errors: str, line: bool):
        raw = io.FileIO(fd, "w", closefd=False)
        return io.TextIOWrapper(raw if unbuffered else io.BufferedWriter(raw), encoding=enc, errors=errors,
                                line_buffering=line, write_through=unbuffered)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=enc)
    sys.stdout = writer(1, errors, os.isatty(1))
    sys.stderr = writer(2, "backslashreplace", True)


def run_module(name: str) -> int:
    """`python -m name` in this process: its exit code (SIGINT re-raised as a fresh interpreter does)."""
    if importlib.util.find_spec(name) is None:
        print(f"{sys.executable}: No module named {name}", file=sys.stderr)
        return 1
    try:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        finish(None, signal.SIGINT)
    except BaseException:  # noqa: B036 - an uncaught error: traceback and exit 1, as python -m does
        traceback.print_exc()
        return 1


def finish(code: int | None, sig: int | None = None) -> None:
    """Exit the child as the interpreter would: exit handlers, flushed streams, then the code or signal."""
    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(1 if code is None else code)


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    conn.settimeout(10)
    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
    while len(head) < 8:
        more = conn.recv(8 - len(head))
        if not more:
            raise ConnectionError("the client hung up")
        head += more
    size, body = struct.unpack("!Q", head)[0], b""
    while len(body) < size:
        more = conn.recv(min(1 << 20, size - len(body)))
        if not more:
            raise ConnectionError("the client hung up")
        body += more
    conn.settimeout(None)
    return json.loads(body), fds


class Stop(Exception):
    pass


def serve(path: str, preload=PRELOAD) -> None:
    server_env, owner = dict(os.environ), os.getppid()  # before the imports, which set a few
    # torch.cuda.is_available() through NVML, not the CUDA driver: a child may still start CUDA
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as e:  # a missing optional package: its commands import it themselves
            print(f"mer.warm.server: not preloaded: {name} ({e})", file=sys.stderr)
    sources = source_times()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # clients see the socket only once it accepts
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    children: dict[int, tuple[socket.socket, int]] = {}  # pid -> (client connection, pidfd)

    def stop(signum, frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    try:
        while os.getppid() == owner:
            for key, _ in sel.select(timeout=1.0):
                if key.data is None:
                    accept(listener, sel, children, server_env, sources)
                elif key.data[0] == "client":
                    from_client(key.data[1], sel, children)
                else:
                    reap(key.data[1], sel, children)
    except Stop:
        pass
    finally:
        for pid in children:  # the recipe is gone: so are its commands
            os.kill(pid, signal.SIGTERM)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def accept(listener, sel, children, server_env, sources) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        request, fds = receive(conn)
        reason = why_cold(request, server_env, sources) if len(fds) == 3 else "no standard streams passed"
        if reason:
            conn.sendall(json.dumps({"cold": reason}).encode() + b"\n")
            conn.close()
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        own = [key.fd for key in sel.get_map().values()] + [conn.fileno(), sel.fileno()]
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            become(request, fds, own, server)
        pidfd = os.pidfd_open(pid)
        children[pid] = (conn, pidfd)
        sel.register(conn, selectors.EVENT_READ, ("client", pid))
        sel.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except (OSError, ValueError, KeyError) as e:
        print(f"mer.warm.server: a request failed: {e}", file=sys.stderr)
        conn.close()
    finally:
        for fd in fds:
            os.close(fd)


def from_client(pid: int, sel, children) -> None:
    """A signal number to forward, or the client's end (it died: so does its command)."""
    conn, _ = children[pid]
    try:
        data = conn.recv(4096)
    except OSError:
        data = b""
    numbers = [int(n) for n in data.split()] or [signal.SIGKILL]
    for n in numbers:
        try:
            os.kill(pid, n)
        except ProcessLookupError:
            pass
    if not data:
        sel.unregister(conn)


def reap(pid: int, sel, children) -> None:
    conn, pidfd = children.pop(pid)
    _, status = os.waitpid(pid, 0)
    for obj in (conn, pidfd):
        try:
            sel.unregister(obj)
        except (KeyError, ValueError):
            pass
    os.close(pidfd)
    try:
        conn.sendall(json.dumps(exit_status(status)).encode() + b"\n")
    except OSError:
        pass
    conn.close()


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    serve(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
