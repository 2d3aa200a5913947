# shellcheck shell=bash
# Where the corpora are: one variable per corpus. Set them here for your site, or export them
# before running a recipe (the environment wins). Each defaults to downloads/<corpus> inside the
# recipe; the open ones (EmoDB, MELD) are fetched there by stage 0: ./run.sh --stage 0 --stop_stage 0
IEMOCAP=${IEMOCAP:-downloads/iemocap}   # IEMOCAP_full_release (licensed: request it from USC SAIL)
ESD=${ESD:-downloads/esd}               # Emotion Speech Dataset (licensed: request it from its authors)
MELD=${MELD:-downloads/meld}            # MELD.Raw (media + CSVs), or a folder with the three CSVs
MOSEI=${MOSEI:-downloads/mosei}         # CMU_MOSEI (Raw/ and CMU_MOSEI_Labels.csd)
EMODB=${EMODB:-downloads/emodb}         # Berlin EmoDB (open)
export IEMOCAP ESD MELD MOSEI EMODB
