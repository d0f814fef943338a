#!/usr/bin/env bash
# castor-relay with 2 and then 4 forwarders on one input: PACKET_FANOUT must
# hand every datagram to exactly one worker (no duplicates, which other
# relays had without fanout) and lose none. Eight streams, so that a flow
# hash has flows to spread.
#
# usage: relay_workers.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_workers
cst_relay_main "$@" wrk
cst_topology 1

workers_case() {
  local workers=$1 config=$CST_WORK/relay-$1.toml i
  cst_relay_config "$config" "$workers" packet
  for ((i = 0; i < 8; i++)); do
    cst_rule "$config" "w$i" "$(cst_ip_plus 239.55.1.1 "$i")" $((5001 + i)) \
      "out1:$(cst_ip_plus 239.65.1.1 "$i"):$((6001 + i))"
  done
  cst_start_relay "$config" || return 1
  local listed
  listed=$(cst_workers | wc -l)
  if [[ $listed -ne $workers ]]; then
    echo "castorctl workers lists $listed workers, expected $workers:"
    cst_ctl workers
    cst_stop_relay || true
    return 1
  fi
  cst_recv "w$workers" "${CST_NS_RECV[1]}" --group 239.65.1.1:6001 \
    --streams 8 --interface c0 --expect-count 2500 --expect-zero-loss \
    --expect-no-duplicates --duration 30
  cst_send --group 239.55.1.1:5001 --streams 8 --count 2500 --rate 20000
  local rc=0 frames
  cst_recv_result "w$workers" 35 || rc=$?
  # Every frame was read by exactly one worker, and castorctl workers
  # says which: the per-worker counts add up to what was sent.
  frames=$(cst_ctl --json workers | python3 -c '
import json, sys
print(sum(w["frames"] for w in json.load(sys.stdin)["workers"]))')
  if [[ $frames -ne 20000 ]]; then
    echo "castorctl workers: the workers' frames add up to $frames, not 20000"
    cst_ctl workers
    rc=1
  fi
  cst_stop_relay || rc=$?
  return "$rc"
}

cst_check "2 workers: 20000 datagrams, no loss, no duplicates" workers_case 2
cst_check "4 workers: 20000 datagrams, no loss, no duplicates" workers_case 4
cst_finish
