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

# shellcheck source=../tests/integration/netns.sh
source "$root/tests/integration/netns.sh"
CST_NAME="relay-demo"
cst_setup demo
ns_s=${CST_PREFIX}snd ns_r=${CST_PREFIX}rly ns_c=${CST_PREFIX}rcv
sock=$CST_WORK/relay.sock

say() { printf '\n== %s\n' "$*"; }

say "creating namespaces $ns_s -> $ns_r -> $ns_c"
cst_add_ns "$ns_s" "$ns_r" "$ns_c"
cst_veth "$ns_s" s0 "$ns_r" in0 10.77.1.1/24 10.77.1.2/24
cst_veth "$ns_r" out0 "$ns_c" r0 10.77.2.1/24 10.77.2.2/24
for link in "$ns_s s0" "$ns_r in0" "$ns_r out0" "$ns_c r0"; do
  # shellcheck disable=SC2086 # NS DEV
  cst_wait_link $link
done

say "castor-relay -f config/examples/demo.toml (in $ns_r)"
"$relay" -t -f "$config"
cst_start relay "$ns_r" "$relay" -f "$config" -u "$sock" -l warn
relay_gone() { ! kill -0 "$(cst_pid relay)" 2>/dev/null; }
# shellcheck disable=SC2317 # called through cst_until
relay_up_or_gone() {
  "$ctl" -u "$sock" -t 2 ping >/dev/null 2>&1 || relay_gone
}
cst_until 10 relay_up_or_gone || true
if relay_gone; then cst_out relay; exit 1; fi
"$ctl" -u "$sock" list
"$ctl" -u "$sock" tree
echo "IGMP memberships in the relay namespace (the rule's input group):"
cst_in "$ns_r" grep -A3 in0 /proc/net/igmp | sed 's/^/  /'

say "receivers in $ns_c: 239.2.2.2:6001 (multicast) and :7000 (unicast)"
cst_start mcast "$ns_c" "$recv" --group 239.2.2.2:6001 --interface r0 \
  --expect-count "$count" --duration 30 --idle 2000
cst_start ucast "$ns_c" "$recv" --listen 0.0.0.0:7000 \
  --expect-count "$count" --duration 30 --idle 2000
sleep 0.5

say "castor-send: $count datagrams at $rate/s to 239.1.1.1:5001, TTL 1"
cst_start send "$ns_s" "$send" --group 239.1.1.1:5001 --interface s0 --ttl 1 \
  --count "$count" --rate "$rate"
# Stats every second while it sends, bounded by its own count and rate.
for ((i = 0; i < count / rate + 30; i++)); do
  kill -0 "$(cst_pid send)" 2>/dev/null || break
  sleep 1
  say "castorctl stats"
  "$ctl" -u "$sock" stats || true
done
cst_result send 10

ok=0
say "castor-recv, multicast copy"
cst_result mcast 35 || ok=1
say "castor-recv, unicast copy"
cst_result ucast 35 || ok=1
say "final castorctl stats"
"$ctl" -u "$sock" stats

say "stopping castor-relay (SIGTERM)"
rc=0
cst_stop relay 10 || rc=$?
if ((rc == 0)); then
  echo "castor-relay exited cleanly"
else
  echo "castor-relay exited with status $rc"; ok=1
fi
# castor-recv's summary line must show every datagram, none lost or doubled.
for f in mcast ucast; do
  grep -Eq "^summary .*received=$count lost=0 duplicates=0 " \
    "$CST_WORK/$f.out" || ok=1
done
if ((ok == 0)); then
  say "done: every datagram crossed the relay, both copies, none lost"
else
  say "demo FAILED: see above"; cst_out relay
fi
exit "$ok"
