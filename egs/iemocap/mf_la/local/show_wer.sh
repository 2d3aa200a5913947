#!/usr/bin/env bash
# Print the WER of the transcription step (stage 2) from its wer.json, beside the paper's figure.
# Usage: local/show_wer.sh [dump/asr_whisper/wer.json]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/..
. ./path.sh
wer_json=${1:-dump/asr_whisper/wer.json}
[ -f "${wer_json}" ] || { echo "$0: ${wer_json} not found: run stage 2 (it transcribes data/all)" >&2; exit 1; }
"${MER_PYTHON}" - "${wer_json}" <<'PY'
import json, sys
w = json.load(open(sys.argv[1], encoding="utf-8"))
rate = "n/a" if w["wer"] is None else f"{100 * w['wer']:.2f} %"
print(f"ASR WER ({sys.argv[1]}): {rate} over {w['num_utts']} utterances, {w['ref_words']} reference words "
      f"(S {w['substitutions']}, D {w['deletions']}, I {w['insertions']}; normalisation: "
      f"{w['normalisation']['name']}); the paper reports 33.87 % for Whisper-small on IEMOCAP")
PY
