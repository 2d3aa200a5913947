"""The Slurm backend: one sbatch array job, flags mapped by a slurm.conf (Kaldi's slurm.pl format)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mer.jobs.common import Interrupted, JobArray, JobResult, SignalTrap, UsageError, log_header, now_date


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
option num_nodes=* --nodes $0 --ntasks-per-node 1
option num_nodes=1
"""


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
                         f"     hdr={shlex.quote(log_header(command))} ;;")
        done = shlex.quote(str(qdir / f"done.{name}."))
        script = qdir / f"{name}.sh"
        script.write_text(f"""#!/bin/bash
# Written by mer.jobs (utils/slurm_cmd.sh) at {now_date()}; submitted as
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

        with SignalTrap(cancel) as trap:
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
