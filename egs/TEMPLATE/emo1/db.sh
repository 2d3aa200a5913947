# shellcheck shell=bash
# Where the corpora are: one variable per registered corpus (python -m mer.bin.corpora list), each
# defaulting to downloads/<corpus> inside the recipe; the open ones (EmoDB, MELD) are fetched there by
# stage 0 (./run.sh --stage 0 --stop_stage 0). Nothing here names a corpus: a new corpus module
# brings its variable. Order of precedence: the environment (export EMODB=/data/emodb), then
# db_local.sh beside run.sh, then db_local.sh at the top of the repository (a site's, for every
# recipe; both git-ignored), then the corpus's default. Write db_local.sh lines in the same form,
# so that the environment still wins:   EMODB=${EMODB:-/data/emodb}
if [ -z "${MER_PYTHON:-}" ] || [ -z "${MER_ROOT:-}" ]; then
  # shellcheck source=../../../utils/lib/python.sh
  . "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../../utils/lib/python.sh"
fi
if [ -f db_local.sh ]; then
  # shellcheck source=/dev/null
  . ./db_local.sh
fi
if [ -f "${MER_ROOT}/db_local.sh" ]; then
  # shellcheck source=/dev/null
  . "${MER_ROOT}/db_local.sh"
fi
_mer_db_lines=$("${MER_PYTHON}" -m mer.bin.corpora db-sh) || {
  echo "db.sh: python -m mer.bin.corpora db-sh failed (see above); corpus locations are not set" >&2
  return 1
}
eval "${_mer_db_lines}"
unset _mer_db_lines
