# shellcheck shell=bash
# Where the corpora are: one variable per corpus. Set them here for your site, or export them
# before running a recipe (the environment wins). Paths only; no hostname logic.
IEMOCAP=${IEMOCAP:-}   # .../IEMOCAP_full_release
ESD=${ESD:-}           # .../Emotion Speech Dataset (or ESD)
MELD=${MELD:-}         # .../MELD.Raw (media + CSVs), or the folder with the CSVs for text-only runs
MOSEI=${MOSEI:-}       # .../CMU_MOSEI (Raw/ and CMU_MOSEI_Labels.csd)
# Berlin EmoDB is open; this repository's CI finds a copy beside it.
EMODB=${EMODB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/../shared/data/emodb}
export IEMOCAP ESD MELD MOSEI EMODB
