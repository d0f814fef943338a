# shellcheck shell=bash
# Shared by the bus-across-sites tests (bus_sites.sh, bus_sites_spread.sh):
# a castor-bus subscriber per host, the publisher on host 1, the checks of a
# subscriber's summary, and loss injected in a site's relay. Source after
# lib.sh and sites_lib.sh; set $bus (castor-bus), $map (its --map entry)
# and $messages first.

# bus_sites_subscribe K TIMEOUT: a subscriber on host K, ready on return.
# A repair that crosses sites goes subscriber -> relay -> link -> relay ->
# publisher and back; on a loaded machine that outlasts the default NAK
# patience (10 x 20 ms), so the subscribers keep asking for 1 s, and the
# publisher lingers longer than that.
bus_sites_subscribe() {
  cst_start "sub$1" "${HOST_NS[$1]}" timeout -k 5 $(($2 + 10)) "$bus" sub \
    prices --map "$map" -i h0 --quiet --check --count "$messages" --idle 3 \
    --timeout "$2" --announce-ms 0 --nak-attempts 50
  cst_wait_for "sub$1" subscribed 10
}

# bus_sites_publish TIMEOUT: $messages of 64 B at 20k/s from host 1.
bus_sites_publish() {
  cst_start pub "${HOST_NS[1]}" timeout -k 5 "$1" "$bus" pub prices \
    --map "$map" -i h0 --count "$messages" --rate 20000 --size 64 \
    --linger-ms 2000 --announce-ms 0
}

# bus_sites_expect_all K WAIT: host K's subscriber ended cleanly with every
# message once, in order, and no gap.
bus_sites_expect_all() {
  local k=$1 rc=0 summary
  cst_result "sub$k" "$2" >"$CST_WORK/sub$k.res" || rc=$?
  summary=$(grep '^{' "$CST_WORK/sub$k.res" | tail -1)
  field() { grep -o "\"$1\":[0-9]*" <<<"$summary" | tail -1 | cut -d: -f2; }
  cst_expect "host $k's subscriber exits cleanly" 0 "$rc"
  cst_expect "host $k's subscriber gets every message" "$messages" \
    "$(field received)"
  cst_expect "host $k's subscriber sees none twice" 0 "$(field repeated)"
  cst_expect "host $k's subscriber sees them in order" 0 \
    "$(field out_of_order)"
  cst_expect "host $k's subscriber has no gap" 0 "$(field gaps)"
}

# bus_sites_loss K WAN_IF IN_PCT OUT_PCT PORT: in site K's relay, drop
# IN_PCT % of the frames that arrive on WAN_IF and OUT_PCT % of what it
# emits on lan0 to PORT (data, NCFs and repairs alike); each rule counts
# what it saw and dropped (nftables random drop: the nominal rate is not
# exact, the counters are).
bus_sites_loss() {
  cst_in "${SITE_NS[$1]}" nft -f - <<NFT
table inet busloss {
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "$2" udp dport 4370 counter
    iifname "$2" udp dport 4370 numgen random mod 100 < $3 counter drop
  }
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "lan0" udp dport $5 counter
    oifname "lan0" udp dport $5 numgen random mod 100 < $4 counter drop
  }
}
NFT
}

# bus_sites_dropped K CHAIN: "SEEN DROPPED" by site K's rules in CHAIN.
bus_sites_dropped() {
  cst_in "${SITE_NS[$1]}" nft list chain inet busloss "$2" \
    | sed -n 's/.*counter packets \([0-9]*\) bytes.*/\1/p' | tr '\n' ' '
}
