"""A directory lock: one writer per dump dir or experiment dir.

`DirLock(dir)` creates `dir/.lock` atomically (O_EXCL) holding the holder's pid, host and start
time. A second process finds it and stops with a message naming the holder, or waits for it
(`wait_seconds`). A lock left by a process that no longer runs on this host is taken over, and the
takeover is said. Released on exit of the `with` block (and so on SIGTERM turned into SystemExit).
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


class LockHeld(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DirLock:
    def __init__(self, directory: str | os.PathLike, what: str = "this directory", wait_seconds: float = 0.0,
                 log=None, name: str = ".lock"):
        self.path = Path(directory) / name
        self.what, self.wait_seconds, self.log = what, wait_seconds, log
        self.held = False

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _describe(self, h: dict | None) -> str:
        if not h:
            return f"{self.path} (unreadable: remove it if no process is writing {self.what})"
        return f"pid {h.get('pid')} on {h.get('host')} since {h.get('since')} ({self.path})"

    def acquire(self) -> "DirLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_seconds
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                stale = (holder is not None and holder.get("host") == me["host"]
                         and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]))
                if stale:
                    self._say(f"taking over the lock of {self.what} from {self._describe(holder)}, "
                              f"which no longer runs")
                    self.path.unlink(missing_ok=True)
                    continue
                if time.monotonic() >= deadline:
                    raise LockHeld(f"{self.what} is being written by another process: {self._describe(holder)}; "
                                   f"wait for it to finish, or stop it") from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self

    def release(self) -> None:
        if self.held:
            holder = self._holder()
            if holder and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def _say(self, msg: str) -> None:
        if self.log:
            self.log.warning(msg)
        else:
            import sys

            print(f"warning: {msg}", file=sys.stderr)

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
