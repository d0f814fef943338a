#!/usr/bin/env bash
# relay_sites_mesh: three sites in a full mesh of unicast-only WAN links
# (issue 17). Every site exports its own group to the other two and imports
# theirs, so each link carries traffic both ways at once. Every datagram
# must arrive exactly once at each other site (zero loss, no duplicates),
# the relays' per-peer counters must equal what the receivers saw, and no
# multicast may cross a WAN link.
#
#   relay_sites_mesh.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=sites_lib.sh
source "$(dirname "$0")/sites_lib.sh"

CST_NAME=relay-sites-mesh
cst_init stm "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3

sites_init 3
cst_on_exit sites_log_tails
sites_link 1 2
sites_link 2 3
sites_link 1 3
others() { local k; for k in 1 2 3; do ((k == $1)) || echo "$k"; done; }
for k in 1 2 3; do
  # shellcheck disable=SC2046
  sites_config "$k" $(others "$k")
  # shellcheck disable=SC2046
  sites_export "$k" "feed-$k" "239.65.$k.1" 5000 $(others "$k")
  for j in $(others "$k"); do
    sites_import "$k" "feed-$j-in" "$j" "239.65.$j.1" 5000
  done
done
for k in 1 2 3; do sites_start "$k"; done
for k in 1 2 3; do
  for j in $(others "$k"); do
    sites_wait_interest "$k" "$j" 1 10 || exit 1
  done
done
echo "ok: every site sees the other two up, each wanting its group"

count=1500
for k in 1 2 3; do
  for j in $(others "$k"); do
    sites_recv "r$j-at-$k" "$k" --group "239.65.$j.1:5000" \
      --expect-count "$count" --expect-zero-loss --expect-no-duplicates \
      --duration 25 --idle 2000
  done
done
# All three senders at once: every link busy both ways.
for k in 1 2 3; do
  cst_start "send$k" "${HOST_NS[$k]}" "$CST_SEND" --interface h0 \
    --group "239.65.$k.1:5000" --count "$count" --rate 3000 --size 200
done
for k in 1 2 3; do cst_wait_pid "$(cst_pid "send$k")" 20 || true; done
for k in 1 2 3; do
  for j in $(others "$k"); do
    cst_check "site-$j's feed arrives exactly once at site-$k" \
      cst_recv_result "r$j-at-$k" 30
  done
done
for k in 1 2 3; do
  for j in $(others "$k"); do
    cst_expect "site-$k sent $count to site-$j" "$count" \
      "$(sites_peer_field "$k" "$j" tx_datagrams)"
    cst_expect "site-$k received $count from site-$j" "$count" \
      "$(sites_peer_field "$k" "$j" rx_datagrams)"
  done
  cst_expect "no multicast on site-$k's WAN links" 0 "$(sites_wan_mcast "$k")"
done
cst_finish
