#!/usr/bin/env bash
# Packet identity (issue 15): what the relay writes into each relayed
# datagram's headers, as a receiver sees it (IP_RECVTTL, IP_RECVTOS and
# recvfrom's source address), with 16 flows from 16 source ports so that
# the fanout spreads them over both workers:
#   - ttl = "decrement": the input's TTL (9) minus one; an input with TTL 1
#     is dropped and counted as ttl_expired in castorctl stats;
#   - tos = "preserve": the input's TOS byte (0xb8, DSCP EF);
#   - numeric ttl and tos still apply;
#   - one source port per output whatever the worker: the relay's shared
#     port, or the configured source_port;
#   - the same through socket ingress (IP_RECVTTL/IP_RECVTOS there);
#   - a source_port another program holds: a clear error naming the port
#     and the rule, and the other outputs go on;
#   - a rule added with an output that would send another rule's flow
#     (same interface, destination and fixed source_port): refused, naming
#     both rules;
#   - both checksums right after the rewrite of addresses, ports, TTL and
#     TOS: hand-built frames (raw_frames.py) with a full UDP checksum, and
#     with none (0, which stays 0), all reach a receiver whose kernel
#     checks them in full, and its UDP InCsumErrors stays 0. (A datagram
#     a UDP socket sends over a veth carries only the pseudo-header's sum,
#     to be finished by a "hardware" that never does it, and no receiver
#     checks it: only frames that enter without offload state show a
#     wrong UDP checksum.)
# With CST_DATAPATH=kernel (issue 16) the first case and the checksums run
# on the kernel data path, with one worker: the tc program's rewrite must
# look the same to a receiver. Socket ingress and the source port a socket
# binds are the packet path's alone.
#
# usage: relay_identity.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_identity
cst_relay_main "$@" idn
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
probe=$here/identity_probe.py
flows=16 count=50 expired=100

identity_rules() {
  cat >>"$1" <<'TOML'

[[rule]]
name = "marks"
input = { interface = "in0", group = "239.57.1.1", port = 5001 }
outputs = [ { interface = "out1", address = "239.67.1.1", port = 6001, ttl = "decrement", tos = "preserve" } ]

[[rule]]
name = "numeric"
input = { interface = "in0", group = "239.57.1.2", port = 5002 }
outputs = [ { interface = "out1", address = "239.67.1.2", port = 6002, ttl = 5, tos = 32 } ]

[[rule]]
name = "fixed-port"
input = { interface = "in0", group = "239.57.1.3", port = 5003 }
outputs = [ { interface = "out1", address = "239.67.1.3", port = 6003, ttl = 3, source_port = 4444 } ]
TOML
}

# judge RECEIVER_OUTPUT: each output's headers as expected.
judge() {
  python3 - "$1" "$((flows * count))" <<'PY'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        x = json.loads(line)
        seen[x["port"]] = x
want = int(sys.argv[2])
# port: (ttl, tos, source port or None for "one, whichever")
expect = {6001: ([8], [0xb8], None), 6002: ([5], [32], None),
          6003: ([3], [0], 4444)}
bad = 0
ports = {}
for port, (ttl, tos, sport) in expect.items():
    x = seen.get(port, {"count": 0, "ttl": [], "tos": [], "sources": []})
    sports = sorted({int(s.split(":")[1]) for s in x["sources"]})
    ports[port] = sports
    problems = []
    # A few may be lost on a loaded machine; most must arrive, and none
    # that was sent with TTL 1 (their payload is never counted twice).
    if not want * 0.9 <= x["count"] <= want:
        problems.append("count %d, expected %d" % (x["count"], want))
    if x["ttl"] != ttl:
        problems.append("TTLs %s, expected %s" % (x["ttl"], ttl))
    if x["tos"] != tos:
        problems.append("TOS %s, expected %s" % (x["tos"], tos))
    if len(sports) != 1 or (sport is not None and sports != [sport]):
        problems.append("source ports %s, expected %s" %
                        (sports, [sport] if sport else "one"))
    print("%s: port %d: %s" % ("FAILED" if problems else "ok", port,
                               "; ".join(problems) or
                               "%d datagrams, TTL %s, TOS %s, source port %s"
                               % (x["count"], x["ttl"], x["tos"], sports)))
    bad += bool(problems)
sys.exit(1 if bad else 0)
PY
}

# ttl_expired RULE: the rule's ttl_expired drops (castorctl --json stats).
ttl_expired() {
  cst_ctl --json stats | python3 -c '
import json, sys
r = next(x for x in json.load(sys.stdin)["rules"] if x["name"] == sys.argv[1])
print(sum(o.get("drops", {}).get("ttl_expired", 0) for o in r["outputs"]))' "$1"
}

# busy_workers: how many workers read frames.
busy_workers() {
  cst_ctl --json workers | python3 -c '
import json, sys
print(sum(1 for w in json.load(sys.stdin)["workers"] if w["frames"] > 0))'
}

identity_case() {
  local ingress=$1 workers=$2 config=$CST_WORK/relay-$1.toml rc=0
  cst_relay_config "$config" "$workers" "$ingress"
  identity_rules "$config"
  cst_start_relay "$config" || return 1
  cst_start "recv-$ingress" "$recv_ns" python3 -u "$probe" recv 10.50.1.2 30 \
    $((3 * flows * count)) \
    239.67.1.1:6001 239.67.1.2:6002 239.67.1.3:6003
  cst_wait_for "recv-$ingress" "^ready" 10 || rc=1
  local send=(timeout 60 ip netns exec "$CST_NS_SEND" python3 "$probe" send)
  "${send[@]}" 239.57.1.1:5001 9 184 "$flows" "$count" || rc=1
  "${send[@]}" 239.57.1.1:5001 1 184 4 $((expired / 4)) || rc=1
  "${send[@]}" 239.57.1.2:5002 9 184 "$flows" "$count" || rc=1
  "${send[@]}" 239.57.1.3:5003 9 184 "$flows" "$count" || rc=1
  cst_result "recv-$ingress" 40 >/dev/null || rc=1
  # Another rule into fixed-port's destination from its source port would
  # be the same flow on the wire: castorctl add refuses it, naming both.
  local out add_rc=0
  out=$(cst_ctl add --name same-flow --in in0:239.57.1.9:5009 \
          --out out1:239.67.1.3:6003:sport=4444 2>&1) || add_rc=$?
  if [[ $add_rc == 0 || $out != *"'same-flow'"*"'fixed-port'"* ]]; then
    echo "FAILED: add of a rule sending fixed-port's flow: rc $add_rc: $out"
    rc=1
  fi
  if ! judge "$CST_WORK/recv-$ingress.out"; then
    grep -v '^{' "$CST_WORK/recv-$ingress.out"
    cst_ctl stats
    rc=1
  fi
  local n
  n=$(ttl_expired marks)
  if [[ $n != "$expired" ]]; then
    echo "FAILED: ttl_expired of rule marks is $n, expected $expired"
    rc=1
  fi
  if ((workers > 1)) && [[ $(busy_workers) -lt 2 ]]; then
    echo "FAILED: the flows did not spread over the workers:"
    cst_ctl workers
    rc=1
  fi
  cst_stop_relay || rc=1
  return "$rc"
}

# udp_checksum_errors: the receiver's UDP InCsumErrors (/proc/net/snmp).
udp_checksum_errors() {
  ip netns exec "$recv_ns" awk '$1 == "Udp:" && !n { for (i = 2; i <= NF; i++)
    if ($i == "InCsumErrors") c = i; n = 1; next }
    $1 == "Udp:" { print $c; exit }' /proc/net/snmp
}

checksum_case() {
  local config=$CST_WORK/relay-sums.toml rc=0 n=40 before after got
  cst_relay_config "$config" 1 packet
  cat >>"$config" <<'TOML'

[[rule]]
name = "sums"
input = { interface = "in0", group = "239.57.1.5", port = 5005 }
outputs = [ { interface = "out1", address = "239.67.1.5", port = 6005, ttl = 4, tos = 40 } ]
TOML
  cst_start_relay "$config" || return 1
  before=$(udp_checksum_errors)
  cst_start recv-sums "$recv_ns" python3 -u "$probe" recv 10.50.1.2 20 \
    $((2 * n)) 239.67.1.5:6005
  cst_wait_for recv-sums "^ready" 10 || rc=1
  local raw=(timeout 30 ip netns exec "$CST_NS_SEND" python3
             "$here/raw_frames.py" --interface s0 --source 10.50.0.1
             --group 239.57.1.5 --port 5005 --count "$n")
  "${raw[@]}" --udp-checksum || rc=1
  "${raw[@]}" || rc=1
  cst_result recv-sums 30 >/dev/null || rc=1
  after=$(udp_checksum_errors)
  got=$(python3 -c '
import json, sys
print(sum(json.loads(l)["count"] for l in open(sys.argv[1]) if l.startswith("{")))' \
    "$CST_WORK/recv-sums.out")
  echo "received $got of $((2 * n)); receiver's UDP InCsumErrors $before -> $after"
  if [[ $got != $((2 * n)) || $after != "$before" ]]; then
    cst_ctl stats
    rc=1
  fi
  cst_stop_relay || rc=1
  return "$rc"
}

if [[ ${CST_DATAPATH:-} == kernel ]]; then
  cst_check "kernel data path: TTL decremented, TOS preserved, numeric values, one source port per output" \
    identity_case packet 1
  cst_check "kernel data path: IP and UDP checksums right after the rewrite" \
    checksum_case
  cst_finish
  exit 0
fi
cst_check "packet ingress, 2 workers: TTL decremented, TOS preserved, numeric values, one source port per output" \
  identity_case packet 2
cst_check "socket ingress: the same from IP_RECVTTL and IP_RECVTOS" \
  identity_case socket 1
cst_check "IP and UDP checksums right after the rewrite" checksum_case

# A source_port held by another program: the output cannot send, the log
# names the port and the rule, and the relay goes on.
port_conflict() {
  local config=$CST_WORK/relay-conflict.toml rc=0
  cst_start holder "$CST_NS_RELAY" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 4445))
print("ready", flush=True)
time.sleep(60)'
  cst_wait_for holder "^ready" 10 || return 1
  cst_relay_config "$config" 1 packet
  cat >>"$config" <<'TOML'

[[rule]]
name = "taken"
input = { interface = "in0", group = "239.57.1.4", port = 5004 }
outputs = [ { interface = "out1", address = "239.67.1.4", port = 6004, source_port = 4445 } ]
TOML
  cst_start_relay "$config" || rc=1
  if ! cst_until 5 grep -q \
    "rule 'taken'.*source port 4445.*Address already in use" \
    "$CST_WORK/relay.out"; then
    echo "FAILED: no error naming rule 'taken' and source port 4445:"
    cst_out relay
    rc=1
  fi
  cst_ctl ping >/dev/null || rc=1
  cst_stop_relay || rc=1
  cst_stop holder 5 || true
  return "$rc"
}
cst_check "a source port in use: an error naming the port and the rule" \
  port_conflict

cst_finish
