#!/usr/bin/env bash
# relay_sites: multicast across two sites (issue 17). Site 1's host sends
# multicast on its LAN; site 1's relay sends it to site 2 over a WAN link
# that carries unicast only (mutual TLS node link, HMAC'd UDP data); site
# 2's relay emits it as multicast on its LAN. Checks: 64 B and 1400 B with
# zero loss and no duplicates; the counters of both relays match what the
# receiver saw; no multicast on the WAN; interest on and off by reload of
# site 2 alone (no data frame on the WAN, counted by nftables, while site 2
# does not take the group); site 2 killed and restarted under traffic: site 1 accounts
# for every datagram (sent, or dropped as peer_down/send_error), reconnects
# and traffic resumes without operator action; site-1's WAN link cut and
# restored under traffic: every datagram accounted for, traffic resumes, no
# duplicates; site-1's own local rule forwards its whole stream while
# site-2 is away; then site-2 with a certificate from another CA is refused. The round-trip time is in
# castorctl and /metrics; a node that claims site-1's name from another
# address is refused by site-2.
#
#   relay_sites.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=sites_lib.sh
source "$(dirname "$0")/sites_lib.sh"

CST_NAME=relay-sites
cst_init sit "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3 nft

sites_init 2
cst_on_exit sites_log_tails
sites_link 1 2
sites_config 1 2
sites_export 1 feed-a 239.64.1.1 5001 2
sites_export 1 feed-b 239.64.1.2 5002 2
# A local rule of site-1 (LAN to LAN), which must forward throughout,
# whatever its peer does.
printf '\n[[rule]]\nname = "local"\ninput = { interface = "lan0", group = "239.64.9.1", port = 5901 }\noutputs = [ { interface = "lan0", address = "239.64.9.2", port = 5902, ttl = 1 } ]\n' \
  >>"$CST_WORK/site-1.toml"
sites_config 2 1
sites_import 2 feed-a-in 1 239.64.1.1 5001
cp "$CST_WORK/site-2.toml" "$CST_WORK/site-2.base"
# /metrics on site-1, on the loopback of its namespace.
sed -i 's|^enabled = false|enabled = true\nlisten = "127.0.0.1:9108"|' \
  "$CST_WORK/site-1.toml"
metric() {
  ip netns exec "${SITE_NS[1]}" python3 -c '
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:9108/metrics").read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[1] + " "):
        print(int(float(line.split()[-1])))' "$1"
}

cst_check "site-1's config passes -t" \
  ip netns exec "${SITE_NS[1]}" "$CST_RELAY" -t -f "$CST_WORK/site-1.toml"
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 10 || exit 1
echo "ok: site-1 sees site-2 up, wanting 1 group"

# -- 64 B and 1400 B, lossless --------------------------------------------------
for size in 64 1400; do
  sites_recv "r$size" 2 --group 239.64.1.1:5001 --expect-count 2000 \
    --expect-zero-loss --expect-no-duplicates --duration 20 --idle 2000
  sites_send 1 --group 239.64.1.1:5001 --count 2000 --rate 4000 \
    --size "$size"
  cst_check "$size B: 2000 datagrams, none lost, none twice" \
    cst_recv_result "r$size" 30
done
cst_expect "site-1 sent 4000 datagrams to site-2" 4000 \
  "$(sites_peer_field 1 2 tx_datagrams)"
cst_expect "site-2 received 4000 datagrams from site-1" 4000 \
  "$(sites_peer_field 2 1 rx_datagrams)"
cst_expect "site-2 saw no duplicates" 0 "$(sites_peer_field 2 1 duplicates)"
cst_expect "no multicast on site-2's WAN link" 0 "$(sites_wan_mcast 2)"
sleep 1.2 # one metrics gather
cst_expect "/metrics has site-1's datagrams to site-2" 4000 \
  "$(metric 'castor_peer_datagrams_total{peer="site-2",direction="tx"}')"
cst_expect "/metrics has site-2 up" 1 "$(metric 'castor_peer_up{peer="site-2"}')"
cst_expect "no multicast on site-1's WAN link" 0 "$(sites_wan_mcast 1)"
# The round-trip time of the data path (probes every 500 ms), in castorctl
# and /metrics: measured, and plausible on a veth (under 1 s even on a
# loaded machine).
cst_check "castorctl peers shows site-2's round-trip time (0 < rtt < 1 s)" \
  cst_until 5 sites_rtt_ok 1 2
metric_rtt_ok() {
  ip netns exec "${SITE_NS[1]}" python3 -c '
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:9108/metrics").read().decode()
v = [float(l.split()[-1]) for l in text.splitlines()
     if l.startswith("castor_peer_rtt_seconds{peer=\"site-2\"} ")]
sys.exit(0 if v and 0 < v[0] < 1 else 1)'
}
cst_check "/metrics has castor_peer_rtt_seconds for site-2 (0 < rtt < 1 s)" \
  cst_until 5 metric_rtt_ok

# -- interest ---------------------------------------------------------------
# What crosses the WAN, seen by nftables on site-2's WAN link rather than
# by the relays' own counters: UDP to the data port longer than a probe
# (a ping or pong is 40 bytes of payload, 48 with the UDP header; a data
# frame with one record is at least 56 + 8).
cst_in "${SITE_NS[2]}" nft -f - <<'NFT'
table ip sitewan {
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "w1" udp dport 4370 udp length > 48 counter
  }
}
NFT
wan_frames() {
  cst_in "${SITE_NS[2]}" nft list chain ip sitewan in |
    sed -n 's/.*counter packets \([0-9]*\) bytes.*/\1/p'
}
# feed-b is exported to site-2, which does not take it: nothing crosses.
frames0=$(wan_frames)
sites_send 1 --group 239.64.1.2:5002 --count 500 --rate 5000 --size 64
sleep 0.3
cst_expect "a group site-2 does not take does not cross" 4000 \
  "$(sites_peer_field 1 2 tx_datagrams)"
cst_expect "no data frame on the WAN for a group site-2 does not take" \
  "$frames0" "$(wan_frames)"
# site-2 takes it by reload; site-1 is not touched.
sites_import 2 feed-b-in 1 239.64.1.2 5002
sites_ctl 2 reload >/dev/null
cst_check "site-2's reload brings interest in 2 groups to site-1" \
  sites_wait_interest 1 2 2 5
sites_recv rb 2 --group 239.64.1.2:5002 --expect-count 500 \
  --expect-zero-loss --expect-no-duplicates --duration 20 --idle 2000
frames0=$(wan_frames)
sites_send 1 --group 239.64.1.2:5002 --count 500 --rate 5000 --size 64
cst_check "feed-b arrives once site-2 takes it" cst_recv_result rb 30
cst_check "feed-b's frames cross the WAN (nft counts them)" \
  test "$(wan_frames)" -gt "$frames0"
cp "$CST_WORK/site-2.base" "$CST_WORK/site-2.toml"
sites_ctl 2 reload >/dev/null
cst_check "site-2's reload withdraws the interest" sites_wait_interest 1 2 1 5
before=$(sites_peer_field 1 2 tx_datagrams)
frames0=$(wan_frames)
sites_send 1 --group 239.64.1.2:5002 --count 500 --rate 5000 --size 64
sleep 0.3
cst_expect "feed-b stops crossing" "$before" \
  "$(sites_peer_field 1 2 tx_datagrams)"
cst_expect "site-1 sends no data frame on the WAN once the interest is withdrawn" \
  "$frames0" "$(wan_frames)"
cst_in "${SITE_NS[2]}" nft delete table ip sitewan

# -- site-2 killed and restarted under traffic --------------------------------
sites_tally_start 1 2
total=8000
# Site-1's local rule carries its own stream meanwhile: a peer that goes
# away and comes back touches no local rule.
sites_recv local 1 --group 239.64.9.2:5902 --expect-count "$total" \
  --expect-zero-loss --expect-no-duplicates --duration 30 --idle 3000
cst_start localsender "${HOST_NS[1]}" "$CST_SEND" --interface h0 \
  --group 239.64.9.1:5901 --count "$total" --rate 1000 --size 64
cst_start sender "${HOST_NS[1]}" "$CST_SEND" --interface h0 \
  --group 239.64.1.1:5001 --count "$total" --rate 1000 --size 64
sleep 2
kill -KILL "$(cst_pid relay2)"
cst_wait_pid "$(cst_pid relay2)" 5 || true
sleep 1
sites_start 2
cst_check "site-2 is back up at site-1 within 3 s of its restart" \
  sites_wait_interest 1 2 1 3
sites_recv after 2 --group 239.64.1.1:5001 --duration 3 --idle 1500
cst_wait_pid "$(cst_pid sender)" 15 || true
sites_recv_resumed after "the restart"
sites_tally_check 1 2 "$total"
cst_check "some were dropped as peer_down while site-2 was away" \
  test "$SITES_DOWN" -gt 0
cst_check "site-1 counted a reconnect" \
  test "$(sites_peer_field 1 2 reconnects)" -ge 1
cst_wait_pid "$(cst_pid localsender)" 15 || true
cst_check "site-1's local rule forwarded its whole stream while site-2 was away" \
  cst_recv_result local 15

# -- the WAN link cut and restored under traffic ------------------------------
# site-1's WAN interface goes down for 1.5 s (its routes with it) and comes
# back with them: what was sent meanwhile is counted as dropped, traffic
# resumes without operator action, nothing arrives twice.
sites_wait_interest 1 2 1 5 || exit 1
sites_tally_start 1 2
total=6000
cst_start cutsender "${HOST_NS[1]}" "$CST_SEND" --interface h0 \
  --group 239.64.1.1:5001 --count "$total" --rate 1000 --size 64
sleep 1.5
ip -n "${SITE_NS[1]}" link set w2 down
sleep 1.5
ip -n "${SITE_NS[1]}" link set w2 up
cst_wait_link "${SITE_NS[1]}" w2
sites_route 1 2 10.63.1.2 2>/dev/null || true # gone with the link
sites_recv cut 2 --group 239.64.1.1:5001 --duration 2 --idle 1500
cst_wait_pid "$(cst_pid cutsender)" 15 || true
sites_recv_resumed cut "the link came back"
sites_tally_check 1 2 "$total"
cst_check "site-1 counted what it could not send during the cut" \
  test "$((SITES_DOWN + SITES_ERR))" -gt 0

# -- a node that claims another peer's name ------------------------------------
# site-1 connects to site-2 (its name sorts first), so site-2 learns who is
# on an accepted link from the name in the first interest message. A relay
# on host 1's LAN (10.62.1.2) calls itself site-1, with site-1's very
# certificate: TLS accepts it, but site-2 refuses the claim because the
# link does not come from site-1's configured address, and keeps site-1
# down.
cst_stop relay1 || true
site1_down_at_2() { [[ $(sites_peer_field 2 1 state) == down ]]; }
cst_check "site-2 sees site-1 go down" cst_until 5 site1_down_at_2
ip -n "${HOST_NS[1]}" route add 10.64.0.2/32 via 10.62.1.1
ip -n "${SITE_NS[2]}" route add 10.62.1.0/24 via 10.63.1.1
cat >"$CST_WORK/impostor.toml" <<TOML
[relay]
workers = 1
ingress = "socket"
control_socket = "$CST_WORK/impostor.sock"
log_level = "info"

[metrics]
enabled = false

[node]
name = "site-1"
listen = "10.62.1.2:4370"
tls = { cert = "$SITES_CERTS/site-1.crt", key = "$SITES_CERTS/site-1.key", ca = "$SITES_CERTS/ca.crt" }

[[peer]]
name = "site-2"
address = "10.64.0.2:4370"
TOML
mark=$(wc -l <"$CST_WORK/relay2.out")
cst_start impostor "${HOST_NS[1]}" "$CST_RELAY" -f "$CST_WORK/impostor.toml"
claim_refused() {
  tail -n +"$((mark + 1))" "$CST_WORK/relay2.out" |
    grep -q "says it is peer site-1, configured at 10.64.0.1; refused"
}
cst_check "site-2 refuses a node claiming site-1's name from another address" \
  cst_until 10 claim_refused
cst_expect "site-2 keeps site-1 down" down "$(sites_peer_field 2 1 state)"
cst_stop impostor || true
sites_start 1

# -- a refused certificate ------------------------------------------------------
# site-2 comes back with a certificate of another CA: site-1 refuses it,
# says why, and never counts it up.
cst_stop relay2 || true
"$(dirname "$0")/../../../scripts/make-certs.sh" "$CST_WORK/rogue" site-2 \
  >/dev/null
sed -i "s|$SITES_CERTS/site-2|$CST_WORK/rogue/site-2|g" "$CST_WORK/site-2.toml"
mark=$(wc -l <"$CST_WORK/relay1.out")
sites_start 2
sleep 2
# A refusal in the handshake, not a connection that cannot be made.
refused() {
  tail -n +"$((mark + 1))" "$CST_WORK/relay1.out" |
    grep "peer site-2 .*refused or unreachable" | grep -vq "ip_connect failed"
}
cst_expect "site-1 refuses a peer whose certificate another CA signed" down \
  "$(sites_peer_field 1 2 state)"
cst_check "site-1 logs the refusal" refused
cst_finish
