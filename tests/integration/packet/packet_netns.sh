#!/usr/bin/env bash
# castor::packet end to end, in three network namespaces of its own:
#
#   A (sender) a0 10.77.1.1 --veth-- r0 10.77.1.2 R (relay) r1 10.77.2.1
#                                        --veth-- c0 10.77.2.2 C (sink)
#
# 1. Fanout, TPACKET_V3 ring, bound to ETH_P_ALL: two sockets in one group
#    get a 31-flow stream of 10,000 datagrams exactly once, each flow on
#    one socket, while unruled groups, unruled ports, fragments of a ruled
#    stream and the probe's own output on r0 must never pass the filter.
# 2. The same with recvmmsg and ETH_P_IP.
# 3. Forwarding: ingress on r0, egress on r1 to another group, received by
#    a plain socket in C: 10,000 datagrams, exactly once.
#
# Needs root (exit 77 otherwise). Every traffic source is bounded in count
# and time; namespaces are removed on every exit path; only processes this
# script started are stopped, by PID.
#
# usage: packet_netns.sh PATH/TO/packet_probe
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../netns.sh
source "$here/../netns.sh"

probe=${1:?usage: packet_netns.sh PATH/TO/packet_probe}
CST_NAME=packet_netns
cst_setup pkt
ns_a=${CST_PREFIX}a ns_r=${CST_PREFIX}r ns_c=${CST_PREFIX}c

cst_add_ns "$ns_a" "$ns_r" "$ns_c"
cst_veth "$ns_a" a0 "$ns_r" r0 10.77.1.1/24 10.77.1.2/24
cst_veth "$ns_r" r1 "$ns_c" c0 10.77.2.1/24 10.77.2.2/24
cst_wait_link "$ns_a" a0
cst_wait_link "$ns_r" r0
cst_wait_link "$ns_r" r1
cst_wait_link "$ns_c" c0

# start_probe NAME NS ARGS...: a probe in NS in the background; waits
# (bounded) for its READY line.
start_probe() {
  local name=$1 ns=$2
  shift 2
  cst_start "$name" "$ns" "$probe" "$@"
  cst_wait_for "$name" READY 5
}

# Runs to completion (bounded by the probe's own timeout).
send() { cst_in "$ns_a" "$probe" send --if a0 --timeout 20 "$@"; }

# report NAME: the probe's verdict (its exit status), once it has ended by
# itself (its own --timeout is 30 s), with its output.
report() { cst_check "$1" cst_result "$1" 40; }

fanout_case() {
  local name=$1 mode=$2 protocol=$3
  start_probe "$name" "$ns_r" fanout --if r0 --mode "$mode" \
    --protocol "$protocol" --sockets 2 \
    --rules 239.77.1.1:5001,239.77.1.2:5002 \
    --own 239.77.1.1:5001:500 --expect 10000 --stream 1 --timeout 30
  # Noise first, then the stream; each bounded by count.
  send --group 239.77.1.9 --port 5001 --count 1000 --stream 2 --rate 20000
  send --group 239.77.1.1 --port 5009 --count 1000 --stream 3 --rate 20000
  send --group 239.77.1.2 --port 5002 --count 50 --stream 4 --size 3000 \
       --rate 2000
  # An odd flow count: with an even one, a round-robin fanout would put
  # flow i%2 == 0 always on the same socket and pass the one-socket check.
  send --group 239.77.1.1 --port 5001 --count 10000 --flows 31 --stream 1 \
       --rate 20000
  report "$name"
}

fanout_case fanout_ring_eth_p_all ring all
fanout_case fanout_recvmmsg_eth_p_ip recvmmsg ip

# Forwarding through the egress into the third namespace.
start_probe relay_receive "$ns_c" recv --if c0 --group 239.77.2.2 --port 6001 \
  --expect 10000 --stream 5 --timeout 30
start_probe relay_forward "$ns_r" relay --in r0 --rules 239.77.1.1:5001 \
  --out r1 --to 239.77.2.2:6001 --expect 10000 --mode ring --timeout 30
send --group 239.77.1.1 --port 5001 --count 10000 --flows 4 --stream 5 \
     --rate 20000
report relay_forward
report relay_receive
cst_finish
