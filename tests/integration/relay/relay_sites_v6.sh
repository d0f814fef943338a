#!/usr/bin/env bash
# relay_sites_v6: two sites whose WAN is IPv6 only, and site rules that
# carry IPv6 groups (issues 17 and 19). [node] listen and [[peer]] address
# are "[fd00:64::k]:4370": the TLS node link and the HMAC'd data frames
# cross an IPv6 WAN link (addresses in fd00::/8, no DAD). The LANs are
# dual-stack (SITES_LAN6): site 1 exports an IPv4 group and an IPv6 SSM
# group (ff3e::, with its sender's address as source); site 2 imports
# both and emits each in both families (IPv4 -> IPv6 and IPv6 -> IPv4).
# Every datagram must arrive exactly once on each of the four outputs, the
# peer counters must equal what was sent and received, both ends must show
# the peer at its IPv6 address, up, with a measured round-trip time, and
# site 1 must list the IPv6 group site 2 asked for.
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

SITES_V6=1 SITES_LAN6=1
sites_init 2
cst_on_exit sites_log_tails
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.68.1.1 5001 2
cat >>"$CST_WORK/site-1.toml" <<'TOML'

[[rule]]
name = "feed6"
input = { interface = "lan0", group = "ff3e::68:1", port = 5002, source = "fd00:62:1::2" }
outputs = [ { peer = "site-2" } ]
TOML
sites_config 2 1
cat >>"$CST_WORK/site-2.toml" <<'TOML'

[[rule]]
name = "feed-in"
input = { peer = "site-1", group = "239.68.1.1", port = 5001 }
outputs = [ { interface = "lan0", address = "239.68.1.1", port = 5001, ttl = 1 },
            { interface = "lan0", address = "ff1e::68:11", port = 5001, ttl = 1 } ]

[[rule]]
name = "feed6-in"
input = { peer = "site-1", group = "ff3e::68:1", port = 5002 }
outputs = [ { interface = "lan0", address = "ff1e::68:1", port = 5002, ttl = 1 },
            { interface = "lan0", address = "239.68.2.1", port = 5002, ttl = 1 } ]
TOML
for k in 1 2; do
  cst_check "site-$k's IPv6 [node] and IPv6 site rules pass -t" \
    ip netns exec "${SITE_NS[$k]}" "$CST_RELAY" -t -f "$CST_WORK/site-$k.toml"
done
sites_start 1
sites_start 2
sites_wait_interest 1 2 2 10 || exit 1
cst_expect "site-1 shows site-2 at its IPv6 address" "[fd00:64::2]:4370" \
  "$(sites_ctl 1 peers | awk '$1 == "site-2" { print $2 }')"
cst_expect "site-2 sees site-1 up over IPv6" up "$(sites_peer_field 2 1 state)"
cst_expect "site-1 lists the IPv6 group site-2 asked for" "[ff3e::68:1]:5002" \
  "$(sites_ctl 1 peers | awk '$1 == "wants" && $2 ~ /^\[/ { print $2 }')"

# One receiver per output: the same datagram reaches two of them.
want=(--expect-count 1000 --expect-zero-loss --expect-no-duplicates
  --duration 20 --idle 1500)
sites_recv r4 2 --group 239.68.1.1:5001 "${want[@]}"
sites_recv r46 2 --group '[ff1e::68:11]:5001' "${want[@]}"
sites_recv r6 2 --group '[ff1e::68:1]:5002' "${want[@]}"
sites_recv r64 2 --group 239.68.2.1:5002 "${want[@]}"
sites_send 1 --group 239.68.1.1:5001 --count 1000 --rate 4000 --size 200
sites_send 1 --group '[ff3e::68:1]:5002' --bind fd00:62:1::2 --count 1000 \
  --rate 4000 --size 200
cst_check "IPv4 group, IPv4 output: 1000 datagrams, none lost, none twice" \
  cst_recv_result r4 25
cst_check "IPv4 group, IPv6 output: 1000 datagrams, none lost, none twice" \
  cst_recv_result r46 25
cst_check "IPv6 SSM group, IPv6 output: 1000 datagrams, none lost, none twice" \
  cst_recv_result r6 25
cst_check "IPv6 SSM group, IPv4 output: 1000 datagrams, none lost, none twice" \
  cst_recv_result r64 25
seen=0
for r in r4 r6; do
  seen=$((seen + $(cst_field received "$(cst_summary "$r")")))
done
cst_expect "the receivers saw 2000 datagrams of the two groups" 2000 "$seen"
cst_expect "site-1 sent site-2 what the receivers saw" "$seen" \
  "$(sites_peer_field 1 2 tx_datagrams)"
cst_expect "site-2 took from site-1 what the receivers saw" "$seen" \
  "$(sites_peer_field 2 1 rx_datagrams)"
cst_expect "site-2 saw no duplicates" 0 "$(sites_peer_field 2 1 duplicates)"
for why in malformed version no_rule emit_error auth; do
  cst_expect "site-2 dropped nothing as $why" 0 "$(sites_peer_drop 2 1 "$why")"
done
cst_check "site-1 measures a round-trip time to site-2 over IPv6" \
  cst_until 5 sites_rtt_ok 1 2
cst_finish
