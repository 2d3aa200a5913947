#!/usr/bin/env bash
# Claims on directories, so that two runs of a recipe stage never work on one; source it:
#   . utils/lib/claim.sh   (after utils/lib/log.sh)
#
#   claim_dir DIR WHAT   makes DIR/.claim (mkdir is atomic) naming this run's pid and host; when a
#                        live run holds it already, prints who, on the console, and returns 1. A
#                        claim left by a run that no longer runs on this host is taken over, said.
#   release_claims       removes the claims this run made (emo.sh calls it on exit)
#
# Taken by the driving shell before its job starts, a claim keeps the loser from touching the
# winner's logs and job files: the trainer's own lock (mer.utils.lock) is only taken once the job
# runs, after its log file has been opened.

_mer_claims=()

claim_dir() {
  local dir=$1 what=$2 claim pid host
  claim="${dir}/.claim"
  mkdir -p "${dir}"
  while ! mkdir "${claim}" 2>/dev/null; do
    pid='' host=''
    read -r pid host < "${claim}/owner" 2>/dev/null || true
    if [ -n "${pid}" ] && [ "${host}" = "${HOSTNAME}" ] && ! kill -0 "${pid}" 2>/dev/null; then
      log "taking over the claim on ${what} from pid ${pid}, which no longer runs"
      rm -rf "${claim}"
      continue
    fi
    log "${what}: another run holds it: pid ${pid:-unknown} on ${host:-an unknown host} (${claim}); wait" \
        "for it to finish, or stop it (remove ${claim} if no run is using it)"
    return 1
  done
  printf '%s %s\n' "$$" "${HOSTNAME}" > "${claim}/owner"
  _mer_claims+=("${claim}")
}

release_claims() {
  local claim pid host
  for claim in ${_mer_claims[@]+"${_mer_claims[@]}"}; do
    pid='' host=''
    read -r pid host < "${claim}/owner" 2>/dev/null || true
    [ "${pid}" = "$$" ] && rm -rf "${claim}"
  done
  _mer_claims=()
}
