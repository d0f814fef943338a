#!/usr/bin/env bash
# The relay demo (README command (a) runs it through scripts/demo.sh):
#
#   sender ns                relay ns                         receiver ns
#   s0 10.77.1.1 ---veth--- in0 10.77.1.2
#                            out0 10.77.2.1 ---veth--- r0 10.77.2.2
#
# castor-relay runs in the relay namespace with config/examples/demo.toml;
# castor-send multicasts 239.1.1.1:5001 with TTL 1 from the sender; two
# castor-recv in the receiver namespace take the rewritten multicast copy
# (239.2.2.2:6001) and the unicast copy (10.77.2.2:7000). While traffic
# flows, castorctl prints the relay's counters every second. Everything is
# bounded (a fixed count at a fixed rate) and torn down on every exit path.
#
#   relay-demo.sh BUILD_DIR
#
# Needs root (network namespaces). Exits non-zero if a copy was lost.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: relay-demo.sh BUILD_DIR}
relay=$build/apps/relay/castor-relay
ctl=$build/apps/relay/castorctl
send=$build/apps/tools/castor-send
recv=$build/apps/tools/castor-recv
config=$root/config/examples/demo.toml

count=${CASTOR_DEMO_COUNT:-60000}   # datagrams
rate=${CASTOR_DEMO_RATE:-20000}     # per second: a 3 s run

if [[ $(id -u) -ne 0 ]]; then
  echo "relay-demo: needs root to create network namespaces" >&2
  exit 1
fi
for bin in "$relay" "$ctl" "$send" "$recv"; do
  [[ -x $bin ]] || { echo "relay-demo: missing $bin (build it first)" >&2; exit 1; }
done

prefix=cstdemo$$
ns_s=$prefix-snd ns_r=$prefix-rly ns_c=$prefix-rcv
work=$(mktemp -d /tmp/castor-demo.XXXXXX)
sock=$work/relay.sock
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for ns in "$ns_s" "$ns_r" "$ns_c"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }

say "creating namespaces $ns_s -> $ns_r -> $ns_c"
for ns in "$ns_s" "$ns_r" "$ns_c"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip link add s0 netns "$ns_s" type veth peer name in0 netns "$ns_r"
ip link add out0 netns "$ns_r" type veth peer name r0 netns "$ns_c"
ip -n "$ns_s" addr add 10.77.1.1/24 dev s0
ip -n "$ns_r" addr add 10.77.1.2/24 dev in0
ip -n "$ns_r" addr add 10.77.2.1/24 dev out0
ip -n "$ns_c" addr add 10.77.2.2/24 dev r0
ip -n "$ns_s" link set s0 up
ip -n "$ns_r" link set in0 up
ip -n "$ns_r" link set out0 up
ip -n "$ns_c" link set r0 up

say "castor-relay -f config/examples/demo.toml (in $ns_r)"
"$relay" -t -f "$config"
ip netns exec "$ns_r" "$relay" -f "$config" -u "$sock" -l warn \
  > "$work/relay.log" 2>&1 &
pids+=($!)
relay_pid=$!
for _ in $(seq 100); do
  "$ctl" -u "$sock" -t 2 ping > /dev/null 2>&1 && break
  kill -0 "$relay_pid" 2>/dev/null || { cat "$work/relay.log"; exit 1; }
  sleep 0.1
done
"$ctl" -u "$sock" list
"$ctl" -u "$sock" tree
echo "IGMP memberships in the relay namespace (the rule's input group):"
ip netns exec "$ns_r" grep -A3 in0 /proc/net/igmp | sed 's/^/  /'

say "receivers in $ns_c: 239.2.2.2:6001 (multicast) and :7000 (unicast)"
ip netns exec "$ns_c" "$recv" --group 239.2.2.2:6001 --interface r0 \
  --expect-count "$count" --duration 30 --idle 2000 > "$work/mcast.out" 2>&1 &
pids+=($!)
mcast_pid=$!
ip netns exec "$ns_c" "$recv" --listen 0.0.0.0:7000 \
  --expect-count "$count" --duration 30 --idle 2000 > "$work/ucast.out" 2>&1 &
pids+=($!)
ucast_pid=$!
sleep 0.5

say "castor-send: $count datagrams at $rate/s to 239.1.1.1:5001, TTL 1"
ip netns exec "$ns_s" "$send" --group 239.1.1.1:5001 --interface s0 --ttl 1 \
  --count "$count" --rate "$rate" > "$work/send.out" 2>&1 &
pids+=($!)
send_pid=$!
while kill -0 "$send_pid" 2>/dev/null; do
  sleep 1
  say "castorctl stats"
  "$ctl" -u "$sock" stats || true
done
wait "$send_pid"
cat "$work/send.out"

ok=0
wait "$mcast_pid" || ok=1
wait "$ucast_pid" || ok=1
say "castor-recv, multicast copy"
cat "$work/mcast.out"
say "castor-recv, unicast copy"
cat "$work/ucast.out"
say "final castorctl stats"
"$ctl" -u "$sock" stats

say "stopping castor-relay (SIGTERM)"
kill -TERM "$relay_pid"
if wait "$relay_pid"; then
  echo "castor-relay exited cleanly"
else
  echo "castor-relay exited with status $?"; ok=1
fi
# castor-recv's summary line must show every datagram, none lost or doubled.
for f in mcast ucast; do
  grep -Eq "^summary .*received=$count lost=0 duplicates=0 " "$work/$f.out" ||
    ok=1
done
if ((ok == 0)); then
  say "done: every datagram crossed the relay, both copies, none lost"
else
  say "demo FAILED: see above"; cat "$work/relay.log"
fi
exit "$ok"
