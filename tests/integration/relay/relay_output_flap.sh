#!/usr/bin/env bash
# An output interface that goes away under traffic and comes back (a
# re-created tunnel, VPN or VLAN) must not need an operator (issue 15). The
# relay watches link and address events for its outputs and re-resolves
# them, so that forwarding resumes on the new interface (a new ifindex)
# within 1 s, with no castorctl command and no restart; `castorctl stats`
# and `workers` show the output's state (up, down, missing) meanwhile.
#
# Topology: the usual sender -> in0 [relay] out1 --veth-- c0, but c0 is a
# port of a bridge br0 in the receiver namespace, and the receiver joins
# on br0: deleting out1 takes c0 with it, and the receiver (and its
# membership) must live through that to measure the gap.
#   1. 5000 datagrams at 1000/s through 2 forwarders;
#   2. under that traffic: out1 down (stats: down), up again (stats: up);
#      then out1 deleted (workers: out1=missing) and re-created with the
#      same name and address, into the bridge (stats: up);
#   3. the stream's tail arrives (its last datagram included), and the
#      datagrams lost, at 1000/s, span no longer than the time out1 was
#      down or gone plus 1 s: forwarding resumed within 1 s of the link;
#   4. the same castor-relay process throughout, no worker restarted.
#
# usage: relay_output_flap.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_output_flap
cst_relay_main "$@" ofl
recv_ns=${CST_NS_RECV[1]}
for ns in "$CST_NS_SEND" "$CST_NS_RELAY" "$recv_ns"; do
  cst_add_ns "$ns"
  cst_rp_filter_off "$ns"
done
cst_input_link
ip -n "$recv_ns" link add br0 type bridge mcast_snooping 0
ip -n "$recv_ns" addr add 10.50.1.2/24 dev br0
ip -n "$recv_ns" link set br0 up
cst_mroute "$recv_ns" br0

# output_link: out1 -- c0, c0 a port of br0 (built again after deletion).
output_link() {
  cst_veth "$CST_NS_RELAY" out1 "$recv_ns" c0 10.50.1.1/24 ""
  ip -n "$recv_ns" link set c0 master br0
  cst_wait_link "$CST_NS_RELAY" out1
}
output_link

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" feed 239.54.1.1 5001 out1:239.74.1.1:6001
cst_start_relay "$config"
relay_pid=$(cst_pid relay)
restarts() { # the sum of the workers' restarts
  cst_ctl --json workers | grep -o '"restarts":[0-9]*' |
    awk -F: '{ n += $2 } END { print n + 0 }'
}
restarts_before=$(restarts)

# out_state: the output's STATE column in `castorctl stats`;
# workers_say TEXT: every worker's OUTPUTS column is TEXT.
out_state() {
  cst_ctl stats | awk '$1 == "out" && $2 == "out1" { print $NF; exit }'
}
state_is() { [[ $(out_state) == "$1" ]]; }
workers_say() {
  cst_ctl workers | awk -v want="$1" 'NR > 1 && NF { n++; if ($NF != want) bad++ }
    END { exit !(n > 0 && bad == 0) }'
}
cst_check "stats: out1 is up" cst_until 5 state_is up
cst_check "workers: out1=up" cst_until 5 workers_say out1=up

count=5000 rate=1000
cst_recv r1 "$recv_ns" --group 239.74.1.1:6001 --interface br0 \
  --idle 2000 --duration 40
cst_start sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.54.1.1:5001 --count "$count" --rate "$rate"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

outage_ms=0
sleep 1
down_up() {
  local t0
  t0=$(now_ms)
  cst_in "$CST_NS_RELAY" ip link set out1 down
  cst_until 3 state_is down || { echo "stats: $(out_state), not down"; return 1; }
  cst_in "$CST_NS_RELAY" ip link set out1 up
  cst_wait_link "$CST_NS_RELAY" out1
  outage_ms=$((outage_ms + $(now_ms) - t0))
  cst_until 3 state_is up || { echo "stats: $(out_state), not up"; return 1; }
}
cst_check "out1 down (stats: down) and up (stats: up) under traffic" down_up
sleep 0.5
old_index=0 new_index=0
delete_recreate() {
  local t0
  old_index=$(cst_in "$CST_NS_RELAY" cat /sys/class/net/out1/ifindex)
  t0=$(now_ms)
  cst_in "$CST_NS_RELAY" ip link del out1 # takes c0, its peer, with it
  cst_until 3 workers_say out1=missing || {
    cst_ctl workers
    return 1
  }
  output_link
  outage_ms=$((outage_ms + $(now_ms) - t0))
  new_index=$(cst_in "$CST_NS_RELAY" cat /sys/class/net/out1/ifindex)
  echo "out1: ifindex $old_index deleted, re-created as $new_index"
  [[ $old_index != "$new_index" ]]
}
cst_check "out1 deleted under traffic (workers: missing) and re-created" \
  delete_recreate
cst_check "stats: the re-created out1 is up" cst_until 3 state_is up
cst_check "the sender ended" cst_wait_pid "$(cst_pid sender)" 20
cst_check "the receiver ended by itself" cst_recv_result r1 45
summary=$(cst_summary r1)
echo "$summary"
received=$(cst_field received "$summary")
lost=$(cst_field lost "$summary")
# The receiver counts loss up to the highest sequence number it saw; all
# of the stream must be accounted for, the tail included.
cst_expect "the stream's tail arrived (received + lost = $count)" "$count" \
  "$((received + lost))"
gap_ms=$((lost * 1000 / rate))
echo "out1 was down or gone for ${outage_ms} ms in all; the receiver missed" \
  "${lost} datagrams, ${gap_ms} ms at ${rate}/s"
resumed() { ((gap_ms <= outage_ms + 1000)); }
cst_check "forwarding resumed within 1 s of out1 coming back" resumed
cst_ctl stats

same_process() {
  kill -0 "$relay_pid" 2>/dev/null &&
    [[ $(cst_pid relay) == "$relay_pid" ]] && cst_ctl ping >/dev/null
}
cst_check "the same castor-relay process throughout" same_process
cst_expect "no worker restarted" "$restarts_before" "$(restarts)"
cst_finish
