#!/usr/bin/env bash
# bus_sites: a castor::bus topic across two subnets (issue 18, "Across
# subnets"). Each site is a LAN with a host and a castor-relay; the relays
# are castor nodes joined by a WAN link that carries unicast only (mutual
# TLS node link, HMAC'd UDP data: tests/integration/relay/sites_lib.sh).
# Site 1's relay exports the topic's group to site 2, whose relay emits it
# as multicast on its LAN. A publisher and a subscriber on host 1, a
# subscriber on host 2: both get every message exactly once, in order, with
# no gap; no multicast crosses the WAN.
#
# The relays carry the bus's datagrams untouched (header: origin, session,
# sequence number), so a subscriber that got a datagram both ways would
# drop the second as a duplicate.
#
# With MODE repair, the link and site 2's LAN lose datagrams (nftables
# random drops in site 2's relay: frames in from the WAN, datagrams out to
# the LAN, checked against the rules' own counters), and site 2's import has
# `repair = "bus"`: the relay answers its subscriber's NAKs from what it
# emitted and NAKs site 1 for what the link lost, which hands the NAK to the
# publisher (docs/bus.md, "Across subnets"). Host 2's subscriber must still
# get every message once, with no gap, and both relays' counters must show
# the repair at work. Without the repair this mode fails: the NAKs go to
# site 2's relay, which did not answer them.
#
# With FAMILY 6 the topic is IPv6 (ff1e::64:18, the LANs dual-stack:
# SITES_LAN6, fd00:62:K::/64), carried over the IPv4 WAN in frame version 2;
# the WAN stays IPv4 so that "no multicast on the WAN" still holds (IPv6's
# ND would be multicast there).
#
#   bus_sites.sh TOOLS_DIR CASTOR_RELAY CASTORCTL CASTOR_BUS [4|6] [repair]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../relay/lib.sh
source "$here/../relay/lib.sh"
# shellcheck source=../relay/sites_lib.sh
source "$here/../relay/sites_lib.sh"
# shellcheck source=bus_sites_lib.sh
source "$here/bus_sites_lib.sh"

bus=${4:?usage: bus_sites.sh TOOLS_DIR CASTOR_RELAY CASTORCTL CASTOR_BUS [4|6] [repair]}
family=${5:-4}
mode=${6:-}
port=24718
if [[ $mode == repair && $family == 6 ]]; then
  CST_NAME=bus-sites-repair-ipv6
  cst_init bsq "$1"
  [[ -e /proc/sys/net/ipv6 ]] || cst_skip "no IPv6 in this kernel"
  SITES_LAN6=1
  group=ff1e::64:18
  map="prices=[$group]:$port"
elif [[ $mode == repair ]]; then
  CST_NAME=bus-sites-repair
  cst_init bsr "$1"
  group=239.64.18.1
  map="prices=$group:$port"
elif [[ $family == 6 ]]; then
  CST_NAME=bus-sites-ipv6
  cst_init bs6 "$1"
  [[ -e /proc/sys/net/ipv6 ]] || cst_skip "no IPv6 in this kernel"
  SITES_LAN6=1
  group=ff1e::64:18
  map="prices=[$group]:$port"
else
  CST_NAME=bus-sites
  cst_init bst "$1"
  group=239.64.18.1
  map="prices=$group:$port"
fi
cst_require_relay "$2" "$3"
cst_need openssl python3
[[ $mode != repair ]] || cst_need nft socat ss

messages=20000

sites_init 2
sites_link 1 2
sites_config 1 2
sites_export 1 bus-prices "$group" "$port" 2
sites_config 2 1
if [[ $mode == repair ]]; then
  sites_import 2 bus-prices-in 1 "$group" "$port" 'repair = "bus"'
else
  sites_import 2 bus-prices-in 1 "$group" "$port"
fi
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 20

# Loss in site 2's relay: 3 % of the frames from site 1 (the link), 5 %
# of what the relay emits on its LAN for the topic.
[[ $mode != repair ]] || bus_sites_loss 2 w1 3 5 "$port"

for k in 1 2; do bus_sites_subscribe "$k" 30; done
wan0=$(sites_wan_mcast 2)
bus_sites_publish 40
for k in 1 2; do bus_sites_expect_all "$k" 45; done
cst_result pub 45 >"$CST_WORK/pub.res" || true
cst_expect "no multicast on the WAN" 0 $(($(sites_wan_mcast 2) - wan0))
if [[ $mode == repair ]]; then
  read -r seen_in dropped_in <<<"$(bus_sites_dropped 2 in)"
  read -r seen_out dropped_out <<<"$(bus_sites_dropped 2 out)"
  echo "$CST_NAME: link: $dropped_in of $seen_in frames dropped;" \
    "site 2's LAN: $dropped_out of $seen_out datagrams dropped"
  cst_check "the link lost frames (its rule's counter)" \
    test "${dropped_in:-0}" -gt 0
  cst_check "site 2's LAN lost datagrams (its rule's counter)" \
    test "${dropped_out:-0}" -gt 0
  repairs=$(sites_peer_field 2 1 bus_repairs)
  naks_up=$(sites_peer_field 2 1 bus_naks_up)
  naks_in=$(sites_peer_field 1 2 bus_naks_in)
  echo "$CST_NAME: site 2 repaired $repairs datagrams from its ring and" \
    "NAKed $naks_up ranges to site 1, which handed $naks_in to the publisher"
  cst_check "site 2 repaired from its ring" test "${repairs:-0}" -gt 0
  cst_check "site 2 NAKed site 1 for what the link lost" \
    test "${naks_up:-0}" -gt 0
  cst_check "site 1 handed NAKs to the publisher" test "${naks_in:-0}" -gt 0

  # Relay 1's NAK socket (the one UDP socket of relay 1's process bound
  # to an ephemeral port on the wildcard) forwards what the publisher
  # answers by unicast; anyone else's datagram is refused and counted, or
  # any host that reaches it could inject into the group at site 2.
  nak_port=$(cst_in "${SITE_NS[1]}" ss -Huanp | awk -v pid="pid=$(cst_pid relay1)," '
    index($0, pid) && $4 ~ /^(0\.0\.0\.0|\[::\]|\*):[0-9]+$/ {
      sub(/.*:/, "", $4); print $4 }' | head -1)
  unknown0=$(sites_ctl 1 peers | sed -n 's/^unknown_source=//p')
  rx0=$(sites_peer_field 2 1 rx_datagrams)
  if [[ $family == 6 ]]; then to="[fd00:62:1::1]:$nak_port"; else to="10.62.1.1:$nak_port"; fi
  printf 'CB\001\001 not from the publisher' |
    cst_in "${HOST_NS[1]}" socat -u - "UDP-DATAGRAM:$to,sourceport=40999" || true
  sleep 0.3
  cst_check "relay 1 has a NAK socket" test -n "$nak_port"
  cst_expect "a datagram to it from another than the publisher is counted" \
    $((unknown0 + 1)) "$(sites_ctl 1 peers | sed -n 's/^unknown_source=//p')"
  cst_expect "and not carried to site 2" "$rx0" "$(sites_peer_field 2 1 rx_datagrams)"
fi
cst_finish
