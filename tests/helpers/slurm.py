"""A stand-in for Slurm's sbatch, for tests of the Slurm job backend and of what runs through it."""
from __future__ import annotations

import os
from pathlib import Path

# Real Slurm is not available here, so sbatch is stood in for by a script that executes what it
# is given: it records its argv, insists on --parsable, --wait and --array, prints a job id and
# runs the array tasks one after another with SLURM_ARRAY_TASK_ID set, writing each task's output
# where --output says. FAKE_SBATCH_SKIP=T leaves task T unrun (as if Slurm had killed it).
FAKE_SBATCH = r"""#!/usr/bin/env bash
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
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["FAKE_SBATCH_ARGV"] = str(tmp_path / "sbatch.argv")
    return env
