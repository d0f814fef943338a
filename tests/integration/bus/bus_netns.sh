#!/usr/bin/env bash
# castor-bus end to end, in network namespaces this script creates and
# always removes: one publisher and two subscribers on a bridge, each
# subscriber behind its own nftables random-drop rule.
#
#   P p0 10.203.0.1 --\                 /-- e0 10.203.0.2 S1 (drop 5 %)
#                      br0 (namespace B)
#                                       \-- e0 10.203.0.3 S2 (drop 5 %)
#
# Checks:
#   1. 50k messages at 50k/s, 5 % random loss on each subscriber's input
#      (numgen random mod 100 < 5, counted by the rule itself): every
#      message arrives exactly once and in order, no unrecoverable gap, and
#      the rule really dropped 2..10 % of what reached it (the rule's own
#      counters, not the nominal rate).
#   2. castor-bus stat sees the publisher and both subscribers announce.
#   3. A raw topic: socat sends plain datagrams, castor-bus sub prints them.
#
# Usage: bus_netns.sh PATH/TO/castor-bus
# Exit: 0 pass, 1 fail, 77 skipped (not root, no `ip netns`, nft or socat).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../netns.sh
source "$here/../netns.sh"

bus=${1:?usage: bus_netns.sh PATH/TO/castor-bus}
CST_NAME=bus_netns
cst_setup bus
cst_need nft socat
B=${CST_PREFIX}b
P=${CST_PREFIX}p
S1=${CST_PREFIX}s1
S2=${CST_PREFIX}s2
messages=50000

# -- topology ------------------------------------------------------------------
cst_add_ns "$B" "$P" "$S1" "$S2"
ip -n "$B" link add br0 type bridge mcast_snooping 0
ip -n "$B" link set br0 up
port=0
for pair in "$P:p0:10.203.0.1/24" "$S1:e0:10.203.0.2/24" "$S2:e0:10.203.0.3/24"; do
  IFS=: read -r ns dev addr <<<"$pair"
  cst_veth "$B" "b$port" "$ns" "$dev" "" "$addr"
  ip -n "$B" link set "b$port" master br0
  cst_wait_link "$ns" "$dev"
  port=$((port + 1))
done
for ns in "$P" "$S1" "$S2"; do
  dev=e0
  [[ $ns == "$P" ]] && dev=p0
  cst_mroute "$ns" "$dev"
done

# Each subscriber's input: count what arrives for the bus's groups, then
# drop 5 % of it at random (and count that).
for ns in "$S1" "$S2"; do
  cst_in "$ns" nft -f - <<'NFT'
table ip busloss {
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr 239.193.0.0/16 udp dport 24700 counter
    ip daddr 239.193.0.0/16 udp dport 24700 numgen random mod 100 < 5 counter drop
  }
}
NFT
done

# counters NS: "SEEN DROPPED" from the rules' own counters.
counters() {
  cst_in "$1" nft list chain ip busloss in \
    | sed -n 's/.*counter packets \([0-9]*\) bytes.*/\1/p' | tr '\n' ' '
}

# field JSON NAME: a number from the summary line.
field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1" | tail -1; }

# -- 1. loss repaired ----------------------------------------------------------
for s in 1 2; do
  ns=$S1
  [[ $s == 2 ]] && ns=$S2
  cst_start "sub$s" "$ns" timeout -k 5 40 "$bus" sub loss.test -i e0 --quiet \
    --check --count "$messages" --timeout 30 --announce-ms 200
done
cst_wait_for sub1 subscribed 10
cst_wait_for sub2 subscribed 10
# -- 2. discovery, while the publisher runs -------------------------------------
cst_start stat "$S2" timeout -k 5 20 "$bus" stat -i e0 --duration 2.5 --json
sleep 0.3
cst_start pub "$P" timeout -k 5 40 "$bus" pub loss.test -i p0 --count "$messages" \
  --rate 50000 --size 32 --linger-ms 2500 --announce-ms 200

for s in 1 2; do
  ns=$S1
  [[ $s == 2 ]] && ns=$S2
  rc=0
  # cst_result in this shell, not in $(...): it forgets the process.
  cst_result "sub$s" 45 >"$CST_WORK/sub$s.res" || rc=$?
  out=$(<"$CST_WORK/sub$s.res")
  summary=$(grep "^{" <<<"$out" | tail -1)
  grep -v "^{" <<<"$out" || true
  read -r seen dropped <<<"$(counters "$ns")"
  echo "sub$s: $summary; nft: $seen seen, $dropped dropped"
  cst_expect "sub$s exits cleanly" 0 "$rc"
  cst_expect "sub$s receives every message" "$messages" "$(field "$summary" received)"
  cst_expect "sub$s has no unrecoverable gap" 0 "$(field "$summary" gaps)"
  cst_expect "sub$s sees no message twice" 0 "$(field "$summary" repeated)"
  cst_expect "sub$s sees them in order" 0 "$(field "$summary" out_of_order)"
  cst_check "sub$s's rule dropped 2..10 % ($dropped of $seen)" \
    test "$((dropped * 100))" -ge "$((seen * 2))" -a \
    "$((dropped * 100))" -le "$((seen * 10))"
  cst_check "sub$s repaired by NAK" test "$(field "$summary" repairs)" -gt 0
done
cst_result pub 45 >"$CST_WORK/pub.res" || true
pub_out=$(<"$CST_WORK/pub.res")
echo "pub: $(grep '^{' <<<"$pub_out" | tail -1)"
cst_result stat 25 >"$CST_WORK/stat.res" || true
stat_out=$(<"$CST_WORK/stat.res")
echo "$stat_out"
cst_check "stat lists the publisher" \
  grep -q '"role":"pub","topic":"loss.test","group":"239.193.' <<<"$stat_out"
cst_expect "stat lists both subscribers" 2 \
  "$(grep -c '"role":"sub","topic":"loss.test"' <<<"$stat_out" || true)"

# -- 3. raw topic fed by socat -----------------------------------------------------
map=raw.feed=239.193.77.1:24710,raw
cst_start raw "$S1" timeout -k 5 20 "$bus" sub raw.feed --map "$map" -i e0 \
  --count 3 --timeout 15
cst_wait_for raw subscribed 10
sleep 0.3
for word in alpha beta gamma; do
  printf '%s' "$word" | cst_in "$P" socat -u - \
    UDP4-DATAGRAM:239.193.77.1:24710,ip-multicast-if=10.203.0.1
done
cst_result raw 20 >"$CST_WORK/raw.res" || true
raw_out=$(<"$CST_WORK/raw.res")
cst_expect "a raw topic delivers socat's payloads" "alpha beta gamma" \
  "$(grep -E '^(alpha|beta|gamma)$' <<<"$raw_out" | tr '\n' ' ' | sed 's/ $//')"

cst_finish
