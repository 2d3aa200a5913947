"""utils/parse_options.sh (Kaldi-style option parsing) and utils/lib/log.sh, driven through bash."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

ROOT = REPO
PARSE_OPTIONS = ROOT / "utils" / "parse_options.sh"
LOG_SH = ROOT / "utils" / "lib" / "log.sh"

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=1           # first stage to run
stop_stage=10000  # last stage to run
nj=4              # number of parallel jobs
ngpu=0            # GPUs for training
use_fp16=false    # mixed precision (true|false)
train_set="train nodev"  # training "set" # with a hash
asr_args=         # extra arguments
help_message="Usage: $0 [options] <data-dir> <exp-dir>"
. {PARSE_OPTIONS}
for v in stage stop_stage nj ngpu use_fp16 train_set asr_args; do
  printf '%s=%s\\n' "$v" "${{!v}}"
done
printf 'nargs=%s\\n' "$#"
for a in "$@"; do printf 'arg=<%s>\\n' "$a"; done
# parse_options leaves no helpers behind
printf 'leftover=%s\\n' "$(compgen -v _po_ || true)$(compgen -A function _po_ || true)"
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    p = tmp_path / "run.sh"
    p.write_text(SCRIPT)
    return p


def run(script: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          cwd=script.parent, env=env, timeout=60)


def values(proc: subprocess.CompletedProcess) -> dict[str, str]:
    assert proc.returncode == 0, proc.stderr
    out: dict[str, str] = {}
    args = []
    for line in proc.stdout.splitlines():
        k, _, v = line.partition("=")
        if k == "arg":
            args.append(v[1:-1])
        else:
            out[k] = v
    out["args"] = args  # type: ignore[assignment]
    return out


def test_defaults_and_no_leftovers(script):
    v = values(run(script))
    assert v["stage"] == "1" and v["stop_stage"] == "10000" and v["train_set"] == "train nodev"
    assert v["nargs"] == "0" and v["leftover"] == ""


@pytest.mark.parametrize("opt", ["--stop-stage", "--stop_stage"])
def test_dashes_and_underscores(script, opt):
    v = values(run(script, opt, "3", "--train-set", "a b", "--asr_args", "--max_epoch 1"))
    assert v["stop_stage"] == "3" and v["train_set"] == "a b" and v["asr_args"] == "--max_epoch 1"


def test_equals_form(script):
    v = values(run(script, "--nj=8", "--asr-args=--lr=0.1 --x", "--stage=", "--stop-stage=5"))
    assert v["nj"] == "8" and v["asr_args"] == "--lr=0.1 --x" and v["stage"] == ""
    assert v["stop_stage"] == "5"


def test_unknown_option_is_an_error(script):
    proc = run(script, "--nj", "2", "--bogus-opt", "1")
    assert proc.returncode == 1
    assert "unknown option '--bogus-opt'" in proc.stderr
    assert "--stage --stop_stage --nj" in proc.stderr  # lists the valid ones
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [["--nj"], ["--help_message", "x"], ["--PATH", "/x"]])
def test_missing_value_or_non_option_variables(script, args):
    proc = run(script, *args)
    assert proc.returncode == 1, proc.stdout
    assert args[0] in proc.stderr


def test_bool_options_accept_only_true_false(script):
    assert values(run(script, "--use-fp16", "true"))["use_fp16"] == "true"
    for bad in (["--use-fp16", "yes"], ["--use_fp16=1"], ["--use-fp16", ""]):
        proc = run(script, *bad)
        assert proc.returncode == 1
        assert "takes true or false" in proc.stderr


def test_empty_cmd_rejected(tmp_path):
    p = tmp_path / "s.sh"
    p.write_text(f"set -euo pipefail\ncmd=utils/local_cmd.sh\n. {PARSE_OPTIONS}\necho \"$cmd\"\n")
    assert run(p, "--cmd", "x").stdout == "x\n"
    proc = run(p, "--cmd", "")
    assert proc.returncode == 1 and "empty argument to the --cmd" in proc.stderr


def test_config_file(script, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("# overrides\nnj=16\nuse_fp16=true\ntrain_set='from conf'\n")
    v = values(run(script, "--config", str(conf), "x"))
    assert (v["nj"], v["use_fp16"], v["train_set"], v["args"]) == ("16", "true", "from conf", ["x"])
    # As in Kaldi, the config is sourced first: the command line wins wherever it appears.
    for args in (["--nj", "2", "--config", str(conf)], ["--config", str(conf), "--nj", "2"],
                 [f"--config={conf}", "--nj=2"]):
        v = values(run(script, *args))
        assert v["nj"] == "2" and v["use_fp16"] == "true"


def test_config_file_errors(script, tmp_path):
    proc = run(script, "--config", str(tmp_path / "missing.conf"))
    assert proc.returncode == 1 and "cannot read" in proc.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("nj=3\nnum_job=4\n")
    proc = run(script, "--config", str(bad))
    assert proc.returncode == 1 and "unknown option(s): num_job" in proc.stderr
    bad.write_text("use_fp16=1\n")
    proc = run(script, "--config", str(bad))
    assert proc.returncode == 1 and "takes true or false" in proc.stderr


def test_positional_arguments_kept(script):
    v = values(run(script, "--nj", "3", "data/train", "exp/a b", "--stage", "7"))
    assert v["nj"] == "3" and v["stage"] == "1"  # parsing stops at the first positional
    assert v["args"] == ["data/train", "exp/a b", "--stage", "7"]
    v = values(run(script, "--nj", "3", "--", "--stage", ""))
    assert v["args"] == ["--stage", ""] and v["stage"] == "1"
    v = values(run(script, "", "x"))  # an empty first argument is positional, not the end
    assert v["args"] == ["", "x"]


def test_environment_variable_defaults_still_parse(script):
    env = dict(os.environ, nj="7")  # exported, then reset by the script's default
    v = values(run(script, "--nj", "9", env=env))
    assert v["nj"] == "9"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_message_and_defaults(script, tmp_path, flag):
    conf = tmp_path / "c.conf"
    conf.write_text("nj=16\n")
    proc = run(script, "--config", str(conf), "--stage", "3", flag)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"Usage: {script} [options] <data-dir> <exp-dir>\n")
    assert re.search(r"--stage 3 +# first stage to run\n", out)  # current values
    assert re.search(r"--nj 16 +# number of parallel jobs\n", out)
    assert re.search(r'--train_set "train nodev" +# training "set" # with a hash\n', out)
    assert re.search(r'--asr_args "" +# extra arguments\n', out)
    assert "--use_fp16 false" in out and "--config FILE" in out
    # options in the order the script defines them; nothing of the script after parsing ran
    assert out.index("--stage") < out.index("--stop_stage") < out.index("--asr_args")
    assert "nargs=" not in out


def test_help_without_help_message(tmp_path):
    p = tmp_path / "s.sh"
    p.write_text(f"set -euo pipefail\nfoo_bar=1\n. {PARSE_OPTIONS}\n")
    proc = run(p, "--help")
    assert proc.returncode == 0 and "Usage:" in proc.stdout and "--foo_bar 1" in proc.stdout


def test_works_inside_a_function_without_touching_callers(tmp_path):
    p = tmp_path / "s.sh"
    p.write_text(f"set -euo pipefail\nf() {{\n  local nj=1\n  . {PARSE_OPTIONS}\n"
                 f"  echo \"nj=$nj rest=$*\"\n}}\nnj=global\nf --nj 5 a\necho \"after=$nj\"\n")
    proc = run(p)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "nj=5 rest=a\nafter=global\n"


def test_log_and_die(tmp_path):
    p = tmp_path / "stage.sh"
    p.write_text(f"set -euo pipefail\n. {LOG_SH}\nlog \"hello $#\"\n"
                 "f() { log 'in f'; }\nf\ndie --code 3 'bad thing'\necho unreachable\n")
    proc = run(p, "a")
    assert proc.returncode == 3
    lines = proc.stderr.splitlines()
    ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
    assert re.fullmatch(ts + r" \(stage\.sh:3:main\) hello 1", lines[0])
    assert re.fullmatch(ts + r" \(stage\.sh:4:f\) in f", lines[1])
    assert re.fullmatch(ts + r" \(stage\.sh:6:main\) bad thing", lines[2])
    assert proc.stdout == ""
    p.write_text(f". {LOG_SH}\ndie 'plain'\n")
    assert run(p).returncode == 1


def test_shellcheck():
    sc = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    if not Path(sc).exists():
        pytest.skip("shellcheck not installed")
    proc = subprocess.run([sc, "-S", "warning", str(PARSE_OPTIONS), str(LOG_SH)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
