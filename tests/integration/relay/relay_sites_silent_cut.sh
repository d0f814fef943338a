#!/usr/bin/env bash
# relay_sites_silent_cut: a WAN path between two sites goes silent (every
# packet dropped by nftables, both ways, the interfaces and routes left up,
# as a cut fibre or a firewall that starts dropping looks to both ends),
# under traffic, for longer than the sites' link timeout (3 s), then comes
# back. Checks: both sites see each other go down within the timeout and a
# margin, although no TCP connection was reset; site 1 counts what it could
# not send as peer_down; it reconnects once the path is back, counts the
# reconnect, and the traffic resumes at site 2 with no duplicates; site 1
# accounts for every datagram the host sent (sent + peer_down + send_error).
# Without the link timeout the node link outlives the cut and the datagrams
# sent during it are lost uncounted.
#
#   relay_sites_silent_cut.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=sites_lib.sh
source "$(dirname "$0")/sites_lib.sh"

CST_NAME=relay-sites-silent-cut
cst_init ssc "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3 nft

sites_init 2
cst_on_exit sites_log_tails
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.64.3.1 5301 2
sites_config 2 1
sites_import 2 feed-in 1 239.64.3.1 5301
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 15 || exit 1
echo "ok: site-1 sees site-2 up, wanting 1 group"

# The cut: each site drops everything that comes in on its WAN link. Sends
# still succeed locally (no error, no reset, no unreachable), as over a cut
# fibre: the packets vanish on the way.
cut_on() {
  local k dev
  for k in 1 2; do
    dev=w$((3 - k))
    cst_in "${SITE_NS[$k]}" nft -f - <<NFT
table inet silentcut {
  chain in { type filter hook input priority -10; iifname "$dev" counter drop; }
}
NFT
  done
}
cut_off() {
  local k
  for k in 1 2; do cst_in "${SITE_NS[$k]}" nft delete table inet silentcut; done
}
cut_dropped() {
  local k
  for k in 1 2; do cst_in "${SITE_NS[$k]}" nft list table inet silentcut; done |
    awk '/counter packets/ { for (i = 1; i <= NF; i++)
      if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

sites_tally_start 1 2
reconnects0=$(sites_peer_field 1 2 reconnects)
total=13000
# 13 s at 1000/s: 2 s before the cut, 7 s of cut, 4 s after it.
cst_start sender "${HOST_NS[1]}" "$CST_SEND" --interface h0 \
  --group 239.64.3.1:5301 --count "$total" --rate 1000 --size 64
sleep 2
cut_on
cut_at=$SECONDS
site2_down_at_1() { [[ $(sites_peer_field 1 2 state) == down ]]; }
site1_down_at_2() { [[ $(sites_peer_field 2 1 state) == down ]]; }
# The timeout is 3 s of silence, checked at each 500 ms heartbeat; 6 s
# leaves room for a loaded machine.
cst_check "site-1 sees site-2 go down during the silent cut" \
  cst_until 6 site2_down_at_1
echo "site-1 saw site-2 down after $((SECONDS - cut_at)) s"
cst_check "site-2 sees site-1 go down during the silent cut" \
  cst_until 3 site1_down_at_2
sleep $((7 - (SECONDS - cut_at) > 0 ? 7 - (SECONDS - cut_at) : 0))
dropped=$(cut_dropped)
cut_off
echo "the cut dropped $dropped packets"
cst_check "the cut dropped packets (nft's counters)" test "$dropped" -gt 0
cst_check "site-1 sees site-2 up again after the path returns" \
  cst_until 10 sites_interest_is 1 2 1
sites_recv after 2 --group 239.64.3.1:5301 --duration 3 --idle 1500
cst_wait_pid "$(cst_pid sender)" 20 || true
sites_recv_resumed after "the cut"
sites_tally_check 1 2 "$total"
cst_check "site-1 counted datagrams as peer_down while the link was down" \
  test "$SITES_DOWN" -gt 0
cst_check "site-1 counted a reconnect" \
  test "$(sites_peer_field 1 2 reconnects)" -gt "$reconnects0"
cst_finish
