#!/usr/bin/env bash
# castor-bus end to end, in network namespaces this script creates and
# always removes: one publisher and two subscribers on a bridge, each
# subscriber behind its own nftables random-drop rule. Over IPv4, or with
# FAMILY 6 the same over IPv6.
#
#   P p0 10.203.0.1 --\                 /-- e0 10.203.0.2 S1 (drop 5 %)
#                      br0 (namespace B)
#                                       \-- e0 10.203.0.3 S2 (drop 5 %)
#
# IPv6: fd00:203::1..3/64 (nodad, DAD off), topics hashed into
# ff3e:40:fd00:203::/96 (--base: the unicast-prefix-based groups of
# fd00:203::/64, RFC 3306; any-source joins are legal there, unlike
# ff3e::/32), discovery on [ff3e:40:fd00:203::4d]:24699.
#
# Checks:
#   1. 50k messages at 50k/s, sent with UDP GSO (pub --gso), 5 % random
#      loss on each subscriber's input (numgen random mod 100 < 5, counted
#      by the rule itself; a GSO run crosses the veths whole, so the rule
#      drops whole runs); S1's kernel cuts the runs into datagrams, S2
#      reads them whole (sub --gro) and cuts them itself. For each: every
#      message arrives exactly once and in order, no unrecoverable gap, and
#      the rule really dropped 2..10 % of what reached it (the rule's own
#      counters, not the nominal rate). IPv6: the NAKs reached the
#      publisher at its ULA (a counter on its input).
#   2. castor-bus stat sees the publisher and both subscribers announce.
#   3. A raw topic: socat sends plain datagrams, castor-bus sub prints them.
#   4. IPv6 only: a publisher with nothing but a link-local address (L on
#      the bridge too) is repaired as well: its datagrams' source is
#      fe80::...%e0 and the subscriber's NAKs go there, with the interface
#      the kernel reported as the address's zone.
#
# Usage: bus_netns.sh PATH/TO/castor-bus [4|6]
# Exit: 0 pass, 1 fail, 77 skipped (not root, no `ip netns`, nft or socat).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../netns.sh
source "$here/../netns.sh"

bus=${1:?usage: bus_netns.sh PATH/TO/castor-bus [4|6]}
family=${2:-4}
CST_NAME=bus_netns
# shellcheck disable=SC2034 # read by netns.sh
((family == 4)) || CST_NAME=bus_netns_ipv6
[[ $family != 6 || -e /proc/sys/net/ipv6 ]] || cst_skip "no IPv6 in this kernel"
cst_setup "bus$family"
cst_need nft socat
B=${CST_PREFIX}b
P=${CST_PREFIX}p
S1=${CST_PREFIX}s1
S2=${CST_PREFIX}s2
L=${CST_PREFIX}l
messages=${BUS_MESSAGES:-50000}

# -- the family's addresses -------------------------------------------------------
if [[ $family == 6 ]]; then
  addr_p=fd00:203::1/64 addr_s1=fd00:203::2/64 addr_s2=fd00:203::3/64
  base=ff3e:40:fd00:203::
  discovery="[${base}4d]:24699"
  # castor-bus's options for this family (every subcommand).
  fam=(--base "$base" --discovery "$discovery")
  stat_fam=(--discovery "$discovery")
  nft_family=ip6 nft_match="ip6 daddr $base/96"
  group_json="\"group\":\"[$base"
  raw_group="[${base}77:1]"
  raw_peer() { echo "UDP6-DATAGRAM:$raw_group:24710,so-bindtodevice=p0"; }
  namespaces=("$B" "$P" "$S1" "$S2" "$L")
else
  addr_p=10.203.0.1/24 addr_s1=10.203.0.2/24 addr_s2=10.203.0.3/24
  fam=()
  stat_fam=()
  nft_family=ip nft_match="ip daddr 239.193.0.0/16"
  group_json='"group":"239.193.'
  raw_group=239.193.77.1
  raw_peer() { echo "UDP4-DATAGRAM:$raw_group:24710,ip-multicast-if=10.203.0.1"; }
  namespaces=("$B" "$P" "$S1" "$S2")
fi

# -- topology ------------------------------------------------------------------
cst_add_ns "${namespaces[@]}"
if [[ $family == 6 ]]; then
  # IPv6 on, and no duplicate address detection: an address (link-local
  # ones too) is usable at once instead of tentative for a second or two.
  for ns in "${namespaces[@]}"; do
    cst_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
      net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 \
      net.ipv6.conf.default.accept_dad=0
  done
fi
ip -n "$B" link add br0 type bridge mcast_snooping 0
ip -n "$B" link set br0 up
port=0
links=("$P:p0:$addr_p" "$S1:e0:$addr_s1" "$S2:e0:$addr_s2")
[[ $family == 6 ]] && links+=("$L:e0:") # link-local only
for link in "${links[@]}"; do
  IFS=: read -r ns dev _ <<<"$link"
  addr=${link#*:*:}
  cst_veth "$B" "b$port" "$ns" "$dev"
  if [[ $family == 6 && -n $addr ]]; then
    ip -n "$ns" addr add "$addr" dev "$dev" nodad
  elif [[ -n $addr ]]; then
    ip -n "$ns" addr add "$addr" dev "$dev"
  fi
  ip -n "$B" link set "b$port" master br0
  cst_wait_link "$ns" "$dev"
  port=$((port + 1))
done
if [[ $family == 6 ]]; then
  # Bounded: with DAD off nothing should stay tentative.
  v6_ready() { ! ip -n "$1" -6 addr show dev "$2" | grep -q tentative; }
  for link in "${links[@]}"; do
    IFS=: read -r ns dev _ <<<"$link"
    cst_until 10 v6_ready "$ns" "$dev" || cst_skip "IPv6 addresses stay tentative"
  done
else
  for ns in "$P" "$S1" "$S2"; do
    dev=e0
    [[ $ns == "$P" ]] && dev=p0
    cst_mroute "$ns" "$dev"
  done
fi

# Each subscriber's input: count what arrives for the bus's groups, then
# drop 5 % of it at random (and count that).
for ns in "$S1" "$S2"; do
  cst_in "$ns" nft -f - <<NFT
table $nft_family busloss {
  chain in {
    type filter hook input priority 0; policy accept;
    $nft_match udp dport 24700 counter
    $nft_match udp dport 24700 numgen random mod 100 < 5 counter drop
  }
}
NFT
done
# IPv6: what reaches the publishers from the subscribers' port (the NAKs),
# at P's ULA and at L's link-local address.
if [[ $family == 6 ]]; then
  for to in "$P:fd00:203::1" "$L:fe80::/10"; do
    cst_in "${to%%:*}" nft -f - <<NFT
table ip6 busnak {
  chain in {
    type filter hook input priority 0; policy accept;
    ip6 daddr ${to#*:} udp sport 24700 counter
  }
}
NFT
  done
fi

# counters NS: "SEEN DROPPED" from the rules' own counters.
counters() {
  cst_in "$1" nft list chain "$nft_family" busloss in \
    | sed -n 's/.*counter packets \([0-9]*\) bytes.*/\1/p' | tr '\n' ' '
}
# naks NS: the datagrams that reached NS from the subscribers' port.
naks() {
  cst_in "$1" nft list chain ip6 busnak in \
    | sed -n 's/.*counter packets \([0-9]*\) bytes.*/\1/p'
}

# field JSON NAME: a number from the summary line.
field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1" | tail -1; }

# -- 1. loss repaired ----------------------------------------------------------
for s in 1 2; do
  ns=$S1
  [[ $s == 2 ]] && ns=$S2
  # S2 reads the publisher's GSO runs whole (--gro) and cuts them itself;
  # S1's kernel cuts them.
  gro=()
  [[ $s == 2 ]] && gro=(--gro)
  cst_start "sub$s" "$ns" timeout -k 5 40 "$bus" sub loss.test -i e0 --quiet \
    --check --count "$messages" --timeout 30 --announce-ms 200 "${fam[@]}" \
    "${gro[@]}"
done
cst_wait_for sub1 subscribed 10
cst_wait_for sub2 subscribed 10
# -- 2. discovery, while the publisher runs -------------------------------------
cst_start stat "$S2" timeout -k 5 20 "$bus" stat -i e0 --duration 2.5 --json \
  "${stat_fam[@]}"
sleep 0.3
cst_start pub "$P" timeout -k 5 40 "$bus" pub loss.test -i p0 --count "$messages" \
  --rate 50000 --size 32 --linger-ms 2500 --announce-ms 200 --gso "${fam[@]}"

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
pub_summary=$(grep '^{' <<<"$pub_out" | tail -1)
echo "pub: $pub_summary"
if [[ $family == 6 ]]; then
  nak_count=$(naks "$P")
  echo "NAKs at the publisher's input: $nak_count"
  cst_check "the NAKs reached the publisher at its ULA ($nak_count)" \
    test "$nak_count" -gt 0 -a "$(field "$pub_summary" naks)" -gt 0
fi
cst_result stat 25 >"$CST_WORK/stat.res" || true
stat_out=$(<"$CST_WORK/stat.res")
echo "$stat_out"
cst_check "stat lists the publisher" \
  grep -qF "\"role\":\"pub\",\"topic\":\"loss.test\",$group_json" <<<"$stat_out"
cst_expect "stat lists both subscribers" 2 \
  "$(grep -c '"role":"sub","topic":"loss.test"' <<<"$stat_out" || true)"

# -- 3. raw topic fed by socat -----------------------------------------------------
map=raw.feed=$raw_group:24710,raw
cst_start raw "$S1" timeout -k 5 20 "$bus" sub raw.feed --map "$map" -i e0 \
  --count 3 --timeout 15 "${fam[@]}"
cst_wait_for raw subscribed 10
sleep 0.3
for word in alpha beta gamma; do
  printf '%s' "$word" | cst_in "$P" socat -u - "$(raw_peer)"
done
cst_result raw 20 >"$CST_WORK/raw.res" || true
raw_out=$(<"$CST_WORK/raw.res")
cst_expect "a raw topic delivers socat's payloads" "alpha beta gamma" \
  "$(grep -E '^(alpha|beta|gamma)$' <<<"$raw_out" | tr '\n' ' ' | sed 's/ $//')"

# -- 4. IPv6: a publisher with a link-local address only ---------------------------
if [[ $family == 6 ]]; then
  ll=10000
  cst_start ll "$S1" timeout -k 5 30 "$bus" sub ll.test -i e0 --quiet --check \
    --count "$ll" --timeout 20 "${fam[@]}"
  cst_wait_for ll subscribed 10
  sleep 0.3
  cst_start llpub "$L" timeout -k 5 30 "$bus" pub ll.test -i e0 --count "$ll" \
    --rate 50000 --size 32 --linger-ms 1500 "${fam[@]}"
  rc=0
  cst_result ll 30 >"$CST_WORK/ll.res" || rc=$?
  summary=$(grep "^{" "$CST_WORK/ll.res" | tail -1)
  cst_result llpub 30 >"$CST_WORK/llpub.res" || true
  echo "link-local: sub $summary; pub $(grep '^{' "$CST_WORK/llpub.res" | tail -1)"
  nak_count=$(naks "$L")
  cst_expect "link-local: sub exits cleanly" 0 "$rc"
  cst_expect "link-local: every message" "$ll" "$(field "$summary" received)"
  cst_expect "link-local: no gap" 0 "$(field "$summary" gaps)"
  cst_expect "link-local: none twice" 0 "$(field "$summary" repeated)"
  cst_check "link-local: repaired by NAKs to fe80::...%e0 ($nak_count reached it)" \
    test "$(field "$summary" repairs)" -gt 0 -a "$nak_count" -gt 0
fi

cst_finish
