# shellcheck shell=bash
# Harness for the cross-site tests (issue 17): N sites, each a LAN with a
# host and a relay, the relays joined pairwise by "WAN" veths that carry
# unicast only: no multicast route, IPv6 off (no ND/MLD), so any multicast
# counted on a WAN link would be a leak. Source after lib.sh and cst_init.
#
#   host k  h0 10.62.k.2/24 --veth-- lan0 10.62.k.1/24  relay k
#   relay i wI_J 10.63.P.1/30 --veth-- wJ_I 10.63.P.2/30  relay j
#
# Site k's node listens on a "site" address 10.64.0.k/32 on lo, routed
# over the WAN links (with that address as the source, so that node links
# come from it), so that one address reaches the site whichever link
# carries it. sites_wan_bridge instead puts every relay on one WAN segment
# (a bridge), 10.63.0.k/24.
# Each relay: [node] site-k on 10.64.0.k:4370 with TLS (certs from
# scripts/make-certs.sh), control socket $CST_WORK/site-k.sock.
#
# SITES_V6=1 before sites_init: the WAN is IPv6 (site addresses
# fd00:64::k on lo, links fd00:63:P::1/64 and ::2/64, no DAD): node links
# and data frames cross it over IPv6; the LANs stay IPv4 multicast. ND is
# multicast on the WAN links then, so sites_wan_mcast means nothing.
#
# SITES_LAN6=1 before sites_init: the LANs are dual-stack: besides their
# IPv4 addresses, host k has fd00:62:k::2/64 on h0 and relay k
# fd00:62:k::1/64 on lan0 (no DAD), so that site rules may carry IPv6
# groups (ff1e::/16, ff3e::/16) and emit either family.

SITES_V6=${SITES_V6:-0}
SITES_LAN6=${SITES_LAN6:-0}

# sites_addr K: site K's node address; sites_ep K: with the port, as the
# config writes it.
sites_addr() { if ((SITES_V6)); then echo "fd00:64::$1"; else echo "10.64.0.$1"; fi; }
sites_ep() { if ((SITES_V6)); then echo "[fd00:64::$1]:4370"; else echo "10.64.0.$1:4370"; fi; }

sites_init() {
  local n=$1 k
  SITES_N=$n
  SITES_CERTS=$CST_WORK/certs
  "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/make-certs.sh" \
    "$SITES_CERTS" $(for ((k = 1; k <= n; k++)); do echo "site-$k"; done) \
    >/dev/null
  for ((k = 1; k <= n; k++)); do
    SITE_NS[$k]=${CST_PREFIX}s$k
    HOST_NS[$k]=${CST_PREFIX}h$k
    cst_add_ns "${SITE_NS[$k]}" "${HOST_NS[$k]}"
    for ns in "${SITE_NS[$k]}" "${HOST_NS[$k]}"; do
      cst_rp_filter_off "$ns"
      cst_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    done
    cst_in "${SITE_NS[$k]}" sysctl -qw net.ipv4.ip_forward=1
    if ((SITES_V6)); then
      cst_in "${SITE_NS[$k]}" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
        net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.lo.disable_ipv6=0
      ip -n "${SITE_NS[$k]}" -6 addr add "fd00:64::$k/128" dev lo nodad
    fi
    cst_veth "${HOST_NS[$k]}" h0 "${SITE_NS[$k]}" lan0 "10.62.$k.2/24" \
      "10.62.$k.1/24"
    cst_mroute "${HOST_NS[$k]}" h0
    if ((SITES_LAN6)); then
      for ns in "${SITE_NS[$k]}" "${HOST_NS[$k]}"; do
        cst_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
          net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 \
          net.ipv6.conf.default.accept_dad=0
      done
      cst_in "${HOST_NS[$k]}" sysctl -qw net.ipv6.conf.h0.disable_ipv6=0 \
        net.ipv6.conf.h0.accept_dad=0
      cst_in "${SITE_NS[$k]}" sysctl -qw net.ipv6.conf.lan0.disable_ipv6=0 \
        net.ipv6.conf.lan0.accept_dad=0
      ip -n "${HOST_NS[$k]}" -6 addr add "fd00:62:$k::2/64" dev h0 nodad
      ip -n "${SITE_NS[$k]}" -6 addr add "fd00:62:$k::1/64" dev lan0 nodad
    fi
    ip -n "${SITE_NS[$k]}" addr add "10.64.0.$k/32" dev lo
  done
  SITES_LINKS=0
}

# sites_route I J VIA: site I reaches site J's address via VIA, from its
# own site address.
sites_route() {
  if ((SITES_V6)); then
    ip -n "${SITE_NS[$1]}" -6 route add "fd00:64::$2/128" via "$3" \
      src "fd00:64::$1"
  else
    ip -n "${SITE_NS[$1]}" route add "10.64.0.$2/32" via "$3" \
      src "10.64.0.$1"
  fi
}

# sites_link I J: a WAN link between relays I and J, with a route to each
# other's site address over it.
sites_link() {
  local i=$1 j=$2 p
  p=$((++SITES_LINKS))
  if ((SITES_V6)); then
    cst_veth "${SITE_NS[$i]}" "w$j" "${SITE_NS[$j]}" "w$i"
    ip -n "${SITE_NS[$i]}" -6 addr add "fd00:63:$p::1/64" dev "w$j" nodad
    ip -n "${SITE_NS[$j]}" -6 addr add "fd00:63:$p::2/64" dev "w$i" nodad
    sites_route "$i" "$j" "fd00:63:$p::2"
    sites_route "$j" "$i" "fd00:63:$p::1"
  else
    cst_veth "${SITE_NS[$i]}" "w$j" "${SITE_NS[$j]}" "w$i" \
      "10.63.$p.1/30" "10.63.$p.2/30"
    sites_route "$i" "$j" "10.63.$p.2"
    sites_route "$j" "$i" "10.63.$p.1"
  fi
}

# sites_wan_bridge: every relay on one WAN segment, a bridge in a namespace
# of its own (unicast only: IPv6 off, no multicast route), 10.63.0.K/24 on
# each relay's w0, with a route to every other site's address (IPv4).
sites_wan_bridge() {
  local k j wan=${CST_PREFIX}wan
  cst_add_ns "$wan"
  cst_in "$wan" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  ip -n "$wan" link add br0 type bridge
  ip -n "$wan" link set br0 up
  for ((k = 1; k <= SITES_N; k++)); do
    cst_veth "${SITE_NS[$k]}" w0 "$wan" "p$k" "10.63.0.$k/24"
    ip -n "$wan" link set "p$k" master br0
  done
  for ((k = 1; k <= SITES_N; k++)); do
    for ((j = 1; j <= SITES_N; j++)); do
      ((j == k)) || sites_route "$k" "$j" "10.63.0.$j"
    done
  done
}

# sites_others K: every site but K, of the SITES_N.
sites_others() {
  local j
  for ((j = 1; j <= SITES_N; j++)); do ((j == $1)) || echo "$j"; done
}

# sites_mesh N: N sites on one WAN segment (sites_wan_bridge), each a
# [[peer]] of every other; the relays' log tails on a failure.
sites_mesh() {
  local k
  sites_init "$1"
  cst_on_exit sites_log_tails
  sites_wan_bridge
  for ((k = 1; k <= $1; k++)); do
    # shellcheck disable=SC2046
    sites_config "$k" $(sites_others "$k")
  done
}

# sites_config K PEER... : writes $CST_WORK/site-K.toml's [relay], [node]
# and [[peer]] parts; rules are appended by the caller.
sites_config() {
  local k=$1 p
  shift
  local f=$CST_WORK/site-$k.toml
  cat >"$f" <<TOML
[relay]
workers = 1
ingress = "socket"
control_socket = "$CST_WORK/site-$k.sock"
log_level = "info"

[metrics]
enabled = false

[node]
name = "site-$k"
listen = "$(sites_ep "$k")"
tls = { cert = "$SITES_CERTS/site-$k.crt", key = "$SITES_CERTS/site-$k.key", ca = "$SITES_CERTS/ca.crt" }
TOML
  for p in "$@"; do
    printf '\n[[peer]]\nname = "site-%s"\naddress = "%s"\n' \
      "$p" "$(sites_ep "$p")" >>"$f"
  done
}

# sites_export K NAME GROUP PORT PEER... [spread=log]
sites_export() {
  local k=$1 name=$2 group=$3 port=$4 peers="" spread=""
  shift 4
  for p in "$@"; do
    if [[ $p == spread=* ]]; then
      spread=", spread = \"${p#spread=}\""
    else
      peers+="${peers:+, }\"site-$p\""
    fi
  done
  printf '\n[[rule]]\nname = "%s"\ninput = { interface = "lan0", group = "%s", port = %s }\noutputs = [ { peers = [%s]%s } ]\n' \
    "$name" "$group" "$port" "$peers" "$spread" >>"$CST_WORK/site-$k.toml"
}

# sites_import K NAME FROM GROUP PORT [INPUT_KEYS]: site FROM's group,
# emitted on lan0; INPUT_KEYS (`repair = "bus"`) go into its input table.
sites_import() {
  printf '\n[[rule]]\nname = "%s"\ninput = { peer = "site-%s", group = "%s", port = %s%s }\noutputs = [ { interface = "lan0", address = "%s", port = %s, ttl = 1 } ]\n' \
    "$2" "$3" "$4" "$5" "${6:+, $6}" "$4" "$5" >>"$CST_WORK/site-$1.toml"
}

sites_ctl() { timeout 10 "$CST_CTL" -u "$CST_WORK/site-$1.sock" "${@:2}"; }

sites_answers() { sites_ctl "$1" ping >/dev/null 2>&1; }

# sites_start K: castor-relay of site K; returns once it answers.
sites_start() {
  local k=$1
  cst_start "relay$k" "${SITE_NS[$k]}" "$CST_RELAY" -f "$CST_WORK/site-$k.toml"
  if ! cst_until 15 sites_answers "$k"; then
    echo "$CST_NAME: site-$k does not answer:" >&2
    cst_out "relay$k" >&2
    return 1
  fi
}

# sites_peer_field K PEER FIELD: a field of `castorctl peers` for PEER at K
# ("up"/"down" for FIELD=state).
sites_peer_field() {
  local line
  line=$(sites_ctl "$1" peers | grep "^site-$2 ") || return 1
  if [[ $3 == state ]]; then
    awk '{print $3}' <<<"$line"
  else
    cst_field "$3" "$line"
  fi
}

sites_peer_drop() {
  sites_ctl "$1" peers | awk -v p="site-$2" -v w="$3" '
    $1 == p { on = 1; next }
    /^site-/ { on = 0 }
    on && $1 == "drops" { split($2, kv, "="); if (kv[1] == w) print kv[2] }'
}

# sites_tally_start I J: remembers site I's datagrams to J so far (sent,
# peer_down, send_error), for sites_tally_check.
sites_tally_start() {
  SITES_TALLY0=("$(sites_peer_field "$1" "$2" tx_datagrams)"
    "$(sites_peer_drop "$1" "$2" peer_down)"
    "$(sites_peer_drop "$1" "$2" send_error)")
}

# sites_tally_check I J TOTAL: site I accounts for every one of the TOTAL
# datagrams its host sent for J since sites_tally_start: sent, or dropped
# as peer_down or send_error. Leaves the three in SITES_TX, SITES_DOWN and
# SITES_ERR.
sites_tally_check() {
  SITES_TX=$(($(sites_peer_field "$1" "$2" tx_datagrams) - SITES_TALLY0[0]))
  SITES_DOWN=$(($(sites_peer_drop "$1" "$2" peer_down) - SITES_TALLY0[1]))
  SITES_ERR=$(($(sites_peer_drop "$1" "$2" send_error) - SITES_TALLY0[2]))
  echo "site-$1 to site-$2: tx=$SITES_TX peer_down=$SITES_DOWN send_error=$SITES_ERR"
  cst_expect "site-$1 accounts for every datagram (sent + peer_down + send_error)" \
    "$3" "$((SITES_TX + SITES_DOWN + SITES_ERR))"
}

# sites_recv_resumed NAME WHAT: the summary of castor-recv NAME (started by
# sites_recv after an outage) shows the traffic back, with no duplicates.
sites_recv_resumed() {
  local summary
  summary=$(cst_recv_result "$1" 10 | grep '^summary ' || true)
  echo "after $2: $summary"
  cst_check "traffic resumed after $2" \
    test "$(cst_field received "$summary")" -gt 100
  cst_expect "no duplicates across $2" 0 "$(cst_field duplicates "$summary")"
}

# sites_log_tails RC: on a failure (RC != 0), the tail of every relay's
# log; `cst_on_exit sites_log_tails` after sites_init.
sites_log_tails() {
  local k
  (($1 == 0)) && return 0
  for ((k = 1; k <= SITES_N; k++)); do
    echo "--- site-$k's log (tail)"
    tail -n 12 "$CST_WORK/relay$k.out" 2>/dev/null || true
  done
}

# sites_rtt_ok K PEER: site K shows a round-trip time to PEER, plausible
# for a veth (0 < rtt < 1 s, even on a loaded machine).
sites_rtt_ok() {
  local rtt
  rtt=$(sites_peer_field "$1" "$2" rtt_us)
  [[ -n $rtt ]] && ((rtt > 0 && rtt < 1000000))
}

# sites_wait_up K N SECONDS: until site K sees N peers up.
sites_up_count() { sites_ctl "$1" peers 2>/dev/null | grep -c '^site-[0-9]* [^ ]* up '; }
sites_up_is() { [[ $(sites_up_count "$1") == "$2" ]]; }
sites_wait_up() {
  cst_until "$3" sites_up_is "$1" "$2" && return 0
  echo "$CST_NAME: site-$1 does not see $2 peers up:" >&2
  sites_ctl "$1" peers >&2 || true
  return 1
}

# sites_wait_interest K PEER N SECONDS: until K sees PEER up wanting N groups.
sites_interest_is() {
  [[ $(sites_peer_field "$1" "$2" state 2>/dev/null) == up ]] &&
    [[ $(sites_peer_field "$1" "$2" interest 2>/dev/null) == "$3" ]]
}
sites_wait_interest() {
  cst_until "$4" sites_interest_is "$1" "$2" "$3" && return 0
  echo "$CST_NAME: site-$1 does not see site-$2 up with interest $3:" >&2
  sites_ctl "$1" peers >&2 || true
  cst_out "relay$1" | tail -20 >&2
  return 1
}

# sites_wan_mcast K: multicast packets received on site K's WAN links.
sites_wan_mcast() {
  ip -n "${SITE_NS[$1]}" -s -j link show | python3 -c '
import json, sys
print(sum(l["stats64"]["rx"]["multicast"] for l in json.load(sys.stdin)
          if l["ifname"].startswith("w")))'
}

# sites_recv NAME K ARGS...: castor-recv on host K's LAN, ready on return.
sites_recv() {
  local name=$1 k=$2
  shift 2
  cst_start "$name" "${HOST_NS[$k]}" "$CST_RECV" --interface h0 "$@"
  cst_wait_for "$name" "castor-recv: ready" 10
}

# sites_send K ARGS...: castor-send on host K's LAN, in the foreground.
sites_send() {
  local k=$1
  shift
  timeout 60 ip netns exec "${HOST_NS[$k]}" "$CST_SEND" --interface h0 "$@" \
    >/dev/null
}
