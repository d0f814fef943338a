#!/usr/bin/env bash
# The control socket under abuse, while traffic flows: nothing a local
# client does may cost a forwarded datagram or stop the daemon serving.
#   - a client that connects and never writes (closed at its idle timeout,
#     with an error line), connected through everything below;
#   - one that sends 100 MiB without a newline (closed once past the line
#     limit, long before 100 MiB);
#   - malformed lines pipelined on one connection (bad JSON, binary, invalid
#     UTF-8, 30000-deep nesting, wrong types): one error line each, and the
#     connection still answers a ping;
#   - 1000 clients connected at once, each with one request, all answered;
#   - then the same PID still answers `castorctl ping`, and the stream that
#     ran throughout (30000 datagrams at 2000/s) arrives whole.
# The clients are control_abuse.py (python3).
#
# usage: relay_control_abuse.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_control_abuse
cst_relay_main "$@" abu
cst_need python3
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
abuse=$here/control_abuse.py

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" feed 239.59.1.1 5001 out1:239.69.1.1:6001
cst_start_relay "$config"
relay_pid=$(cst_pid relay)

# The stream that must survive it all: 15 s at 2000/s.
count=30000
cst_recv steady "$recv_ns" --group 239.69.1.1:6001 --interface c0 \
  --expect-count "$count" --expect-zero-loss --expect-no-duplicates \
  --duration 60
cst_start steady_sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.59.1.1:5001 --count "$count" --rate 2000
sleep 0.5

# abuse NAME MODE [ARG]: one run of the tool, in the background.
abuse() {
  local name=$1
  shift
  cst_start "$name" "$CST_NS_RELAY" python3 "$abuse" "$CST_SOCK" "$@"
}
# verdict NAME SECONDS: its result line, and whether it said ok.
verdict() {
  local pid
  pid=$(cst_pid "$1")
  cst_wait_pid "$pid" "$2" || { echo "$1 still running"; return 1; }
  cst_out "$1"
  grep -q '^result .* verdict=ok$' "$CST_WORK/$1.out"
}

abuse silent silent 25
abuse flood flood 100
abuse malformed malformed
cst_check "100 MiB without a newline: the connection is dropped" \
  verdict flood 60
cst_check "malformed lines: an error each, then a ping answered" \
  verdict malformed 30
abuse crowd crowd 1000
cst_check "1000 concurrent clients: every one answered ok" verdict crowd 90
cst_check "a client that never writes is closed with an error line" \
  verdict silent 30

alive() {
  kill -0 "$relay_pid" 2>/dev/null || { echo "castor-relay is gone"; return 1; }
  cst_ctl ping
}
cst_check "the same castor-relay process still answers ping" alive

whole() {
  cst_wait_pid "$(cst_pid steady_sender)" 40 || return 1
  cst_recv_result steady 40 || return 1
  local lost
  lost=$(cst_field lost "$(cst_summary steady)")
  [[ $lost == 0 ]]
}
cst_check "the stream during the abuse: $count datagrams, lost=0" whole

stats_drops() {
  cst_ctl stats || true
}
stats_drops
cst_finish
