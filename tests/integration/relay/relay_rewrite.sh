#!/usr/bin/env bash
# What kernel multicast routing cannot do, through one castor-relay:
#   - group and port rewrite: 239.53.1.1:5001 -> 239.63.1.1:6001;
#   - multicast -> unicast: 239.53.1.2:5002 -> 10.50.1.2:7000;
#   - a source filter: 232.53.1.3:5003 only from 10.50.0.1 (SSM; over IPv6
#     ff3e::/32 with a source); the same group
#     from 10.50.0.3 must not come through;
#   - a TTL=1 source (which the kernel's forwarding drops) re-sent with
#     TTL 4: 239.53.1.4:5004 -> 239.63.1.4:6004;
#   - ttl = "decrement" and tos = "preserve": 239.53.1.5:5005 ->
#     239.63.1.5:6005 relays TTL 8 datagrams, and drops those that come
#     with TTL 1 as ttl_expired (so the relay read each datagram's TTL, or
#     hop limit: from the IP header on AF_PACKET, from IP_RECVTTL /
#     IPV6_RECVHOPLIMIT control messages on sockets).
# ctest runs it over IPv4 and IPv6 (CST_FAMILY=6), on both data paths, and
# over IPv6 with ingress = "socket" (CST_INGRESS=socket).
#
# usage: relay_rewrite.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_rewrite
cst_relay_main "$@" rwr
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" rewrite 239.53.1.1 5001 out1:239.63.1.1:6001
cst_rule "$config" unicast 239.53.1.2 5002 out1:10.50.1.2:7000
cst_rule "$config" filtered 232.53.1.3 5003 out1:239.63.1.3:6003 \
  source=10.50.0.1
cst_rule "$config" ttl1 239.53.1.4 5004 out1:239.63.1.4:6004:4
cst_rule "$config" marks 239.53.1.5 5005 \
  'out1:239.63.1.5:6005:"decrement", tos = "preserve"'
cst_start_relay "$config"

exact=(--expect-count 2000 --expect-zero-loss --expect-no-duplicates
       --duration 20)
cst_check "group and port rewrite" \
  cst_pass rw "$recv_ns" --group 239.63.1.1:6001 --interface c0 "${exact[@]}" \
  -- --group 239.53.1.1:5001 --count 2000 --rate 10000
cst_check "multicast to unicast" \
  cst_pass uc "$recv_ns" --listen 0.0.0.0:7000 "${exact[@]}" \
  -- --group 239.53.1.2:5002 --count 2000 --rate 10000

source_filter() {
  # Stream 1 from the ruled source, stream 2 from another one, interleaved
  # in time; the receiver waits for idle after both.
  cst_recv sf "$recv_ns" --group 239.63.1.3:6003 --interface c0 \
    --idle 500 --duration 20
  cst_send --group 232.53.1.3:5003 --count 1000 --rate 10000 \
    --bind 10.50.0.3 --stream-base 2 || return 1
  cst_send --group 232.53.1.3:5003 --count 1000 --rate 10000 \
    --bind 10.50.0.1 --stream-base 1 || return 1
  cst_send --group 232.53.1.3:5003 --count 1000 --rate 10000 \
    --bind 10.50.0.3 --stream-base 2 || return 1
  cst_recv_result sf 25 || return 1
  local row
  row=$(cst_stream_row sf 1)
  if [[ $(awk '{ print $2, $3, $4 }' <<<"$row") != "1000 0 0" ]]; then
    echo "ruled source: expected 1000 received, 0 lost, 0 dup: $row"
    return 1
  fi
  if [[ -n $(cst_stream_row sf 2) ]]; then
    echo "the other source came through: $(cst_stream_row sf 2)"
    return 1
  fi
}
cst_check "source filter passes only 10.50.0.1" source_filter

cst_check "a TTL=1 source is forwarded" \
  cst_pass t1 "$recv_ns" --group 239.63.1.4:6004 --interface c0 "${exact[@]}" \
  -- --group 239.53.1.4:5004 --count 2000 --rate 10000 --ttl 1

cst_check "ttl = decrement: a TTL 8 source is forwarded" \
  cst_pass dec "$recv_ns" --group 239.63.1.5:6005 --interface c0 "${exact[@]}" \
  -- --group 239.53.1.5:5005 --count 2000 --rate 10000 --ttl 8 --tos 40
expired_100() { [[ $(cst_output_counter marks ttl_expired) == 100 ]]; }
expired() {
  cst_send --group 239.53.1.5:5005 --count 100 --rate 10000 --ttl 1 \
    --stream-base 2 >/dev/null || return 1
  cst_until 5 expired_100 || {
    echo "ttl_expired: $(cst_output_counter marks ttl_expired)"
    return 1
  }
}
cst_check "ttl = decrement: TTL 1 datagrams are dropped as ttl_expired" expired

# The relay's counters agree with what the receiver saw (either data path).
counted_as_received() {
  local rule n
  for rule in rewrite unicast ttl1 marks; do
    n=$(cst_output_counter "$rule" packets)
    echo "rule $rule: $n datagrams sent"
    [[ $n == 2000 ]] || return 1
  done
  n=$(cst_output_counter filtered packets)
  echo "rule filtered: $n datagrams sent"
  [[ $n == 1000 ]]
}
cst_check "output counters match the receivers" counted_as_received

cst_finish
