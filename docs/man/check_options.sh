#!/usr/bin/env bash
# Checks that a man page documents exactly the options (and, for castorctl,
# the commands) the program's --help lists, so that a flag added, renamed or
# removed in the code fails this test until the page follows.
#
#   check_options.sh PAGE.scd PROGRAM
#
# Options: every --long option in `PROGRAM --help` must appear as a term
# (a line starting with `*-`) in the page's OPTIONS section, and every term
# there must be in --help. Commands: when --help lists subcommands, each
# (and each of theirs, one level down) must be a term of the COMMANDS
# section, and vice versa.
set -euo pipefail

page=$1 program=$2
status=0

# The lines of section $2 (a "# NAME" heading) of the page.
section() {
  awk -v want="# $1" '/^# /{on = ($0 == want); next} on' "$page"
}

# Long options of a --help text on stdin (CLI11: "  -f,--config TEXT ...").
help_options() {
  grep -oE '^ +(-[A-Za-z0-9], ?)?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' |
    sort -u
}

# Subcommand names of a --help text on stdin (CLI11: a "Subcommands:"
# heading, then "  name   description" lines).
help_commands() {
  awk '/^Subcommands:/{on = 1; next} on && /^[^ ]/{on = 0} on && NF {print $1}'
}

compare() { # what, expected (from --help), documented (from the page)
  local missing extra
  missing=$(comm -23 <(sort -u <<<"$2") <(sort -u <<<"$3") | sed '/^$/d')
  extra=$(comm -13 <(sort -u <<<"$2") <(sort -u <<<"$3") | sed '/^$/d')
  if [[ -n $missing ]]; then
    echo "$page: $1 in $program --help but not in the page:" $missing >&2
    status=1
  fi
  if [[ -n $extra ]]; then
    echo "$page: $1 in the page but not in $program --help:" $extra >&2
    status=1
  fi
}

help_text=$("$program" --help)
page_options=$(section OPTIONS | grep -E '^\*-' | grep -oE -- '--[a-z][a-z0-9-]*' || true)
compare options "$(help_options <<<"$help_text")" "$page_options"

commands=$(help_commands <<<"$help_text")
if [[ -n $commands ]]; then
  expected=""
  for c in $commands; do
    sub=$(help_commands < <("$program" "$c" --help))
    if [[ -n $sub ]]; then
      for s in $sub; do expected+="$c $s"$'\n'; done
    else
      expected+="$c"$'\n'
    fi
  done
  # Terms of the COMMANDS section: "*config show*", "*add --name* _name_ ...":
  # the bold words before any option or argument.
  documented=$(section COMMANDS | grep -E '^\*[a-z]' |
    sed -E 's/^\*([a-z][a-z -]*[a-z]).*/\1/; s/ --.*//')
  compare commands "$expected" "$documented"
fi

# Options of the commands, for a page with a COMMAND OPTIONS section
# (castor-bus): every long option a command's --help lists is a term there,
# and every term there is some command's option.
if [[ -n $commands ]] && section "COMMAND OPTIONS" | grep -q .; then
  expected=""
  for c in $commands; do
    expected+=$("$program" "$c" --help | help_options | grep -vx -- --help || true)
    expected+=$'\n'
  done
  documented=$(section "COMMAND OPTIONS" | grep -E '^\*-' |
    grep -oE -- '--[a-z][a-z0-9-]*' || true)
  compare "command options" "$expected" "$documented"
fi

if ((status == 0)); then
  echo "$page: options$([[ -n $commands ]] && echo " and commands") match $program --help"
fi
exit "$status"
