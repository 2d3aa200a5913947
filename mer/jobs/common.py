"""What every job backend shares: the job-array command line (Kaldi's run.pl interface, documented in
mer.jobs), the log files' header, visible GPUs, signal handling and the failure summary."""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import IO, Sequence


# Options every backend understands without a config line.
INT_OPTIONS = {"max_jobs_run": 1, "gpu": 0, "num_threads": 1, "num_nodes": 1}  # name -> minimum value
LOCAL_IGNORED = {"mem", "time", "config"}
TAIL_LINES = 20
_JOB_RANGE = re.compile(r"^([A-Za-z_]\w*)=(\d+):(\d+)$")
_JOB_SINGLE = re.compile(r"^([A-Za-z_]\w*)=(\d+)$")
# Words passed to the job's shell as operators (Kaldi's `$cmd log sort a \\| uniq \\> b`); every
# other argument is quoted.
SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>>", "2>&1", "&>", "|&"})


class UsageError(Exception):
    """Bad command line or configuration (exit status 2)."""


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


def shell_join(args: Sequence[str]) -> str:
    """Join arguments into one ``bash -c`` string, each one quoted so it stays one literal word.

    Only an argument that is exactly a shell operator (``|``, ``>``, ``&&``, ...) is pasted as the
    operator, so Kaldi-style pipelines given as separate words still work; a path holding ``;``,
    ``$(...)`` or a space can never run anything."""
    return " ".join(a if a in SHELL_OPERATORS else shlex.quote(a) for a in args)


def now_date() -> str:
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


def log_header(command: str) -> str:
    return "# " + command.replace("\n", "\n# ")


@dataclass
class JobArray:
    """A parsed ``[options] [JOB=a:b] log command...`` call."""

    log_pattern: str
    command: list[str]
    jobvar: str | None = None
    start: int = 1
    end: int = 1
    options: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> range:
        return range(self.start, self.end + 1)

    def _sub(self, text: str, job: int) -> str:
        return text.replace(self.jobvar, str(job)) if self.jobvar else text

    def log_of(self, job: int) -> str:
        return self._sub(self.log_pattern, job)

    def command_of(self, job: int) -> str:
        return shell_join([self._sub(a, job) for a in self.command])

    def int_option(self, name: str, default: int) -> int:
        return int(self.options[name]) if name in self.options else default


def parse_job_args(argv: Sequence[str]) -> JobArray:
    """Parse Kaldi run.pl-style arguments (options, optional ``JOB=a:b``, log, command)."""
    args = list(argv)
    options: dict[str, str] = {}
    jobvar, start, end = None, 1, 1
    seen_range = False
    while args:
        a = args[0]
        m = _JOB_RANGE.match(a) or _JOB_SINGLE.match(a)
        if m and not seen_range:
            jobvar, start = m.group(1), int(m.group(2))
            end = int(m.group(3)) if m.re is _JOB_RANGE else start
            if end < start:
                raise UsageError(f"bad job range {a!r}: {end} < {start}")
            seen_range = True
            args.pop(0)
        elif re.match(r"^[A-Za-z_]\w*=.*:", a) and not seen_range:
            raise UsageError(f"{a!r} looks like a job range but is not VAR=START:END "
                             "(e.g. JOB=1:4)")
        elif a.startswith("--") and len(a) > 2:
            if "=" in a:
                name, value = a[2:].split("=", 1)
                args.pop(0)
            else:
                if len(args) < 2:
                    raise UsageError(f"option {a} needs a value")
                name, value = a[2:], args[1]
                del args[:2]
            name = name.replace("-", "_")
            if name in INT_OPTIONS:
                try:
                    ok = int(value) >= INT_OPTIONS[name]
                except ValueError:
                    ok = False
                if not ok:
                    raise UsageError(f"--{name.replace('_', '-')} needs an integer >= "
                                     f"{INT_OPTIONS[name]}, got {value!r}")
            options[name] = value
        else:
            break
    if len(args) < 2:
        raise UsageError("expected [options] [JOB=1:N] <log-file> <command> [args...]")
    log_pattern, command = args[0], args[1:]
    if jobvar and start != end and jobvar not in log_pattern:
        raise UsageError(f"running jobs {jobvar}={start}:{end} but the log file name "
                         f"{log_pattern!r} does not contain {jobvar}")
    return JobArray(log_pattern, command, jobvar, start, end, options)


@dataclass
class JobResult:
    job: int
    log: str
    code: int | None  # None: no exit status came back
    note: str = ""  # why code is None, and where else to look
    other_log: str | None = None


# ----------------------------------------------------------------------------------------------
# Local backend


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """GPU ids usable for CUDA_VISIBLE_DEVICES: from CUDA_VISIBLE_DEVICES if set, else
    ``nvidia-smi -L`` (indices, or MIG UUIDs for GPUs split into MIG instances)."""
    env = os.environ if environ is None else environ
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        out = []
        for tok in (t.strip() for t in cvd.split(",")):
            if not tok or tok.startswith("-"):  # CUDA stops at the first invalid entry
                break
            out.append(tok)
        return out
    try:
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    gpus: list[list[str]] = []  # per GPU: [index] or its MIG UUIDs
    for line in proc.stdout.splitlines():
        m = re.match(r"^GPU (\d+):", line)
        if m:
            gpus.append([m.group(1)])
            continue
        m = re.match(r"^\s+MIG .*\(UUID: (MIG-[^)\s]+)\)", line)
        if m and gpus:
            if gpus[-1][0].isdigit():
                gpus[-1] = []
            gpus[-1].append(m.group(1))
    return [g for group in gpus for g in group]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class SignalTrap:
    """Turns SIGINT/SIGTERM/SIGHUP into a recorded flag plus a callback while active."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, on_signal):
        self.on_signal = on_signal
        self.signum: int | None = None
        self.count = 0
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame):
        self.signum = self.signum or signum
        self.count += 1
        self.on_signal(signum, self.count)

    def __enter__(self):
        for s in self.SIGNALS:
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


def die_with_parent(parent_pid: int):
    """preexec_fn for a job: SIGTERM when this backend dies, however it dies (a SIGKILL of the
    stage's driver included), so a killed stage leaves no orphan jobs writing into its outputs.
    Jobs run in their own session (so that the backend can stop each one's process group), which
    a group kill of the driver would not reach. Linux only; elsewhere a no-op."""
    def arm():
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent_pid:  # the backend died before the line above: go now
            os._exit(143)
    return arm


# ----------------------------------------------------------------------------------------------


def log_tail(path: str, n: int = TAIL_LINES, max_bytes: int = 256 * 1024) -> list[str] | None:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # probably cut in the middle
    out = []
    for line in lines[-n:]:
        # Progress bars rewrite one line with \r: show what a terminal would show.
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
        out.append(line if len(line) <= 2000 else "..." + line[-2000:])
    return out


def summarize_failures(backend: str, results: Sequence[JobResult], err: IO[str]) -> int:
    """Print the failure summary plus the tail of the first failed log; return the exit code."""
    failed = [r for r in results if r.code != 0]
    if not failed:
        return 0
    first = failed[0]
    print(f"{backend}: {len(failed)} / {len(results)} failed, log is in {first.log}", file=err)
    if first.note:
        print(f"{backend}: {first.note}", file=err)
    for path in (first.log, first.other_log):
        if path is None:
            continue
        lines = log_tail(path)
        if lines is None:
            continue
        print(f"{backend}: last {len(lines)} lines of {path}:", file=err)
        for line in lines:
            print(f"  {line}", file=err)
        break
    err.flush()
    return 1
