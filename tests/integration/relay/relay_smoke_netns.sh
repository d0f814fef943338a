#!/usr/bin/env bash
# castor-relay's own smoke test, end to end through the daemon's parts:
#   sender ns --veth-- relay ns (castor-relay, 2 workers) --veth-- receiver ns
# with the harness of lib.sh (namespaces cstsmk<pid>-*, removed on exit).
#   1. a group and port rewrite: 3000 datagrams to 239.61.1.1:5001 arrive
#      exactly once at 239.71.1.1:6001 in the receiver;
#   2. castorctl list shows the rule, stats counts them on the rule's input;
#   3. castorctl kill of a forwarder (its path from `castorctl tree`): the
#      worker supervisor restarts it (restart count goes up, all running);
#   4. traffic resumes: another 3000 datagrams arrive exactly once;
#   5. SIGTERM stops the daemon with exit status 0;
#   6. the same rule with ingress = "socket" forwards 3000 exactly once.
# Every traffic source is bounded in count and time; skips (77) without
# root or while the binaries are missing.
#
# usage: relay_smoke_netns.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_smoke
cst_relay_main "$@" smk
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" smoke 239.61.1.1 5001 out1:239.71.1.1:6001
cst_start_relay "$config"

# phase NAME STREAM: 3000 datagrams through the relay, exactly once.
phase() {
  local name=$1 stream=$2
  cst_recv "$name" "$recv_ns" --group 239.71.1.1:6001 --interface c0 \
    --expect-count 3000 --expect-zero-loss --expect-no-duplicates \
    --duration 20
  cst_send --group 239.61.1.1:5001 --count 3000 --rate 10000 \
    --stream-base "$stream" || return 1
  cst_recv_result "$name" 25
}
cst_check "rewrite 239.61.1.1:5001 -> 239.71.1.1:6001, 3000 exactly once" \
  phase first 1

cst_check "castorctl list shows the rule" cst_rule_listed smoke
counted() {
  local n
  n=$(cst_rule_packets smoke)
  echo "stats: rule smoke counted ${n:-nothing} on its input"
  [[ -n $n && $n -ge 3000 ]]
}
cst_check "castorctl stats counts the stream on the rule" counted

restarts_total() {
  awk 'NR > 1 && NF { n += $4 } END { print n + 0 }' <<<"$1"
}
kill_forwarder() {
  local victim path before table i
  victim=$(cst_workers | head -n1)
  path=$(cst_ctl tree | awk -v id="$victim" \
           'substr($1, length($1) - length(id)) == "/" id { print $1; exit }')
  [[ -n $victim && -n $path ]] || { echo "no forwarder in the tree"; return 1; }
  before=$(restarts_total "$(cst_ctl workers)")
  echo "killing $path"
  cst_ctl kill "$path" || return 1
  for ((i = 0; i < 200; i++)); do
    table=$(cst_ctl workers 2>/dev/null) || continue
    if (($(restarts_total "$table") > before)) &&
       awk 'NR > 1 && NF { n++; if ($3 != "running") bad++ }
            END { exit !(n > 0 && bad == 0) }' <<<"$table"; then
      echo "$table"
      return 0
    fi
    sleep 0.01
  done
  echo "no restart seen:"
  echo "$table"
  return 1
}
cst_check "castorctl kill of a forwarder: restarted" kill_forwarder
cst_check "after the restart, 3000 exactly once again" phase second 2

stopped_cleanly() {
  local rc=0
  cst_stop_relay || rc=$?
  echo "castor-relay exit status $rc"
  [[ $rc -eq 0 ]]
}
cst_check "SIGTERM stops the relay with status 0" stopped_cleanly

# The same rule with ingress = "socket" (plain UDP sockets, no AF_PACKET).
socket_config=$CST_WORK/relay-socket.toml
cst_relay_config "$socket_config" 2 socket
cst_rule "$socket_config" smoke 239.61.1.1 5001 out1:239.71.1.1:6001
cst_start_relay "$socket_config"
cst_check "ingress = socket: 3000 exactly once" phase socket 3
cst_check "ingress = socket: SIGTERM stops it with status 0" stopped_cleanly
cst_finish
