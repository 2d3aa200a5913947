"""Stand-ins for Slurm (no Slurm here) that record the command lines they receive: an sbatch that
runs job arrays (the Slurm job backend, `fake_slurm_env`), and sbatch, scontrol and srun for the
multi-node launch (mer.jobs.nodes) through utils/slurm_cmd.sh (`slurm_stand_ins`)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

# sbatch: records its argv, runs the script once (array task 1) as the batch step of an allocation
# of --nodes nodes, with the SLURM_* variables Slurm sets and, as --export=PATH does, PATH alone.
FAKE_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$STAND_IN_DIR/sbatch.argv"
nodes=1 output= prev=
for a in "$@"; do
  case $prev in --nodes) nodes=$a ;; esac
  case $a in --output=*) output=${a#--output=} ;; esac
  prev=$a
done
echo 777
env -i PATH="$PATH" STAND_IN_DIR="$STAND_IN_DIR" STAND_IN_FIRST="$STAND_IN_FIRST" SLURM_EXPORT_ENV=PATH \
  SLURM_JOB_ID=777 SLURM_ARRAY_JOB_ID=777 SLURM_ARRAY_TASK_ID=1 SLURM_CPUS_PER_TASK=3 \
  SLURM_JOB_NUM_NODES="$nodes" SLURM_JOB_NODELIST="first[0-$((nodes - 1))]" bash "${!#}" > "${output//%a/1}" 2>&1
"""
# scontrol show hostnames: this machine first (the batch step runs on the first node), then others.
FAKE_SCONTROL = r"""#!/usr/bin/env bash
[ "$1 $2" = "show hostnames" ] || exit 1
echo "$STAND_IN_FIRST"; echo other1; echo other2
"""
# srun: records its argv and the PYTHONPATH its tasks would get: as in Slurm, --export defaults to
# SLURM_EXPORT_ENV (which sbatch --export=PATH sets), and only --export=ALL passes the rest on.
FAKE_SRUN = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$STAND_IN_DIR/srun.argv"
export_env=${SLURM_EXPORT_ENV:-ALL}
for a in "$@"; do case $a in --export=*) export_env=${a#--export=} ;; esac; done
if [ "$export_env" = ALL ]; then echo "${PYTHONPATH:-unset}"; else echo unset; fi > "$STAND_IN_DIR/srun.pythonpath"
"""


def first_node() -> str:
    """The allocation's first node as the stand-in scontrol names it: this machine."""
    return socket.gethostname().split(".")[0]


def slurm_stand_ins(record_dir: Path) -> dict:
    """The environment with the stand-ins first on PATH; they record into ``record_dir``
    (sbatch.argv, srun.argv, srun.pythonpath)."""
    bin_dir = record_dir / "slurm-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("sbatch", FAKE_SBATCH), ("scontrol", FAKE_SCONTROL), ("srun", FAKE_SRUN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STAND_IN_DIR": str(record_dir),
            "STAND_IN_FIRST": first_node()}


def recorded(record_dir: Path, name: str) -> list[str]:
    return (record_dir / f"{name}.argv").read_text().splitlines()


def split_srun(srun: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """The argv srun received, split: srun's own flags (``--x=y``), the agent's torchrun options by
    name, and what follows them (``-m MODULE ARGS...``)."""
    agent = next(i for i, a in enumerate(srun) if not a.startswith("-"))  # the agent's python
    torchrun = srun[agent:]
    assert torchrun[1:3] == ["-m", "torch.distributed.run"], srun
    module = torchrun.index("-m", 3)
    return srun[:agent], dict(zip(torchrun[3:module:2], torchrun[4:module:2])), torchrun[module:]


# ------------------------------------------------------------------ job arrays
# Real Slurm is not available here, so sbatch is stood in for by a script that executes what it
# is given: it records its argv, insists on --parsable, --wait and --array, prints a job id and
# runs the array tasks one after another with SLURM_ARRAY_TASK_ID set, writing each task's output
# where --output says. FAKE_SBATCH_SKIP=T leaves task T unrun (as if Slurm had killed it).
ARRAY_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$FAKE_SBATCH_ARGV"
array= wait=no parsable=no output=
for a in "$@"; do
  case $a in
    --array=*) array=${a#--array=} ;;
    --wait) wait=yes ;;
    --parsable) parsable=yes ;;
    --output=*) output=${a#--output=} ;;
  esac
done
script=${!#}
if [ "$wait" != yes ] || [ "$parsable" != yes ] || [ -z "$array" ] || [ ! -f "$script" ]; then
  echo "sbatch: error: expected --parsable --wait --array=... SCRIPT" >&2; exit 1
fi
range=${array%%\%*}
echo 4242
ret=0
for ((t = ${range%-*}; t <= ${range#*-}; t++)); do
  [ "$t" = "${FAKE_SBATCH_SKIP:-}" ] && continue
  SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$t bash "$script" > "${output//%a/$t}" 2>&1
  rc=$?
  [ "$rc" -le "$ret" ] || ret=$rc
done
exit "$ret"
"""


def fake_slurm_env(tmp_path: Path) -> dict:
    """The environment with the fake sbatch first on PATH; it records its argv in tmp_path/sbatch.argv."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(ARRAY_SBATCH)
    sbatch.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["FAKE_SBATCH_ARGV"] = str(tmp_path / "sbatch.argv")
    return env
