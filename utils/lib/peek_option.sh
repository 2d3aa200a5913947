# shellcheck shell=bash
# peek_option NAME DEFAULT ARGS...: prints the value that the last --NAME VALUE or --NAME=VALUE in
# ARGS gives (dashes or underscores in NAME, as parse_options.sh takes them), else DEFAULT. For a
# script that passes its arguments on whole but needs one of them first (run.sh, emo.sh's corpus).
peek_option() {
  local name=--${1//-/_} value=$2 prev='' arg
  shift 2
  for arg in "$@"; do  # each option word compared with its dashes as underscores (__x -> --x)
    prev=${prev//-/_}
    [ "${prev/#__/--}" = "${name}" ] && value=${arg}
    prev=${arg%%=*}
    prev=${prev//-/_}
    [[ ${arg} == *=* && ${prev/#__/--} == "${name}" ]] && value=${arg#*=}
    prev=${arg}
  done
  printf '%s\n' "${value}"
}
