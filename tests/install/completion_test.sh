#!/usr/bin/env bash
# The shell completion the package installs (packaging/completion/):
#   - the bash functions complete castorctl's verbs, their arguments and
#     castor-relay's options (run here with simulated COMP_WORDS; no
#     bash-completion package needed);
#   - every command and long option that `castorctl --help` and
#     `castor-relay --help` list is offered by both the bash and the zsh
#     files, so that a verb or flag added to the code fails this test until
#     the completion follows;
#   - the zsh files parse (zsh -n), when zsh is installed.
#
#   completion_test.sh SOURCE_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail

src=$1/packaging/completion relay=$2 ctl=$3
failures=0
check() { # WHAT CMD...
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAILED: $what"
    failures=$((failures + 1))
  fi
}

# shellcheck source=/dev/null
source "$src/castorctl.bash"
# shellcheck source=/dev/null
source "$src/castor-relay.bash"

# complete FUNCTION WORD...: COMPREPLY for the command line WORD... with the
# cursor on the last word, sorted, one line.
complete_line() {
  local fn=$1
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  "$fn"
  printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
}
expect() { # WHAT EXPECTED FUNCTION WORD...
  local what=$1 want=$2 got
  shift 2
  got=$(complete_line "$@")
  if [[ $got == "$want" ]]; then
    echo "ok: $what"
  else
    echo "FAILED: $what: expected [$want], got [$got]"
    failures=$((failures + 1))
  fi
}

expect "castorctl verbs by prefix" "stats status" _castorctl castorctl st
expect "watch's views" "groups" _castorctl castorctl watch gr
expect "verbs after global options" "reload remove" \
  _castorctl castorctl -u /run/x.sock -t 3 re
expect "config's actions" "save show" _castorctl castorctl config ""
expect "log-level's components" "config control" \
  _castorctl castorctl log-level con
expect "log-level's levels" "debug" _castorctl castorctl log-level all d
expect "nothing after log-level's level" "" \
  _castorctl castorctl log-level all debug ""
expect "add's options" "--from" _castorctl castorctl add --name a --fr
expect "global options" "--json" _castorctl castorctl --js
expect "castor-relay options" "--print-config" _castor_relay castor-relay --pr
expect "castor-relay log levels" "none notice" _castor_relay castor-relay -l n

# Rule names for `remove` come from the running relay: a stub castorctl
# prints a `list` table.
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
cat >"$stub/castorctl" <<'STUB'
#!/bin/sh
case "$*" in
*list*) printf 'NAME  INPUT  OUTPUT\nfeed-a  eth0 239.1.1.1:5001  -\nfeed-b  eth0 239.1.1.2:5001  -\n' ;;
esac
STUB
chmod +x "$stub/castorctl"
expect "remove completes the relay's rule names" "feed-a feed-b" \
  _castorctl "$stub/castorctl" remove feed

# Everything --help lists is completed, by bash and zsh alike.
verbs=$("$ctl" --help | awk '/^Subcommands:/{on = 1; next} on && /^[^ ]/{on = 0} on && NF {print $1}')
[[ -n $verbs ]] || { echo "FAILED: no subcommands in castorctl --help"; exit 1; }
options() { "$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
for v in $verbs; do
  check "bash completes castorctl $v" grep -qw -- "$v" "$src/castorctl.bash"
  check "zsh completes castorctl $v" grep -q -- "'$v:" "$src/_castorctl"
done
for o in $(options "$ctl"); do
  check "bash completes castorctl $o" grep -qw -- "$o" "$src/castorctl.bash"
  check "zsh completes castorctl $o" grep -q -- "$o" "$src/_castorctl"
done
for o in $(options "$relay"); do
  check "bash completes castor-relay $o" grep -qw -- "$o" "$src/castor-relay.bash"
  check "zsh completes castor-relay $o" grep -q -- "$o" "$src/_castor-relay"
done

check "bash parses castorctl.bash" bash -n "$src/castorctl.bash"
check "bash parses castor-relay.bash" bash -n "$src/castor-relay.bash"
if command -v zsh >/dev/null; then
  check "zsh parses _castorctl" zsh -n "$src/_castorctl"
  check "zsh parses _castor-relay" zsh -n "$src/_castor-relay"
else
  echo "no zsh: its files are only checked against --help"
fi

if ((failures != 0)); then
  echo "completion_test: $failures check(s) failed"
  exit 1
fi
echo "completion_test: ok"
