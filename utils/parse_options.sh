#!/usr/bin/env bash
# Copyright 2025 The mer authors.
# Licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0).
#
# Command-line option parsing for recipe scripts, after the design of Kaldi's
# egs/wsj/s5/utils/parse_options.sh (Copyright 2012 Johns Hopkins University (Daniel Povey),
# Arnab Ghoshal, Karel Vesely; Apache-2.0), which ESPnet and icefall also use. This file is
# written afresh; it keeps Kaldi's semantics and adds `--name=value`, `--`, a strict check of
# --config files and a --help that lists every option with its current value.
#
# USAGE: give every option a default as a plain shell variable, then source this file
# (without arguments) so that it can consume the leading options from "$@":
#
#   set -euo pipefail
#   stage=1           # first stage to run
#   stop_stage=10000  # last stage to run
#   nj=4              # number of parallel jobs
#   ngpu=0            # GPUs for training (0: CPU)
#   use_fp16=false    # true|false
#   help_message="Usage: $0 [options] <data-dir> <exp-dir>"
#   . utils/parse_options.sh
#   [ $# -eq 2 ] || { echo "${help_message}" >&2; exit 2; }
#
# RULES
#   --foo-bar VALUE, --foo_bar VALUE and --foo-bar=VALUE all set the variable foo_bar.
#   An option is any scalar shell variable whose name starts with a lower-case letter and that
#     is set when this file is sourced (help_message is not an option). Anything else, e.g. a
#     typo, is an error: exit 1, naming the option and listing the valid ones.
#   A variable whose current value is `true` or `false` only accepts `true` or `false`.
#   --config FILE (may be repeated) sources FILE, a shell file of `name=value` lines. As in
#     Kaldi, all config files are sourced *before* the other options are applied, so the
#     command line wins wherever it appears. A config file may only set existing options and
#     must keep true/false options true/false.
#   --help / -h prints $help_message (if set) and every option with its current value and the
#     `# comment` that follows its default in the calling script, then exits 0.
#   Parsing stops at the first argument that is not an option (does not start with `--`), or
#     after `--`; the remaining positional arguments stay in "$@".
#   `--cmd ""` is rejected, as in Kaldi (an empty job command is always a scripting error).
#
# Nothing is special about --stage, --stop_stage (--stop-stage), --nj or --ngpu: they are plain
# variables that the recipe defines like any other, e.g. `stage=1`, `stop_stage=10000`, `nj=32`,
# `ngpu=1`, and gates its stages with
#   if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then ...; fi
#
# Works under `set -euo pipefail`. Internal names start with _po_ and are removed at the end.
# Needs bash >= 4.4.

_po_die() {
  echo "$0: $*" >&2
  exit 1
}

# True if $1 names a settable option: a set, scalar, writable variable with a lower-case first
# letter (internal _po_* names and help_message are excluded).
_po_is_option() {
  [[ $1 =~ ^[a-z][a-zA-Z0-9_]*$ ]] || return 1
  [ "$1" != help_message ] || return 1
  [ -n "${!1+set}" ] || return 1
  case ${!1@a} in
    *[aArn]*) return 1 ;;
  esac
  return 0
}

# Sets _po_names to all options, in the order their defaults appear in the calling script
# (then the rest alphabetically), and _po_comment[name] to the `# comment` after the default.
_po_collect() {
  local _po_line _po_n _po_v _po_rest
  _po_names=()
  _po_comment=()
  local -A _po_seen=()
  if [ -n "${_po_caller}" ] && [ -r "${_po_caller}" ]; then
    while IFS= read -r _po_line || [ -n "${_po_line}" ]; do
      if [[ ${_po_line} =~ ^[^#]*parse_options\.sh ]]; then
        break
      fi
      if [[ ${_po_line} =~ ^[[:space:]]*(export[[:space:]]+)?([a-z][a-zA-Z0-9_]*)=(.*)$ ]]; then
        _po_n=${BASH_REMATCH[2]}
        _po_rest=${BASH_REMATCH[3]}
        if [ -z "${_po_seen[${_po_n}]+x}" ] && _po_is_option "${_po_n}"; then
          _po_seen[${_po_n}]=1
          _po_names+=("${_po_n}")
          _po_comment[${_po_n}]=$(_po_trailing_comment "${_po_rest}")
        fi
      fi
    done < "${_po_caller}"
  fi
  while IFS= read -r _po_v; do
    if [ -z "${_po_seen[${_po_v}]+x}" ] && _po_is_option "${_po_v}"; then
      # Lower-case variables that came from the environment (http_proxy...) are valid options
      # but would only clutter the listing.
      case ${!_po_v@a} in
        *x*) continue ;;
      esac
      _po_names+=("${_po_v}")
    fi
  done < <(compgen -v | LC_ALL=C sort)
}

# Prints the comment that follows a shell assignment's value (quote-aware), trimmed.
_po_trailing_comment() {
  local _po_s=$1 _po_q='' _po_c _po_k _po_prev=' '
  for ((_po_k = 0; _po_k < ${#_po_s}; _po_k++)); do
    _po_c=${_po_s:_po_k:1}
    if [ "${_po_c}" = "\\" ] && [ "${_po_q}" != "'" ]; then
      _po_k=$((_po_k + 1))
      _po_prev=x
      continue
    fi
    if [ -n "${_po_q}" ]; then
      [ "${_po_c}" != "${_po_q}" ] || _po_q=''
    elif [ "${_po_c}" = "'" ] || [ "${_po_c}" = '"' ]; then
      _po_q=${_po_c}
    elif [ "${_po_c}" = '#' ] && [[ ${_po_prev} == [[:space:]] ]]; then
      _po_s=${_po_s:_po_k+1}
      _po_s=${_po_s#"${_po_s%%[![:space:]]*}"}
      _po_s=${_po_s%"${_po_s##*[![:space:]]}"}
      printf '%s' "${_po_s}"
      return 0
    fi
    _po_prev=${_po_c}
  done
  return 0
}

_po_show_value() {
  local _po_re='["\$`]' _po_ws='[[:space:]'"']"
  if [ -z "$1" ]; then
    printf '""'
  elif [[ $1 =~ ${_po_re} ]]; then
    printf '%q' "$1"
  elif [[ $1 =~ ${_po_ws} ]]; then
    printf '"%s"' "$1"
  else
    printf '%s' "$1"
  fi
}

_po_valid_list() {
  local _po_n _po_out=''
  local -a _po_names=()
  local -A _po_comment=()
  _po_collect
  for _po_n in "${_po_names[@]}"; do
    _po_out+=" --${_po_n}"
  done
  printf '%s' "${_po_out# }"
}

_po_help() {
  local _po_n _po_lhs _po_w=0 _po_c
  local -a _po_names=()
  local -A _po_comment=()
  _po_collect
  if [ -n "${help_message:-}" ]; then
    printf '%s\n\n' "${help_message}"
  else
    printf 'Usage: %s [options] [args...]\n\n' "$0"
  fi
  printf 'Options (current values; --foo-bar, --foo_bar and --foo-bar=VALUE all work):\n'
  for _po_n in "${_po_names[@]}"; do
    _po_lhs="--${_po_n} $(_po_show_value "${!_po_n}")"
    [ ${#_po_lhs} -le 40 ] || continue
    [ ${#_po_lhs} -le "${_po_w}" ] || _po_w=${#_po_lhs}
  done
  for _po_n in "${_po_names[@]}"; do
    _po_lhs="--${_po_n} $(_po_show_value "${!_po_n}")"
    _po_c=${_po_comment[${_po_n}]:-}
    if [ -n "${_po_c}" ]; then
      printf '  %-*s  # %s\n' "${_po_w}" "${_po_lhs}" "${_po_c}"
    else
      printf '  %s\n' "${_po_lhs}"
    fi
  done
  printf '  %-*s  # %s\n' "${_po_w}" "--config FILE" "source FILE (name=value lines) before the other options"
  printf '  %-*s  # %s\n' "${_po_w}" "--help" "print this message"
}

# _po_set OPTION VALUE: OPTION as written on the command line (--foo-bar).
_po_set() {
  local _po_name=${1#--}
  _po_name=${_po_name//-/_}
  if ! _po_is_option "${_po_name}"; then
    _po_die "unknown option '$1'; valid options: $(_po_valid_list)"
  fi
  case ${!_po_name} in
    true | false)
      case $2 in
        true | false) ;;
        *) _po_die "option '$1' takes true or false, got '$2'" ;;
      esac
      ;;
  esac
  if [ "${_po_name}" = cmd ] && [ -z "$2" ]; then
    _po_die "empty argument to the --cmd option"
  fi
  printf -v "${_po_name}" '%s' "$2"
}

_po_source_config() {
  local _po_file=$1 _po_v _po_bad=''
  local -A _po_before=()
  [ -n "${_po_file}" ] && [ -f "${_po_file}" ] && [ -r "${_po_file}" ] \
    || _po_die "cannot read the --config file '${_po_file}'"
  while IFS= read -r _po_v; do
    if _po_is_option "${_po_v}"; then
      _po_before[${_po_v}]=${!_po_v}
    fi
  done < <(compgen -v)
  # shellcheck disable=SC1090
  . "${_po_file}"
  while IFS= read -r _po_v; do
    _po_is_option "${_po_v}" || continue
    if [ -z "${_po_before[${_po_v}]+x}" ]; then
      _po_bad+=" ${_po_v}"
    else
      case ${_po_before[${_po_v}]} in
        true | false)
          case ${!_po_v} in
            true | false) ;;
            *) _po_die "--config ${_po_file}: option '${_po_v}' takes true or false, got '${!_po_v}'" ;;
          esac
          ;;
      esac
    fi
  done < <(compgen -v)
  if [ -n "${_po_bad}" ]; then
    # shellcheck disable=SC2086
    unset ${_po_bad}
    _po_die "--config ${_po_file} sets unknown option(s):${_po_bad}; valid options: $(_po_valid_list)"
  fi
}

_po_caller=${BASH_SOURCE[1]:-$0}

# Pass 1: source every --config file first, so that the command line overrides them (Kaldi).
_po_i=1
while [ "${_po_i}" -le $# ]; do
  _po_arg=${!_po_i}
  case ${_po_arg} in
    -- | -h | --help) break ;;
    --config)
      _po_i=$((_po_i + 1))
      [ "${_po_i}" -le $# ] || _po_die "option '--config' needs a value"
      _po_source_config "${!_po_i}"
      _po_i=$((_po_i + 1))
      ;;
    --config=*)
      _po_source_config "${_po_arg#--config=}"
      _po_i=$((_po_i + 1))
      ;;
    --*=*) _po_i=$((_po_i + 1)) ;;
    --?*) _po_i=$((_po_i + 2)) ;;
    *) break ;;
  esac
done

# Pass 2: apply the options; stop at the first non-option.
while [ $# -gt 0 ]; do
  case $1 in
    --)
      shift
      break
      ;;
    -h | --help)
      _po_help
      exit 0
      ;;
    --config) shift 2 ;;
    --config=*) shift ;;
    --*=*)
      _po_set "${1%%=*}" "${1#*=}"
      shift
      ;;
    --?*)
      [ $# -ge 2 ] || _po_die "option '$1' needs a value"
      _po_set "$1" "$2"
      shift 2
      ;;
    *) break ;;
  esac
done

unset _po_i _po_arg _po_caller
unset -f _po_die _po_is_option _po_collect _po_trailing_comment _po_show_value _po_valid_list \
  _po_help _po_set _po_source_config
true
