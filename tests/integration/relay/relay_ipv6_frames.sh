#!/usr/bin/env bash
# Hand-built IPv6 frames through the relay (issue 19), in the data path
# CST_DATAPATH names (ctest runs it in both): what castor-send cannot make.
# Each frame carries a correct UDP checksum, and is sent raw, so that the
# receiving kernel checks the relayed checksum in full (a wrong one never
# arrives).
#   - relayed, and what a receiver sees: plain frames, and frames with a
#     destination options header, a spent routing header (both removed on
#     the way) or bytes past the UDP length (cut), with hop limit 9 and
#     traffic class 0xb8: they arrive once each with hop limit 8 and
#     traffic class 0xb8 (ttl = "decrement", tos = "preserve"), from out1's
#     ULA and one source port, payloads intact; a numeric ttl and tos
#     (5, 32) apply; hop limit 1 counts as ttl_expired;
#   - counted and dropped, each kind a distinct number of times, under the
#     reasons the packet path's parser names: hop_by_hop, fragment,
#     ext_headers (a routing header with a segment left, ESP after
#     destination options, 9 extension headers), not_udp (ICMPv6 after
#     destination options), zero_checksum, bad_length (a payload length
#     past the frame, a UDP length past the payload), truncated (over
#     max_frame); an MLD-shaped frame (hop-by-hop, ICMPv6) is not the
#     relay's and counted nowhere; none reaches the receiver;
#   - the relay's counters equal what the receivers saw;
#   - kernel: both IPv6 rules on the kernel path, the mixed-family rule on
#     the packet path with the reason (castorctl workers).
#
# usage: relay_ipv6_frames.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_ipv6_frames${CST_DATAPATH:+_$CST_DATAPATH}
export CST_FAMILY=6
cst_relay_main "$@" v6f
cst_need python3
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
raw=$here/raw_frames6.py
out1_ula=fd00:a:32:1::1 # 10.50.1.1's counterpart (lib.sh, cst_map6)
sender=fd00:a:32::1     # 10.50.0.1's

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
sed -i 's/^\[relay\]$/[relay]\nmax_frame = 1200/' "$config"
cat >>"$config" <<'TOML'

[[rule]]
name = "marks"
input = { interface = "in0", group = "ff1e::5a:1", port = 5001 }
outputs = [ { interface = "out1", address = "ff1e::6a:1", port = 6001, ttl = "decrement", tos = "preserve" } ]

[[rule]]
name = "numeric"
input = { interface = "in0", group = "ff1e::5a:2", port = 5002 }
outputs = [ { interface = "out1", address = "ff1e::6a:2", port = 6002, ttl = 5, tos = 32 } ]

[[rule]]
name = "mixed"
input = { interface = "in0", group = "ff1e::5a:3", port = 5003 }
outputs = [ { interface = "out1", address = "239.106.1.3", port = 6003 } ]
TOML
cst_start_relay "$config"

# -- which path --------------------------------------------------------------
# path_of RULE: "PATH WHY..." from castorctl workers' rule table.
path_of() {
  local table
  table=$(cst_ctl workers) || return 1
  awk -v r="$1" 'f && $1 == r { $1 = ""; print substr($0, 2); exit }
                 $1 == "RULE" { f = 1 }' <<<"$table"
}
path_is() { # RULE PATH [WHY]
  CST_GOT=$(path_of "$1")
  [[ $CST_GOT == "$2"* && $CST_GOT == *"${3:-}"* ]]
}
if [[ ${CST_DATAPATH:-} == kernel ]]; then
  for rule in marks numeric; do
    cst_check "$rule (IPv6 in and out) takes the kernel path" \
      cst_until 5 path_is "$rule" kernel
  done
  cst_check "mixed takes the packet path, saying why" \
    cst_until 5 path_is mixed packet "mixed address families (IPv6 in, IPv4 out)"
fi

# frames KIND COUNT GROUP PORT [ARGS...]: raw frames from the sender.
frames() {
  local kind=$1 count=$2 group=$3 port=$4
  shift 4
  timeout 30 ip netns exec "$CST_NS_SEND" python3 "$raw" send \
    --interface s0 --source "$sender" --group "$group" --port "$port" \
    --kind "$kind" --count "$count" "$@"
}

# -- drops first, then the relayed frames, while both receivers listen ---------
cst_start r1 "$recv_ns" python3 -u "$raw" recv --interface c0 \
  --group ff1e::6a:1 --port 6001 --seconds 30 --expect 500
cst_start r2 "$recv_ns" python3 -u "$raw" recv --interface c0 \
  --group ff1e::6a:2 --port 6002 --seconds 30 --expect 100
cst_wait_for r1 "^ready" 10
cst_wait_for r2 "^ready" 10

declare -A dropped=([hop_by_hop]=11 [fragment]=12 [routing_left]=13
                    [dest_then_esp]=14 [too_many]=15 [dest_then_icmp]=16
                    [zero_checksum]=17 [bad_length]=18 [udp_too_long]=19
                    [mld]=22)
send_all() {
  local kind
  for kind in "${!dropped[@]}"; do
    frames "$kind" "${dropped[$kind]}" ff1e::5a:1 5001 || return 1
  done
  frames plain 21 ff1e::5a:1 5001 --size 1300 || return 1 # over max_frame
  frames plain 50 ff1e::5a:1 5001 --hop-limit 1 || return 1
  frames plain 200 ff1e::5a:1 5001 --tclass 184 || return 1
  frames dest_options 100 ff1e::5a:1 5001 --tclass 184 || return 1
  frames spent_routing 100 ff1e::5a:1 5001 --tclass 184 || return 1
  frames padded 100 ff1e::5a:1 5001 --tclass 184 || return 1
  frames plain 100 ff1e::5a:2 5002 --tclass 184 || return 1
}
cst_check "the frames were sent" send_all
cst_result r1 40 >/dev/null || true
cst_result r2 40 >/dev/null || true
seen1=$(grep '^{' "$CST_WORK/r1.out" || true)
seen2=$(grep '^{' "$CST_WORK/r2.out" || true)
echo "marks' receiver: $seen1"
echo "numeric's receiver: $seen2"

# field JSON KEY: one member of a receiver's report, as JSON text.
field() {
  python3 -c 'import json, sys
print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]], sort_keys=True))' \
    "$1" "$2"
}
port=$(python3 -c 'import json, sys
s = json.loads(sys.argv[1])["sources"]
print(s[0].rsplit(":", 1)[1] if s else "none")' "$seen1")
cst_expect "marks: every relayed kind once, nothing else" \
  '{"dest_options": 100, "padded": 100, "plain": 200, "spent_routing": 100}' \
  "$(field "$seen1" kinds)"
cst_expect "marks: hop limit decremented (9 -> 8)" "[8]" \
  "$(field "$seen1" hop_limits)"
cst_expect "marks: traffic class preserved" "[184]" \
  "$(field "$seen1" tclasses)"
cst_expect "marks: from out1's ULA and one source port" \
  "[\"[$out1_ula]:$port\"]" "$(field "$seen1" sources)"
cst_expect "marks: payloads intact" "0" "$(field "$seen1" bad_payloads)"
cst_expect "numeric: 100 with hop limit 5 and traffic class 32" \
  '[100, [5], [32]]' \
  "[$(field "$seen2" count), $(field "$seen2" hop_limits), $(field "$seen2" tclasses)]"
cst_expect "numeric: from the same source address and port" \
  "[\"[$out1_ula]:$port\"]" "$(field "$seen2" sources)"

# -- counters ------------------------------------------------------------------
drops_of() {
  local reason n total=0
  for reason in "$@"; do
    n=$(cst_ingress_drops "$reason") || return 1
    total=$((total + n))
  done
  echo "$total"
}
counted() {
  local want=$1
  shift
  CST_GOT=$(drops_of "$@")
  [[ $CST_GOT == "$want" ]]
}
expect_drops() { # WHAT WANT REASON...
  local what=$1 want=$2
  shift 2
  if cst_until 5 counted "$want" "$@"; then
    echo "ok: $what"
  else
    echo "FAILED: $what: expected $want, got $CST_GOT"
    CST_FAILURES=$((CST_FAILURES + 1))
  fi
}
expect_drops "hop_by_hop: 11 (not the 22 MLD-shaped)" 11 hop_by_hop
expect_drops "fragment: 12" 12 fragment
expect_drops "ext_headers: 13 + 14 + 15" 42 ext_headers
expect_drops "not_udp: 16" 16 not_udp
expect_drops "zero_checksum: 17" 17 zero_checksum
expect_drops "bad_length: 18 + 19" 37 bad_length
expect_drops "truncated: 21 over max_frame" 21 truncated
expect_drops "nothing else: not_ipv6, bad_header, ip_options, bad_checksum" 0 \
  not_ipv6 bad_header ip_options bad_checksum
cst_expect "marks: ttl_expired 50 (hop limit 1)" 50 \
  "$(cst_output_counter marks ttl_expired)"
cst_expect "marks: packets sent equal what its receiver got" \
  "$(field "$seen1" count)" "$(cst_output_counter marks packets)"
cst_expect "numeric: packets sent equal what its receiver got" \
  "$(field "$seen2" count)" "$(cst_output_counter numeric packets)"

cst_check "SIGTERM stops it with status 0" cst_stop_relay
cst_finish
