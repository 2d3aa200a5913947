#!/usr/bin/env bash
# Copyright 2025 The mer authors.
# Licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0).
#
# Logging helpers for recipe scripts; source it:  . utils/lib/log.sh
#
#   log "message..."            prints to stderr, in the style of ESPnet's and icefall's log():
#                               2025-01-31T12:00:00 (run.sh:42:main) message...
#   die "message..."            logs the message (with the caller's file:line:function) and
#                               exits 1
#   die --code N "message..."   same, exit status N
#
# The location is the caller's: file basename, line, and function (`main` at top level).
# Safe under `set -euo pipefail`; messages are printed verbatim (no `echo -e` escapes).

# Prints "TIMESTAMP (file:line:function) message" for the caller $1 frames up.
_mer_log_at() {
  local depth=$(( $1 + 1 ))
  shift
  local file=${BASH_SOURCE[${depth}]:-${0}}
  local line=${BASH_LINENO[$(( depth - 1 ))]:-0}
  local func=${FUNCNAME[${depth}]:-main}
  printf '%s (%s:%s:%s) %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${file##*/}" "${line}" "${func}" "$*" >&2
}

log() {
  _mer_log_at 1 "$@"
}

die() {
  local code=1
  if [ "${1:-}" = --code ]; then
    code=${2:?die: --code needs a value}
    shift 2
  fi
  _mer_log_at 1 "$@"
  exit "${code}"
}
