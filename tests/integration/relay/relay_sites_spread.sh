#!/usr/bin/env bash
# relay_sites_spread: eight sites with spread = "log" (issue 17). All eight
# relays sit on one unicast-only WAN segment, each a [[peer]] of every
# other (node links in a full mesh: every site can forward to every
# other). Site 1 exports its group to the seven others with
# spread = "log"; each of them imports it. Every datagram must arrive
# exactly once at each of the seven sites, site 1 must send on at most
# ceil(log2(7+1)) = 3 peer links (the issue allows 4), the other sites
# must carry the rest, and no multicast may cross the WAN.
#
#   relay_sites_spread.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=sites_lib.sh
source "$(dirname "$0")/sites_lib.sh"

CST_NAME=relay-sites-spread
cst_init ssp "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3

n=8
sites_mesh "$n"
others() { sites_others "$1"; }
# shellcheck disable=SC2046
sites_export 1 feed 239.67.1.1 5000 $(others 1) spread=log
for ((k = 2; k <= n; k++)); do
  sites_import "$k" feed-in 1 239.67.1.1 5000
done
for ((k = 1; k <= n; k++)); do sites_start "$k"; done
for ((k = 1; k <= n; k++)); do
  sites_wait_up "$k" $((n - 1)) 20 || exit 1
done
for ((k = 2; k <= n; k++)); do
  sites_wait_interest 1 "$k" 1 10 || exit 1
done
echo "ok: every site sees the seven others up; site-1 sees each want its feed"

count=1000
for ((k = 2; k <= n; k++)); do
  sites_recv "r$k" "$k" --group 239.67.1.1:5000 --expect-count "$count" \
    --expect-zero-loss --expect-no-duplicates --duration 20 --idle 1500
done
sites_send 1 --group 239.67.1.1:5000 --count "$count" --rate 2000 --size 100
for ((k = 2; k <= n; k++)); do
  cst_check "site-1's feed arrives exactly once at site-$k" \
    cst_recv_result "r$k" 25
done

# Per-peer counters: who sent to whom.
links=0 sent=0 forwarded=0 received=0 dups=0
for ((k = 1; k <= n; k++)); do
  for j in $(others "$k"); do
    tx=$(sites_peer_field "$k" "$j" tx_datagrams)
    rx=$(sites_peer_field "$k" "$j" rx_datagrams)
    received=$((received + rx))
    dups=$((dups + $(sites_peer_field "$k" "$j" duplicates)))
    if ((k == 1)); then
      ((tx == 0)) || links=$((links + 1))
      sent=$((sent + tx))
    else
      forwarded=$((forwarded + tx))
    fi
  done
done
echo "site-1 sent on $links peer links ($sent datagrams); the others forwarded $forwarded"
cst_check "site-1 sends on at most 4 peer links" test "$links" -le 4
cst_expect "site-1 sends on ceil(log2(7+1)) = 3 peer links" 3 "$links"
cst_expect "the other sites forward the rest: one copy per site in all" \
  $(((n - 1) * count)) $((sent + forwarded))
cst_expect "each site receives each datagram once" $(((n - 1) * count)) \
  "$received"
cst_expect "no site saw a duplicate" 0 "$dups"
wan_mcast=0
for ((k = 1; k <= n; k++)); do
  wan_mcast=$((wan_mcast + $(sites_wan_mcast "$k")))
done
cst_expect "no multicast on the WAN" 0 "$wan_mcast"
cst_finish
