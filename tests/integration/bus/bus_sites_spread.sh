#!/usr/bin/env bash
# bus_sites_spread: a castor::bus topic across five subnets with the sites'
# logarithmic spread, under loss (issue 18, "Across subnets": "with
# scalesmall's logarithmic spread for many subnets ... every message is
# delivered once per subscriber").
#
# Five sites on one unicast-only WAN segment (node links in a full mesh).
# Site 1 exports the topic's group with spread = "log" to the four others,
# so it sends on at most ceil(log2(4+1)) = 3 links and the sites it sends
# to forward the rest. Each of them imports it with repair = "bus". Every
# relay of sites 2-5 drops 2 % of the frames from the WAN and 3 % of what
# it emits on its LAN (nftables, checked against the rules' counters): a
# frame lost at a forwarding site is also lost to the sites it would have
# forwarded to, whose relays then NAK site 1 for it.
#
# A publisher and a subscriber on host 1, a subscriber on each other host:
# every subscriber gets every message once, in order, with no gap.
#
#   bus_sites_spread.sh TOOLS_DIR CASTOR_RELAY CASTORCTL CASTOR_BUS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../relay/lib.sh
source "$here/../relay/lib.sh"
# shellcheck source=../relay/sites_lib.sh
source "$here/../relay/sites_lib.sh"
# shellcheck source=bus_sites_lib.sh
source "$here/bus_sites_lib.sh"

bus=${4:?usage: bus_sites_spread.sh TOOLS_DIR CASTOR_RELAY CASTORCTL CASTOR_BUS}
CST_NAME=bus-sites-spread
cst_init bsp "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3 nft

n=5
group=239.64.19.1
port=24719
map="prices=$group:$port"
messages=20000

sites_mesh "$n"
others() { sites_others "$1"; }
# shellcheck disable=SC2046
sites_export 1 bus-prices "$group" "$port" $(others 1) spread=log
for ((k = 2; k <= n; k++)); do
  sites_import "$k" bus-prices-in 1 "$group" "$port" 'repair = "bus"'
done
for ((k = 1; k <= n; k++)); do sites_start "$k"; done
for ((k = 1; k <= n; k++)); do
  sites_wait_up "$k" $((n - 1)) 20 || exit 1
done
for ((k = 2; k <= n; k++)); do
  sites_wait_interest 1 "$k" 1 10 || exit 1
done

for ((k = 2; k <= n; k++)); do bus_sites_loss "$k" w0 2 3 "$port"; done
dropped() { bus_sites_dropped "$1" "$2" | awk '{ print $2 }'; }

for ((k = 1; k <= n; k++)); do bus_sites_subscribe "$k" 40; done
bus_sites_publish 50
for ((k = 1; k <= n; k++)); do bus_sites_expect_all "$k" 55; done
cst_result pub 55 >"$CST_WORK/pub.res" || true

links=0 lost_in=0 lost_out=0 repairs=0 naks_up=0 naks_in=0
for j in $(others 1); do
  (($(sites_peer_field 1 "$j" tx_datagrams) == 0)) || links=$((links + 1))
  naks_in=$((naks_in + $(sites_peer_field 1 "$j" bus_naks_in)))
done
for ((k = 2; k <= n; k++)); do
  lost_in=$((lost_in + $(dropped "$k" in)))
  lost_out=$((lost_out + $(dropped "$k" out)))
  repairs=$((repairs + $(sites_peer_field "$k" 1 bus_repairs)))
  naks_up=$((naks_up + $(sites_peer_field "$k" 1 bus_naks_up)))
done
echo "$CST_NAME: site 1 sent on $links links; the rules dropped $lost_in" \
  "frames from the WAN and $lost_out datagrams to the LANs; sites 2-$n" \
  "repaired $repairs datagrams from their rings and NAKed $naks_up ranges" \
  "to site 1, which handed $naks_in to the publisher"
cst_expect "site 1 sends on ceil(log2(4+1)) = 3 links" 3 "$links"
cst_check "the WAN lost frames (the rules' counters)" test "$lost_in" -gt 0
cst_check "the LANs lost datagrams (the rules' counters)" test "$lost_out" -gt 0
cst_check "the importing sites repaired from their rings" test "$repairs" -gt 0
cst_check "what the WAN lost was NAKed to site 1" test "$naks_up" -gt 0
cst_check "site 1 handed NAKs to the publisher" test "$naks_in" -gt 0
cst_finish
