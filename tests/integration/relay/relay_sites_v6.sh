#!/usr/bin/env bash
# relay_sites_v6: two sites whose WAN is IPv6 only (issues 17 and 19).
# [node] listen and [[peer]] address are "[fd00:64::k]:4370": the TLS node
# link and the HMAC'd data frames cross an IPv6 WAN link (addresses in
# fd00::/8, no DAD); the LANs are IPv4 multicast. Site 1's feed must
# arrive exactly once at site 2, both ends must show the peer at its IPv6
# address, up, with a measured round-trip time.
#
#   relay_sites_v6.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=sites_lib.sh
source "$(dirname "$0")/sites_lib.sh"

CST_NAME=relay-sites-v6
cst_init si6 "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3
[[ -e /proc/sys/net/ipv6 ]] || cst_skip "no IPv6 in this kernel"

SITES_V6=1
sites_init 2
cst_on_exit sites_log_tails
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.68.1.1 5001 2
sites_config 2 1
sites_import 2 feed-in 1 239.68.1.1 5001
cst_check "an IPv6 [node] passes -t" \
  ip netns exec "${SITE_NS[1]}" "$CST_RELAY" -t -f "$CST_WORK/site-1.toml"
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 10 || exit 1
cst_expect "site-1 shows site-2 at its IPv6 address" "[fd00:64::2]:4370" \
  "$(sites_ctl 1 peers | awk '$1 == "site-2" { print $2 }')"
cst_expect "site-2 sees site-1 up over IPv6" up "$(sites_peer_field 2 1 state)"

sites_recv r 2 --group 239.68.1.1:5001 --expect-count 1000 \
  --expect-zero-loss --expect-no-duplicates --duration 20 --idle 1500
sites_send 1 --group 239.68.1.1:5001 --count 1000 --rate 4000 --size 200
cst_check "1000 datagrams across the IPv6 WAN, none lost, none twice" \
  cst_recv_result r 25
cst_expect "site-1 sent 1000 datagrams to site-2" 1000 \
  "$(sites_peer_field 1 2 tx_datagrams)"
cst_check "site-1 measures a round-trip time to site-2 over IPv6" \
  cst_until 5 sites_rtt_ok 1 2
cst_finish
