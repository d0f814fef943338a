#!/usr/bin/env bash
# Live reload under traffic (issue 6):
#   1. an invalid config is rejected by `castorctl reload` (non-zero, the
#      error names file:line), and the running rules stay as they were;
#   2. a valid one applies only the difference: one rule added, one
#      removed, one changed, one unchanged, reported as such; the memberships
#      follow (the removed rule's group is left, the added one's joined);
#   3. SIGHUP reloads the same way;
#   4. the unchanged rule forwarded every datagram of a stream that ran
#      through all of it (zero loss, no duplicates), and the daemon is the
#      same process throughout.
#
# usage: relay_reload.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_reload
cst_relay_main "$@" rld
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
write_config() { # RULES...: the config with the named rules, as in v1/v2
  cst_relay_config "$config.new" 2 packet
  local r
  for r in "$@"; do
    case $r in
    keep) cst_rule "$config.new" keep 239.55.1.1 5001 out1:239.65.1.1:6001 ;;
    gone) cst_rule "$config.new" gone 239.55.1.2 5002 out1:239.65.1.2:6002 ;;
    edit) cst_rule "$config.new" edit 239.55.1.3 5003 out1:239.65.1.3:6003 ;;
    edit2) cst_rule "$config.new" edit 239.55.1.3 5003 out1:239.65.1.3:6013 ;;
    added) cst_rule "$config.new" added 239.55.1.4 5004 out1:239.65.1.4:6004 ;;
    esac
  done
  mv "$config.new" "$config"
}
write_config keep gone edit
cst_start_relay "$config"
relay_pid=$(cst_pid relay)

# The unchanged rule's stream: 8 s at 2 kpps, across every reload below.
cst_recv keep "$recv_ns" --group 239.65.1.1:6001 --interface c0 \
  --expect-count 16000 --expect-zero-loss --expect-no-duplicates \
  --duration 40
cst_start_sender keep_sender \
  --group 239.55.1.1:5001 --count 16000 --rate 2000 --stream-base 1
sleep 1

# 1. An invalid config: an unknown key on line 4 of the [relay] table.
cp "$config" "$CST_WORK/good.toml"
sed -i 's/^log_level = .*/log_level = "info"\nworkerz = 3/' "$config"
rejected() {
  local out rc=0
  out=$(cst_ctl reload 2>&1) || rc=$?
  echo "$out"
  [[ $rc -ne 0 && $out == *"$config:"*workerz* ]]
}
cst_check "an invalid config is rejected, naming the error" rejected
cst_check "the running rules are unchanged" \
  bash -c "[[ \$(timeout 10 '$CST_CTL' -u '$CST_SOCK' list | awk 'NR > 1 && NF { print \$1 }' | sort | xargs) == 'edit gone keep' ]]"
cp "$CST_WORK/good.toml" "$config"

# 2. add one, remove one, change one, keep one.
write_config keep edit2 added
applied() {
  local out
  out=$(cst_ctl reload 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  [[ $out == *"1 added (added), 1 removed (gone), 1 changed (edit), 1 unchanged"* ]]
}
cst_check "reload applies exactly the difference" applied
cst_check "memberships follow: gone's group left, added's joined" \
  cst_wait_igmp "$CST_NS_RELAY" in0 "239.55.1.1
239.55.1.3
239.55.1.4" 5
cst_check "the changed rule forwards to its new port" \
  cst_pass edit "$recv_ns" --group 239.65.1.3:6013 --interface c0 \
  --expect-count 500 --expect-zero-loss --duration 20 -- \
  --group 239.55.1.3:5003 --count 500 --rate 1000 --stream-base 30
cst_check "the added rule forwards" \
  cst_pass added "$recv_ns" --group 239.65.1.4:6004 --interface c0 \
  --expect-count 500 --expect-zero-loss --duration 20 -- \
  --group 239.55.1.4:5004 --count 500 --rate 1000 --stream-base 40

# 3. SIGHUP: drop 'added' again.
write_config keep edit2
kill -HUP "$relay_pid"
gone_after_hup() {
  local i
  for ((i = 0; i < 100; i++)); do
    cst_rule_listed added || return 0
    sleep 0.05
  done
  return 1
}
cst_check "SIGHUP reloads (the rule is gone within 5 s)" gone_after_hup
cst_check "and its group is left" \
  cst_wait_igmp "$CST_NS_RELAY" in0 "239.55.1.1
239.55.1.3" 5

# 4. The unchanged rule lost nothing, and nobody restarted the daemon.
cst_check "the unchanged rule forwarded all 16000, none lost or doubled" \
  cst_recv_result keep 40
cst_check "the same castor-relay process throughout" kill -0 "$relay_pid"
cst_check "it logged each reload" \
  grep -q "SIGHUP: reloading the config" "$CST_WORK/relay.out"
cst_finish
