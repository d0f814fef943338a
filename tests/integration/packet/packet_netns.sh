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

probe=${1:?usage: packet_netns.sh PATH/TO/packet_probe}
if [[ $(id -u) -ne 0 ]]; then
  echo "packet_netns: needs root for network namespaces; skipped"
  exit 77
fi
command -v ip >/dev/null || { echo "packet_netns: no ip(8); skipped"; exit 77; }

prefix="castor-pk-$$"
ns_a="$prefix-a" ns_r="$prefix-r" ns_c="$prefix-c"
work=$(mktemp -d)
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for ns in "$ns_a" "$ns_r" "$ns_c"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ip netns add "$ns_a"
ip netns add "$ns_r"
ip netns add "$ns_c"
ip link add a0 netns "$ns_a" type veth peer name r0 netns "$ns_r"
ip link add r1 netns "$ns_r" type veth peer name c0 netns "$ns_c"
in_ns "$ns_a" ip addr add 10.77.1.1/24 dev a0
in_ns "$ns_r" ip addr add 10.77.1.2/24 dev r0
in_ns "$ns_r" ip addr add 10.77.2.1/24 dev r1
in_ns "$ns_c" ip addr add 10.77.2.2/24 dev c0
for pair in "$ns_a a0" "$ns_r r0" "$ns_r r1" "$ns_c c0"; do
  set -- $pair
  in_ns "$1" ip link set lo up
  in_ns "$1" ip link set "$2" up
done

# veth links need a moment to come up; wait (bounded) until both ends run.
wait_up() {
  local ns=$1 dev=$2 i
  for i in $(seq 1 100); do
    if in_ns "$ns" ip -o link show "$dev" | grep -q "LOWER_UP"; then
      return 0
    fi
    sleep 0.05
  done
  echo "packet_netns: $dev in $ns did not come up" >&2
  return 1
}
wait_up "$ns_a" a0
wait_up "$ns_r" r0
wait_up "$ns_r" r1
wait_up "$ns_c" c0

# Starts a probe in a namespace in the background; waits (bounded) for its
# READY line. Sets $started to its PID.
start_probe() {
  local ns=$1 out=$2 i
  shift 2
  in_ns "$ns" "$probe" "$@" >"$out" 2>&1 &
  started=$!
  pids+=("$started")
  for i in $(seq 1 200); do
    grep -q READY "$out" && return 0
    kill -0 "$started" 2>/dev/null || break
    sleep 0.025
  done
  echo "packet_netns: probe did not get ready:" >&2
  cat "$out" >&2
  return 1
}

# Runs to completion (bounded by the probe's own timeout).
send() { in_ns "$ns_a" "$probe" send --if a0 --timeout 20 "$@"; }

failures=0
report() {
  local name=$1 rc=$2 out=$3
  cat "$out"
  if [[ $rc -eq 0 ]]; then
    echo "ok: $name"
  else
    echo "FAILED: $name (exit $rc)"
    failures=$((failures + 1))
  fi
}

fanout_case() {
  local name=$1 mode=$2 protocol=$3
  local out="$work/$1.out" rc=0
  start_probe "$ns_r" "$out" fanout --if r0 --mode "$mode" \
    --protocol "$protocol" --sockets 2 \
    --rules 239.77.1.1:5001,239.77.1.2:5002 \
    --own 239.77.1.1:5001:500 --expect 10000 --stream 1 --timeout 30
  local fanout_pid=$started
  # Noise first, then the stream; each bounded by count.
  send --group 239.77.1.9 --port 5001 --count 1000 --stream 2 --rate 20000
  send --group 239.77.1.1 --port 5009 --count 1000 --stream 3 --rate 20000
  send --group 239.77.1.2 --port 5002 --count 50 --stream 4 --size 3000 \
       --rate 2000
  # An odd flow count: with an even one, a round-robin fanout would put
  # flow i%2 == 0 always on the same socket and pass the one-socket check.
  send --group 239.77.1.1 --port 5001 --count 10000 --flows 31 --stream 1 \
       --rate 20000
  wait "$fanout_pid" || rc=$?
  report "$name" "$rc" "$out"
}

fanout_case fanout_ring_eth_p_all ring all
fanout_case fanout_recvmmsg_eth_p_ip recvmmsg ip

# Forwarding through the egress into the third namespace.
relay_out="$work/relay.out" recv_out="$work/recv.out"
start_probe "$ns_c" "$recv_out" recv --if c0 --group 239.77.2.2 --port 6001 \
  --expect 10000 --stream 5 --timeout 30
recv_pid=$started
start_probe "$ns_r" "$relay_out" relay --in r0 --rules 239.77.1.1:5001 \
  --out r1 --to 239.77.2.2:6001 --expect 10000 --mode ring --timeout 30
relay_pid=$started
send --group 239.77.1.1 --port 5001 --count 10000 --flows 4 --stream 5 \
     --rate 20000
rc=0; wait "$relay_pid" || rc=$?
report relay_forward "$rc" "$relay_out"
rc=0; wait "$recv_pid" || rc=$?
report relay_receive "$rc" "$recv_out"

if [[ $failures -ne 0 ]]; then
  echo "packet_netns: $failures case(s) failed"
  exit 1
fi
echo "packet_netns: all cases passed"
