"""Job backends with the interface of Kaldi's run.pl / slurm.pl.

    <cmd> [--mem 4G] [--num-threads N] [--gpu N] [--time T] [--max-jobs-run K]
          [--config conf/slurm.conf] [JOB=1:N] log/x.JOB.log command args...

``<cmd>`` is ``utils/local_cmd.sh`` or ``utils/slurm_cmd.sh`` (thin wrappers around
``python -m mer.bin.run_jobs --backend local|slurm``); recipes put it in ``cmd.sh`` as
``train_cmd``/``cuda_cmd``/``decode_cmd``.

Job array
    ``JOB=1:N`` (any variable name, any start <= end; ``JOB=5`` is the single job 5) runs N
    jobs. Every occurrence of the name is replaced by the job number in the log file name and
    in the command arguments (plain substring replacement, as in Kaldi, so ``feats_JOB.scp``
    works). Without ``JOB=...`` a single job runs and nothing is substituted. Options may come
    before or after the ``JOB=`` argument; ``--name value`` and ``--name=value`` both work and
    dashes in names equal underscores.

Command
    The arguments are joined into one string that ``bash -c`` runs. Every argument is quoted and
    reaches the program as one literal word (``"ark:gunzip -c x.JOB.gz |"``, a path with a space,
    ``;`` or ``$(...)`` in it), except an argument that is exactly a shell operator (``|``, ``>``,
    ``>>``, ``<``, ``&&``, ``||``, ``;``, ``2>&1``): pipelines passed as separate words work as
    in Kaldi: ``$cmd log/x.log sort a.txt \\| uniq \\> b.txt``. ``$VAR`` and globs are not
    expanded (run ``bash -c '...'`` as the command for that).

Log files
    The log directory is created. Each log starts with ``# <command>`` and ``# Started at
    <date>`` (then ``# Running on <host>``), holds the job's stdout and stderr, and ends with
    ``# Accounting: time=<seconds> threads=<n>`` and ``# Ended (code <status>) at <date>``.

Failure
    If any job fails, the call exits 1 after all jobs finished and prints
    ``<backend>: N / M failed, log is in <first failed log>`` followed by the last 20 lines
    of that log (the summary line alone is rarely enough to diagnose anything). A usage error
    exits 2; an interruption (SIGINT/SIGTERM/SIGHUP) kills the running jobs and exits 128+signal.

Backends
    local  Runs the jobs on this machine, at most ``--max-jobs-run`` at a time (default: the
           number of CPUs available to this process divided by ``--num-threads``). With
           ``--gpu N`` (N > 0) each running job gets N GPUs of its own through
           CUDA_VISIBLE_DEVICES, chosen from an existing CUDA_VISIBLE_DEVICES or else from
           ``nvidia-smi -L`` (MIG instances by UUID), and concurrency is capped at
           (number of GPUs) // N. No GPU flag is ever passed to the program: it sees its GPUs
           as devices 0..N-1. ``--mem``, ``--time`` and ``--config`` are accepted and ignored;
           other unknown options are ignored with a warning (they may be meaningful to a
           cluster backend configured in the same cmd.sh). Jobs get stdin from /dev/null.
    slurm  Writes one batch script per call to ``<logdir>/q/<name>.sh`` (``<logdir>``: the
           directory of the first job's log; ``<name>``: the log file name without the job
           variable and ``.log``) and submits it as ONE array job,
           ``sbatch ... --parsable --wait --array=1-N[%K] <script>`` (K: ``--max-jobs-run``).
           Array task T runs job start+T-1: it ``cd``s to the submitting directory, sources
           ``./path.sh`` if present (the default config exports only PATH, as in Kaldi), runs
           the command with ``bash -c`` and writes the log (same header and footer as local)
           and its exit status to ``<logdir>/q/done.<name>.<job>``. When ``sbatch --wait``
           returns, the statuses are read back (waiting up to ``MER_SLURM_DONE_WAIT`` seconds,
           default 30, for files that a shared file system has not shown yet); a task without a
           status file (killed for time or memory, cancelled) counts as failed and its Slurm
           output ``q/<name>.<task>.out`` is named. Nothing uses ``srun``: each array task is a
           single process tree started by sbatch's batch step, which is all these jobs need
           (multi-GPU training runs ``torchrun`` inside one task). Interrupting the call
           runs ``scancel`` on the array job.

           Generic options are mapped to sbatch flags by a config file in Kaldi's slurm.pl
           format, searched as ``--config FILE``, else ``conf/slurm.conf`` in the current
           directory (as Kaldi does), else :data:`DEFAULT_SLURM_CONF`::

               command sbatch --export=PATH       # the submit command and its fixed flags
               option mem=* --mem-per-cpu $0      # --mem 4G      -> --mem-per-cpu 4G
               option gpu=0                       # --gpu 0       -> nothing
               option gpu=* -p gpu --gres=gpu:$0  # --gpu 2       -> -p gpu --gres=gpu:2
               default gpu=0                      # value used when the option is not given

           ``option NAME=VALUE`` (exact value) wins over ``option NAME=*``; ``$0`` is the value.
           An option given on the command line that the config does not describe is an error.
           As in Kaldi, ``--mem`` is per CPU (``--mem-per-cpu``): with ``--num-threads 4
           --mem 4G`` a job gets 16G.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Sequence

__all__ = [
    "DEFAULT_SLURM_CONF",
    "JobArray",
    "JobResult",
    "LocalBackend",
    "SlurmBackend",
    "SlurmConfig",
    "UsageError",
    "die_with_parent",
    "main",
    "parse_job_args",
    "run_array",
    "shell_join",
    "summarize_failures",
    "visible_gpus",
]

#: Used by the slurm backend when neither ``--config`` nor ``conf/slurm.conf`` exists; also
#: shipped as ``utils/conf/slurm.conf`` for recipes to copy into ``conf/`` and edit.
DEFAULT_SLURM_CONF = """\
# Slurm configuration for utils/slurm_cmd.sh, in the format of Kaldi's slurm.pl.
# Copy it to conf/slurm.conf in a recipe and adapt partitions and limits to your site.
#   command SUBMIT-COMMAND       the submit command and the flags every job gets
#   option NAME=* FLAGS          FLAGS for --NAME VALUE, with $0 replaced by VALUE
#   option NAME=VALUE [FLAGS]    FLAGS (possibly none) for exactly that value; wins over NAME=*
#   default NAME=VALUE           the value used when --NAME is not given
# --max-jobs-run K is built in (--array=1-N%K) and needs no line here.
# Only PATH is exported; each job sources ./path.sh (if present) from the recipe directory.
command sbatch --export=PATH
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
default num_threads=1
option time=* --time $0
option gpu=* -p gpu --gres=gpu:$0
option gpu=0
default gpu=0
"""

# Options every backend understands without a config line.
_INT_OPTIONS = {"max_jobs_run": 1, "gpu": 0, "num_threads": 1}  # name -> minimum value
_LOCAL_IGNORED = {"mem", "time", "config"}
_TAIL_LINES = 20
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


def _date() -> str:
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


def _header_comment(command: str) -> str:
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
            if name in _INT_OPTIONS:
                try:
                    ok = int(value) >= _INT_OPTIONS[name]
                except ValueError:
                    ok = False
                if not ok:
                    raise UsageError(f"--{name.replace('_', '-')} needs an integer >= "
                                     f"{_INT_OPTIONS[name]}, got {value!r}")
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


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class _SignalTrap:
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


def run_array(cmd: str, nj: int, log_pattern: str | os.PathLike, job_cmd: Sequence[str],
              progress=None, total: int = 0, desc: str = "") -> int:
    """Run `job_cmd` (holding JOB) as jobs JOB=1..nj through `cmd`, a launcher with run.pl's
    interface (cmd.sh's feats_cmd; empty: local processes). The launcher, and through it every job,
    ends with the calling process, however that ends. Returns the launcher's exit status.

    `progress()`, if given, returns how many of `total` items the jobs have done so far (the jobs
    write it to files, so it works through any backend that shares the file system); one progress
    line over all jobs is shown on stderr while they run."""
    launcher = shlex.split(cmd) if cmd else [sys.executable, "-m", "mer.bin.run_jobs", "--backend", "local"]
    proc = subprocess.Popen([*launcher, f"JOB=1:{nj}", str(log_pattern), *job_cmd],
                            preexec_fn=die_with_parent(os.getpid()))
    if progress is None:
        return proc.wait()
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="utt", dynamic_ncols=True,
              mininterval=1.0 if sys.stderr.isatty() else 60.0) as bar:
        while proc.poll() is None:
            time.sleep(1.0)
            bar.update(max(0, min(total, progress()) - bar.n))
        bar.update(max(0, min(total, progress()) - bar.n))
    return proc.returncode


class LocalBackend:
    name = "local"

    def __init__(self, err: IO[str] | None = None):
        self.err = err if err is not None else sys.stderr

    def plan(self, array: JobArray) -> tuple[int, list[str | None]]:
        """(max concurrent jobs, one CUDA_VISIBLE_DEVICES value per slot or [None] * K)."""
        threads = array.int_option("num_threads", 1)
        k = array.int_option("max_jobs_run", max(1, _cpu_count() // threads))
        ngpu = array.int_option("gpu", 0)
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
            if name not in _INT_OPTIONS and name not in _LOCAL_IGNORED:
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

        with _SignalTrap(kill_all) as trap:
            while pending or running:
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
                            f.write(f"{_header_comment(command)}\n# Started at {_date()}\n"
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
                              f"\n# Ended (code {res.code}) at {_date()}\n".encode())
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


# ----------------------------------------------------------------------------------------------
# Slurm backend


@dataclass
class SlurmConfig:
    """A Kaldi slurm.pl-style config: ``command``, ``option NAME=VALUE|* FLAGS``, ``default``."""

    command: list[str]
    rules: dict[str, dict[str, str]]  # name -> {value or "*": flags template}
    defaults: dict[str, str]
    source: str = "<default>"

    @classmethod
    def parse(cls, text: str, source: str = "<default>") -> "SlurmConfig":
        command: list[str] | None = None
        rules: dict[str, dict[str, str]] = {}
        defaults: dict[str, str] = {}
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            key, _, rest = line.partition(" ")
            rest = rest.strip()
            if key == "command":
                if not rest:
                    raise UsageError(f"{source}:{n}: 'command' needs the submit command")
                command = shlex.split(rest)
            elif key in ("option", "default"):
                spec, _, flags = rest.partition(" ")
                name, eq, value = spec.partition("=")
                if not eq or not name or not value:
                    raise UsageError(f"{source}:{n}: expected '{key} NAME=VALUE ...', got {raw!r}")
                name = name.replace("-", "_")
                if key == "option":
                    rules.setdefault(name, {})[value] = flags.strip()
                else:
                    if flags.strip():
                        raise UsageError(f"{source}:{n}: 'default {spec}' takes no flags")
                    defaults[name] = value
            else:
                raise UsageError(f"{source}:{n}: unknown keyword {key!r} "
                                 "(expected command, option or default)")
        if command is None:
            raise UsageError(f"{source}: no 'command' line")
        for name in defaults:
            if name not in rules:
                raise UsageError(f"{source}: 'default {name}=...' without an 'option {name}=' line")
        return cls(command, rules, defaults, source)

    @classmethod
    def load(cls, path: str | None) -> "SlurmConfig":
        if path is None:
            if Path("conf/slurm.conf").is_file():
                path = "conf/slurm.conf"
            else:
                return cls.parse(DEFAULT_SLURM_CONF)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read the Slurm config {path}: {e.strerror}") from e
        return cls.parse(text, path)

    def value(self, name: str, options: dict[str, str]) -> str | None:
        return options.get(name, self.defaults.get(name))

    def submit_args(self, options: dict[str, str]) -> list[str]:
        """The submit command plus the flags for ``options`` (generic name -> value)."""
        for name in options:
            if name not in self.rules:
                raise UsageError(f"option --{name} is not described in {self.source} (it has: "
                                 + ", ".join(f"--{r}" for r in self.rules) + ")")
        args = list(self.command)
        for name, by_value in self.rules.items():
            value = self.value(name, options)
            if value is None:
                continue
            template = by_value.get(value, by_value.get("*"))
            if template is None:
                raise UsageError(f"--{name} {value}: {self.source} has no 'option {name}={value}' "
                                 f"or 'option {name}=*' line")
            args += shlex.split(template.replace("$0", shlex.quote(value)))
        return args


class SlurmBackend:
    name = "slurm"

    def __init__(self, err: IO[str] | None = None, done_wait: float | None = None,
                 poll: float = 1.0):
        self.err = err if err is not None else sys.stderr
        if done_wait is None:
            done_wait = float(os.environ.get("MER_SLURM_DONE_WAIT", "30"))
        self.done_wait = done_wait
        self.poll = poll

    @staticmethod
    def job_name(array: JobArray) -> str:
        base = os.path.basename(array.log_pattern)
        if array.jobvar:
            base = base.replace("." + array.jobvar, "").replace(array.jobvar, "")
        base = re.sub(r"\.log$", "", base)
        return re.sub(r"[^\w.+-]", "_", base) or "job"

    def write_script(self, array: JobArray, qdir: Path, name: str, threads: int,
                     argv: list[str]) -> Path:
        cases = []
        for task, job in enumerate(array.ids, 1):
            command = array.command_of(job)
            cases.append(f"  {task}) job={job} log={shlex.quote(array.log_of(job))} "
                         f"cmd={shlex.quote(command)}\n"
                         f"     hdr={shlex.quote(_header_comment(command))} ;;")
        done = shlex.quote(str(qdir / f"done.{name}."))
        script = qdir / f"{name}.sh"
        script.write_text(f"""#!/bin/bash
# Written by mer.jobs (utils/slurm_cmd.sh) at {_date()}; submitted as
#   {shlex.join(argv)}
# Array task T runs job {array.start}+T-1, writes its log and its exit status to {done}<job>.
cd {shlex.quote(os.getcwd())} || exit 1
# As in Kaldi's slurm.pl: the recipe's path.sh restores the environment (only PATH is exported).
if [ -f ./path.sh ]; then . ./path.sh; fi
task=${{SLURM_ARRAY_TASK_ID:?this script must run as a Slurm array task}}
case $task in
{chr(10).join(cases)}
  *) echo "$0: no job for array task $task" >&2; exit 1 ;;
esac
mkdir -p -- "$(dirname -- "$log")" || exit 1
{{
  printf '%s\\n' "$hdr"
  echo "# Started at $(date)"
  echo "# Running on $(hostname) (Slurm job ${{SLURM_ARRAY_JOB_ID:-?}}_$task)"
}} > "$log" || exit 1
SECONDS=0
bash -c "$cmd" >> "$log" 2>&1 < /dev/null
ret=$?
{{
  echo "# Accounting: time=$SECONDS threads={threads}"
  echo "# Ended (code $ret) at $(date)"
}} >> "$log"
echo "$ret" > {done}"$job.tmp" && mv -f {done}"$job.tmp" {done}"$job"
exit "$ret"
""", encoding="utf-8")
        script.chmod(0o755)
        return script

    def run(self, array: JobArray) -> list[JobResult]:
        options = dict(array.options)
        max_jobs = options.pop("max_jobs_run", None)
        conf = SlurmConfig.load(options.pop("config", None))
        submit = conf.submit_args(options)
        threads = int(conf.value("num_threads", options) or 1)
        name = self.job_name(array)
        qdir = Path(array.log_of(array.start)).parent / "q"
        qdir.mkdir(parents=True, exist_ok=True)
        qdir = qdir.resolve()
        for old in qdir.glob(f"done.{name}.*"):
            old.unlink()
        n = len(array.ids)
        argv = submit + [
            "--parsable", "--wait", f"--array=1-{n}" + (f"%{max_jobs}" if max_jobs else ""),
            f"--job-name={name}", f"--output={qdir / name}.%a.out", str(qdir / f"{name}.sh"),
        ]
        self.write_script(array, qdir, name, threads, argv)
        slurm_id = None
        proc = None

        def cancel(signum, count):
            if slurm_id:
                subprocess.run(["scancel", slurm_id], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if proc is not None and proc.poll() is None:
                proc.terminate()

        with _SignalTrap(cancel) as trap:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        text=True)
            except OSError as e:
                raise UsageError(f"cannot run {argv[0]}: {e.strerror}") from e
            assert proc.stdout is not None
            for line in proc.stdout:
                if slurm_id is None and line.strip():
                    slurm_id = line.strip().split(";")[0]
                    if trap.signum is not None:  # signal arrived before we knew the id
                        cancel(trap.signum, 1)
            rc = proc.wait()
            if trap.signum is not None:
                print(f"{self.name}: interrupted; cancelled Slurm job {slurm_id}", file=self.err)
                raise Interrupted(trap.signum)
        if slurm_id is None:
            raise UsageError(f"{shlex.join(argv)} failed (code {rc}) without submitting a job")

        done = {job: qdir / f"done.{name}.{job}" for job in array.ids}
        deadline = time.monotonic() + self.done_wait
        while not all(p.exists() for p in done.values()) and time.monotonic() < deadline:
            time.sleep(self.poll)
        results = []
        for task, job in enumerate(array.ids, 1):
            res = JobResult(job, array.log_of(job), None)
            try:
                res.code = int(done[job].read_text().strip())
            except (OSError, ValueError):
                res.other_log = str(qdir / f"{name}.{task}.out")
                res.note = (f"array task {slurm_id}_{task} left no exit status in {done[job]} "
                            f"(killed, cancelled or out of time/memory?); Slurm's output is in "
                            f"{res.other_log}")
            results.append(res)
        return results


# ----------------------------------------------------------------------------------------------


def _tail(path: str, n: int = _TAIL_LINES, max_bytes: int = 256 * 1024) -> list[str] | None:
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
        lines = _tail(path)
        if lines is None:
            continue
        print(f"{backend}: last {len(lines)} lines of {path}:", file=err)
        for line in lines:
            print(f"  {line}", file=err)
        break
    err.flush()
    return 1


BACKENDS = {"local": LocalBackend, "slurm": SlurmBackend}


def main(backend: str, argv: Sequence[str], err: IO[str] | None = None) -> int:
    """Run ``argv`` (``[options] [JOB=a:b] log command...``) on ``backend``; return exit code."""
    err = err if err is not None else sys.stderr
    try:
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        array = parse_job_args(argv)
        results = BACKENDS[backend](err=err).run(array)
    except UsageError as e:
        print(f"{backend}: {e}", file=err)
        return 2
    except Interrupted as e:
        return 128 + e.signum
    return summarize_failures(backend, results, err)
