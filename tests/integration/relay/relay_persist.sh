#!/usr/bin/env bash
# Runtime changes that persist (issue 14), with the state directory given
# the way systemd's StateDirectory= gives it ($STATE_DIRECTORY):
#   1. a rule added and a file rule removed at runtime are written to
#      runtime.toml in the state directory;
#   2. after a restart both changes are there, and the added rule forwards;
#   3. a reload of the file, which lacks the runtime rule, keeps it and
#      warns with its name; a file that now defines that name wins, and the
#      reload warns that it drops the runtime rule, naming it;
#   4. `config save` writes only into the state directory: a path outside
#      is refused, and so is a symbolic link planted at the target or at the
#      temporary name; the daemon goes on.
#
# usage: relay_persist.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_persist
cst_relay_main "$@" per
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

state=$CST_WORK/state
mkdir -p "$state"
export STATE_DIRECTORY=$state
config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
cst_rule "$config" static 239.58.1.1 5001 out1:239.68.1.1:6001
# A file rule that is removed at runtime (its input on out1, so that the
# start's wait for in0's groups does not wait for it after the restart).
cat >>"$config" <<'TOML'

[[rule]]
name = "gone"
input = { interface = "out1", group = "239.58.9.9", port = 5009 }
outputs = [ { interface = "in0", address = "239.68.9.9", port = 6009 } ]
TOML
cst_start_relay "$config"

# 1. The runtime changes, written to the state directory.
cst_check "add a rule at runtime" \
  cst_ctl add --name added --in in0:239.58.1.2:5002 --out out1:239.68.1.2:6002
cst_check "remove a file rule at runtime" cst_ctl remove gone
cat "$state/runtime.toml"
# in_state TABLE NAME: runtime.toml has a [[TABLE]] named NAME.
in_state() {
  grep -A1 -x "\[\[$1\]\]" "$state/runtime.toml" | grep -qx "name = \"$2\""
}
cst_check "runtime.toml holds the added rule" in_state rule added
cst_check "and the removed one" in_state removed gone

# 2. A restart runs them again.
cst_check "SIGTERM stops it" cst_stop_relay
cp "$CST_WORK/relay.out" "$CST_WORK/relay-first.out"
cst_start_relay "$config"
cst_check "after the restart the added rule is there" cst_rule_listed added
cst_check "the removed one is not" bash -c "! $CST_CTL -u $CST_SOCK list | grep -q '^gone '"
cst_check "the start names the state it applied" \
  grep -q "runtime.toml: 1 rule(s) added at runtime (added), 1 of the file's removed at runtime" \
  "$CST_WORK/relay.out"
cst_check "its group is joined again" \
  cst_wait_igmp "$CST_NS_RELAY" in0 "239.58.1.1
239.58.1.2" 5
cst_check "the added rule forwards after the restart" \
  cst_pass added "$recv_ns" --group 239.68.1.2:6002 --interface c0 \
  --expect-count 300 --duration 20 -- \
  --group 239.58.1.2:5002 --count 300 --rate 1000

# 3. Reloads.
cst_ctl reload >"$CST_WORK/reload1.txt" 2>&1
cat "$CST_WORK/reload1.txt"
cst_check "a reload of a file that lacks the runtime rule names it" \
  grep -q '^warning: kept rule added, added at runtime and not in the config file' \
  "$CST_WORK/reload1.txt"
cst_check "and logs it" \
  grep -q 'reload: keeps the rules added at runtime that .* lacks: added' \
  "$CST_WORK/relay.out"
cst_check "the runtime rule is still there" cst_rule_listed added
cst_rule "$config" added 239.58.1.3 5003 out1:239.68.1.3:6003
cst_ctl reload >"$CST_WORK/reload2.txt" 2>&1
cat "$CST_WORK/reload2.txt"
cst_check "a file that defines the name wins, and the reload names the drop" \
  grep -q '^warning: dropped the runtime change to added: added at runtime, but the config file now defines a rule of that name' \
  "$CST_WORK/reload2.txt"
cst_check "and logs it" \
  grep -q 'reload: drops a runtime change: added: ' "$CST_WORK/relay.out"
cst_check "the file's rule runs" \
  bash -c "$CST_CTL -u $CST_SOCK list | grep -q '^added .*239.58.1.3:5003'"
not_in_state() { ! in_state "$@"; }
cst_check "runtime.toml no longer adds it" not_in_state rule added

# 4. config save writes only into the state directory.
save_refused() { # NAME PATTERN ARGS...
  local name=$1 pattern=$2
  shift 2
  if cst_ctl config save "$@" >"$CST_WORK/$name.txt" 2>&1; then
    cat "$CST_WORK/$name.txt"
    return 1
  fi
  cat "$CST_WORK/$name.txt"
  grep -q -- "$pattern" "$CST_WORK/$name.txt"
}
cst_check "a save outside the state directory is refused, saying why" \
  save_refused outside "is outside the state directory $state" "$CST_WORK/x.toml"
cst_check "nothing was written there" test ! -e "$CST_WORK/x.toml"
echo precious >"$CST_WORK/precious"
ln -s "$CST_WORK/precious" "$state/planted.toml"
cst_check "a symlink at the target is refused" \
  save_refused target "symbolic link" planted.toml
pid=$(cst_pid relay)
ln -s "$CST_WORK/precious" "$state/relay.toml.tmp.$pid"
cst_check "a symlink at the temporary name is refused" \
  save_refused temp "refusing to write through it"
cst_check "what they point to is untouched" \
  bash -c "[[ \$(cat '$CST_WORK/precious') == precious ]]"
rm "$state/relay.toml.tmp.$pid"
cst_check "a save by name lands in the state directory" \
  cst_ctl config save saved.toml
cst_check "and loads" "$CST_RELAY" -t -f "$state/saved.toml"
cst_check "the daemon goes on" cst_ctl ping

cst_check "SIGTERM stops it with status 0" cst_stop_relay
cst_finish
