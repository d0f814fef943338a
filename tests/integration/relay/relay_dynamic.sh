#!/usr/bin/env bash
# Rules added and removed under traffic with castorctl, and the relay's
# memberships in /proc/net/igmp:
#   1. at start the relay namespace's in0 has joined exactly the ruled group;
#   2. a stream to an unruled group runs; `castorctl add` makes it flow to
#      the receiver (counted on the new rule), the new group is joined;
#   3. `castorctl remove` stops it while the sender still sends, and the
#      group is left;
#   4. the first rule kept forwarding throughout.
#
# usage: relay_dynamic.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_dynamic
cst_relay_main "$@" dyn
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" static 239.54.1.1 5001 out1:239.64.1.1:6001
cst_start_relay "$config"

cst_check "in0 joined exactly the ruled group" \
  cst_wait_igmp "$CST_NS_RELAY" in0 "239.54.1.1" 5

# The dynamic stream: 4 s at 2 kpps (8000 datagrams) in the background; the
# static one alongside, in the foreground of this script, checked at the end.
cst_recv dyn "$recv_ns" --group 239.64.1.2:6002 --interface c0 --idle 1500 \
  --duration 30
cst_recv static "$recv_ns" --group 239.64.1.1:6001 --interface c0 \
  --expect-count 8000 --expect-zero-loss --expect-no-duplicates --duration 30
cst_start sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.54.1.2:5002 --count 8000 --rate 2000 --stream-base 7
cst_start static_sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.54.1.1:5001 --count 8000 --rate 2000 --stream-base 1

sleep 0.5
before=$(cst_rule_packets dynamic || true)
cst_check "add a rule under traffic" \
  cst_ctl add --name dynamic --in in0:239.54.1.2:5002 \
  --out out1:239.64.1.2:6002
cst_check "the added group is joined" \
  cst_wait_igmp "$CST_NS_RELAY" in0 "239.54.1.1
239.54.1.2" 2
sleep 1
hits=$(cst_rule_packets dynamic || true)
echo "rule 'dynamic' before add: '${before}', after 1 s: '${hits}'"
cst_check "the added rule counts packets" test "${hits:-0}" -gt 0
cst_check "remove the rule under traffic" cst_ctl remove dynamic
cst_check "its group is left, the static one kept" \
  cst_wait_igmp "$CST_NS_RELAY" in0 "239.54.1.1" 2

dynamic_flowed_then_stopped() {
  cst_recv_result dyn 30 || return 1
  local row received lost
  row=$(cst_stream_row dyn 7)
  received=$(awk '{ print $2 }' <<<"$row")
  lost=$(awk '{ print $3 }' <<<"$row")
  echo "dynamic stream: received ${received:-0}, highest sequence + 1 =" \
       "$((${received:-0} + ${lost:-0})) of 8000 sent"
  # It flowed for ~1 s of its 4 (~2000 datagrams): clearly some, clearly
  # not all, and nothing twice.
  [[ ${received:-0} -ge 500 && $((received + lost)) -le 7000 &&
     $(awk '{ print $4 }' <<<"$row") == 0 ]]
}
cst_check "the dynamic stream flowed only while its rule existed" \
  dynamic_flowed_then_stopped
cst_check "the static rule forwarded all 8000 throughout" \
  cst_recv_result static 30
cst_finish
