#!/usr/bin/env bash
# castor-relay with 1, 2, 5, 20 and 150 streams at once, each stream its own
# rule (input 239.51.K.x on in0, rewritten to 239.61.K.x on out1, same
# ports), at modest rates: every datagram arrives exactly once, and each
# stream's in order. All 178 rules run in one daemon with 2 workers, so it
# holds far more than the 20 memberships per socket that broke other relays.
# The sender interleaves its streams datagram by datagram and sends in
# bursts of 64, so the relay's send rings hold several streams at once and
# group them by destination before sending (send_ring.hpp): a regrouping
# that lost, duplicated or reordered a stream's datagrams fails here. The
# last case sends bursts of 256 for groups of dozens per stream.
# No timing is asserted (bench/relay/streams.sh measures the cost). Ends
# with a SIGTERM that must stop the daemon cleanly.
#
# usage: relay_streams.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_streams
cst_relay_main "$@" str
cst_topology 1

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
# case K: N streams from 239.51.K.1:(20000 + 200 K) on
cases=(1 2 5 20 150)
for k in "${!cases[@]}"; do
  n=${cases[$k]}
  for ((i = 0; i < n; i++)); do
    cst_rule "$config" "s$k-$i" "$(cst_ip_plus "239.51.$k.1" "$i")" \
      $((20000 + 200 * k + i)) \
      "out1:$(cst_ip_plus "239.61.$k.1" "$i"):$((20000 + 200 * k + i))"
  done
done
cst_start_relay "$config"

streams_case() {
  local k=$1 n=$2 count=$3 rate=$4
  shift 4 # the rest: more castor-send arguments
  local port=$((20000 + 200 * k))
  cst_pass "r$k" "${CST_NS_RECV[1]}" --group "239.61.$k.1:$port" \
    --streams "$n" --interface c0 --expect-count "$count" \
    --expect-zero-loss --expect-no-duplicates --expect-in-order \
    --duration 30 -- \
    --group "239.51.$k.1:$port" --streams "$n" --count "$count" \
    --rate "$rate" "$@"
}

cst_check "1 stream, 5000 datagrams at 10 kpps" streams_case 0 1 5000 10000
cst_check "2 streams, 2500 each at 10 kpps" streams_case 1 2 2500 10000
cst_check "5 streams, 1000 each at 10 kpps" streams_case 2 5 1000 10000
cst_check "20 streams, 250 each at 10 kpps" streams_case 3 20 250 10000
cst_check "150 streams, 100 each at 15 kpps" streams_case 4 150 100 15000
cst_check "5 streams, 2000 each at 10 kpps in bursts of 256" \
  streams_case 2 5 2000 10000 --batch 256

cst_check "SIGTERM stops the relay with status 0" cst_stop_relay
cst_finish
