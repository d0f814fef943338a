#!/usr/bin/env bash
# Fifty outputs on one interface lose nothing (issue 15). The outputs of one
# (interface, TTL, TOS) share one send ring; a read of up to 256 frames
# fanned out to 50 outputs is up to 12,800 datagrams, which used to overflow
# the ring and drop as queue_full while the kernel was never full. Now the
# ring is flushed as it fills, and queue_full is left to real kernel
# back-pressure.
#   1. one rule relays 239.53.1.1:5001 from in0 to 50 groups on out1
#      (239.73.1.1 ... 239.73.1.50, port 6001), one forwarder;
#   2. ten unpaced bursts of 200 datagrams (streams 1..10), so that the
#      forwarder reads many frames at once;
#   3. one receiver in recv1 joins all 50 groups and counts every arrival:
#      each output delivers each datagram once, so it must see
#      50 x 2000 = 100,000 arrivals (received + duplicates: the 50 copies
#      of a datagram carry one stream id and sequence number);
#   4. the relay's counters agree: 2000 in, 2000 out on every output, no
#      drop of any reason, and no frame lost in the kernel on the way in
#      (which would make the run say nothing about the send ring).
#
# usage: relay_many_outputs.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_many_outputs
cst_relay_main "$@" mo
cst_need python3
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

outputs=50 bursts=10 burst=200
config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
specs=()
for ((k = 1; k <= outputs; k++)); do specs+=("out1:239.73.1.$k:6001"); done
cst_rule "$config" fan50 239.53.1.1 5001 "${specs[@]}"
cst_start_relay "$config"

# Ends 1.5 s after the last arrival (bounded by --duration).
cst_recv r1 "$recv_ns" --group 239.73.1.1:6001 --streams "$outputs" \
  --keep-port --interface c0 --idle 1500 --duration 40

send_bursts() {
  local b
  for ((b = 1; b <= bursts; b++)); do
    cst_send --group 239.53.1.1:5001 --count "$burst" --rate 0 --batch 256 \
      --stream-base "$b" >/dev/null || return 1
    sleep 0.2
  done
}
cst_check "$bursts unpaced bursts of $burst datagrams sent" send_bursts
cst_check "the receiver ended by itself" cst_recv_result r1 45
summary=$(cst_summary r1)
echo "$summary"
arrivals=$(($(cst_field received "$summary") + $(cst_field duplicates "$summary")))
want=$((outputs * bursts * burst))
cst_expect "the receiver counted every copy ($outputs outputs x $((bursts * burst)))" \
  "$want" "$arrivals"
cst_expect "every stream arrived" "$bursts" "$(cst_field streams "$summary")"

# relay_counters: "IN OUTPUTS MIN_OUT MAX_OUT DROPS KERNEL_DROPS" from
# castorctl --json stats, plus the drops by reason for the log.
relay_counters() {
  cst_ctl --json stats | python3 -c '
import json, sys
j = json.load(sys.stdin)
r = next(x for x in j["rules"] if x["name"] == "fan50")
outs = [o["packets"] for o in r["outputs"]]
drops = {}
for o in r["outputs"]:
    for k, v in o.get("drops", {}).items():
        drops[k] = drops.get(k, 0) + v
print(r["packets"], len(outs), min(outs), max(outs), sum(drops.values()),
      j["ingress"]["kernel_drops"])
print("drops by reason:", drops, file=sys.stderr)'
}
read -r rule_in n_out min_out max_out drops kernel_drops < <(relay_counters)
cst_expect "the relay read every datagram" "$((bursts * burst))" "$rule_in"
cst_expect "no frame lost in the kernel before the relay" 0 "$kernel_drops"
cst_expect "the rule has $outputs outputs" "$outputs" "$n_out"
cst_expect "every output sent every datagram (min)" "$((bursts * burst))" "$min_out"
cst_expect "every output sent every datagram (max)" "$((bursts * burst))" "$max_out"
cst_expect "no output dropped anything (queue_full, send_error, too_big)" 0 "$drops"
cst_finish
