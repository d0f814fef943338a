#!/usr/bin/env bash
# [relay] max_frame (issue 15): jumbo frames are relayed whole when the
# setting allows them, and counted as truncated (never silently lost) when
# it does not. Every link of the chain has a 9000-byte MTU; the sender sends
# 9000-byte IP packets (8972 bytes of UDP payload), one frame each.
#
# For ingress = "packet" and "socket":
#   - default max_frame (2048): nothing reaches the receiver, and castorctl
#     stats counts every datagram as `truncated` (so does
#     castor_ingress_drops_total);
#   - max_frame = 9216: the receiver gets every datagram, the output counts
#     its 8972 bytes each, and nothing is truncated.
# And -t refuses max_frame = 9217, naming the key and its position.
#
# usage: relay_max_frame.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_max_frame
cst_relay_main "$@" mxf
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
for link in "$CST_NS_SEND s0" "$CST_NS_RELAY in0" "$CST_NS_RELAY out1" \
            "$recv_ns c0"; do
  # shellcheck disable=SC2086
  cst_mtu $link 9000
done

count=200 size=8972

# run INGRESS MAX_FRAME: a relay with that setting (empty: the default),
# then a burst of jumbo datagrams; the receiver's summary in $CST_WORK.
run() {
  local ingress=$1 max_frame=$2 config=$CST_WORK/relay-$1-${2:-default}.toml
  cst_relay_config "$config" 1 "$ingress"
  [[ -z $max_frame ]] || sed -i "s/^\[relay\]$/[relay]\nmax_frame = $max_frame/" "$config"
  cst_rule "$config" jumbo 239.53.9.1 5001 out1:239.63.9.1:6001
  cst_start_relay "$config" || return 1
  # Nothing arrives with the default: the receiver's bound is its wait.
  cst_recv rx "$recv_ns" --group 239.63.9.1:6001 --interface c0 \
    --idle 1000 --duration "$([[ -z $max_frame ]] && echo 3 || echo 15)" ||
    return 1
  cst_send --group 239.53.9.1:5001 --count "$count" --rate 2000 \
    --size "$size" >/dev/null || return 1
  cst_recv_result rx 20 || true
}

truncated_is() { [[ $(cst_ingress_drops truncated) == "$1" ]]; }

for ingress in packet socket; do
  run "$ingress" ""
  cst_check "$ingress, default max_frame: every jumbo datagram is counted as truncated" \
    cst_until 3 truncated_is "$count"
  cst_expect "$ingress, default max_frame: none reached the rule" 0 \
    "$(cst_rule_packets jumbo)"
  cst_expect "$ingress, default max_frame: the receiver got none" 0 \
    "$(cst_field received "$(cst_summary rx)")"
  cst_stop_relay || true

  run "$ingress" 9216
  cst_expect "$ingress, max_frame = 9216: the receiver got every datagram" \
    "$count" "$(cst_field received "$(cst_summary rx)")"
  cst_expect "$ingress, max_frame = 9216: the rule read every datagram" \
    "$count" "$(cst_rule_packets jumbo)"
  cst_expect "$ingress, max_frame = 9216: the output sent $size bytes each" \
    "$((count * size))" "$(cst_output_counter jumbo bytes)"
  cst_expect "$ingress, max_frame = 9216: nothing truncated" 0 \
    "$(cst_ingress_drops truncated)"
  cst_stop_relay || true
done

bad=$CST_WORK/bad.toml
printf '[relay]\nmax_frame = 9217\n' >"$bad"
check_refused() {
  local out
  if out=$("$CST_RELAY" -t -f "$bad" 2>&1); then
    echo "-t accepted max_frame = 9217"
    return 1
  fi
  grep -qF "$bad:2:13: relay.max_frame: 9217 is out of range 576..9216" \
    <<<"$out" || { echo "$out"; return 1; }
}
cst_check "-t refuses max_frame = 9217 with its file, line and range" \
  check_refused

cst_finish
