#!/usr/bin/env bash
# A crash-looping forwarder must not restart forever: OTP's restart
# intensity gives up, the failure escalates to the root, and the process
# exits non-zero so that systemd (Restart=on-failure) starts it afresh.
# Meanwhile the other rules keep forwarding until the escalation.
#
# Two rules on two input interfaces, one forwarder each (workers = 1):
#   victim  in0 239.58.1.1:5001 -> out1 239.68.1.1:6001   (fwd-in0-1)
#   steady  in1 239.58.2.1:5002 -> out1 239.68.2.1:6002   (fwd-in1-1)
#   1. both rules forward 2000 datagrams with no loss (before any kill);
#   2. under a steady stream on `steady`, `kill root/workers/fwd-in0-1` in a
#      loop over one control connection, as fast as the replacements come.
#      The worker supervisor (intensity 20 per 10 s) gives up and escalates
#      to the root, which restarts it; after 5 such restarts in 10 s the
#      root gives up too. `steady`'s input counter (castorctl stats) keeps
#      rising from the first kill until the first escalation (logged; the
#      root's restart of the worker supervisor takes fwd-in1-1 down too);
#   3. castor-relay exits by itself with a non-zero status, bounded by 60 s
#      and 3000 kill requests.
#
# usage: relay_crash_loop.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_crash_loop
cst_relay_main "$@" crl
cst_need socat
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

# A second input link, s1 -> in1, beside lib.sh's s0 -> in0.
cst_veth "$CST_NS_SEND" s1 "$CST_NS_RELAY" in1 10.51.0.1/24 10.51.0.2/24
cst_wait_link "$CST_NS_SEND" s1
cst_wait_link "$CST_NS_RELAY" in1

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
cst_rule "$config" victim 239.58.1.1 5001 out1:239.68.1.1:6001
cat >>"$config" <<'TOML'

[[rule]]
name = "steady"
input = { interface = "in1", group = "239.58.2.1", port = 5002 }
outputs = [ { interface = "out1", address = "239.68.2.1", port = 6002, ttl = 1 } ]
TOML
cst_start_relay "$config"
cst_wait_igmp "$CST_NS_RELAY" in1 239.58.2.1 10

whole() { # NAME OUT_GROUP:PORT SENDER_IF IN_GROUP:PORT
  cst_recv "$1" "$recv_ns" --group "$2" --interface c0 --expect-count 2000 \
    --expect-zero-loss --expect-no-duplicates --duration 20 || return 1
  timeout 60 ip netns exec "$CST_NS_SEND" "$CST_SEND" --interface "$3" \
    --group "$4" --count 2000 --rate 10000 || return 1
  cst_recv_result "$1" 30
}
cst_check "victim forwards 2000 datagrams whole before any kill" \
  whole before_victim 239.68.1.1:6001 s0 239.58.1.1:5001
cst_check "steady forwards 2000 datagrams whole before any kill" \
  whole before_steady 239.68.2.1:6002 s1 239.58.2.1:5002

# One control connection (socat as a coprocess): a kill costs one round
# trip, not a castorctl start, so the loop outruns the restart window.
ctl_open() {
  coproc CTL { exec socat - "UNIX-CONNECT:$CST_SOCK"; }
  cst_track ctl "$CTL_PID"
}
# ask JSON: one request; its one-line answer in $reply (false when the
# connection is gone: the daemon has exited).
ask() {
  reply=""
  { printf '%s\n' "$1" >&"${CTL[1]}"; } 2>/dev/null || return 1
  IFS= read -r -t 5 reply <&"${CTL[0]}" || return 1
}
# steady_packets: rule "steady"'s input packets from a stats answer, in
# $packets (plain bash: no fork inside the loop).
steady_packets() {
  packets=""
  local re='"name":"steady"[^]]*"packets":([0-9]+)'
  [[ $1 =~ $re ]] && packets=${BASH_REMATCH[1]}
}

path=$(cst_ctl tree | awk '$1 ~ /\/fwd-in0-1$/ { print $1; exit }')
echo "victim path: ${path:-none}"
relay_pid=$(cst_pid relay)
escalation='supervisor workers: reached max restart intensity'
kills_ok=0 requests=0 first_count="" last_before_escalation="" escalated_at=""
crash_loop() {
  [[ -n $path ]] || { cst_ctl tree; return 1; }
  cst_recv during "$recv_ns" --group 239.68.2.1:6002 --interface c0 \
    --idle 5000 --duration 60 || return 1
  cst_start steady_sender "$CST_NS_SEND" "$CST_SEND" --interface s1 \
    --group 239.58.2.1:5002 --count 100000 --rate 2000
  sleep 0.5
  ctl_open
  ask '{"cmd":"stats"}' || return 1
  steady_packets "$reply"
  first_count=$packets
  echo "steady's input before the first kill: $first_count"
  local start=$SECONDS
  while ((requests < 3000 && SECONDS - start < 60)); do
    requests=$((requests + 1))
    ask "{\"cmd\":\"kill\",\"path\":\"$path\"}" || break
    [[ $reply == *'"ok":true'* ]] && kills_ok=$((kills_ok + 1))
    # Until the first escalation (the daemon logs it), follow steady's
    # counter every 5 kills.
    if [[ -z $escalated_at ]] && ((requests % 5 == 0)); then
      if grep -q "$escalation" "$CST_WORK/relay.out"; then
        escalated_at=$kills_ok
      else
        ask '{"cmd":"stats"}' || break
        steady_packets "$reply"
        # The highest count seen: a stats answer racing the escalation may
        # already come from a fresh forwarder.
        if [[ -n $packets ]] &&
           ((packets > ${last_before_escalation:-0})); then
          last_before_escalation=$packets
        fi
      fi
    fi
  done
  echo "kill requests: $requests, answered ok: $kills_ok," \
       "in $((SECONDS - start)) s"
  echo "steady's input before the first escalation: $last_before_escalation" \
       "(escalation seen after $escalated_at kills)"
  kill -TERM "$(cst_pid steady_sender)" 2>/dev/null || true
  cst_recv_result during 10 || true
}
cst_check "the kill loop runs until the daemon is gone" crash_loop

exited_nonzero() {
  local rc=0
  if ! cst_wait_pid "$relay_pid" 15; then
    echo "castor-relay still running after the kill loop"
    return 1
  fi
  wait "$relay_pid" 2>/dev/null || rc=$?
  echo "castor-relay exit status: $rc"
  grep -E 'max restart intensity|root supervisor failed' \
    "$CST_WORK/relay.out" | head -n 8
  ((rc != 0 && rc != 124 && rc < 128))
}
cst_check "castor-relay exits by itself with a non-zero status" exited_nonzero
cst_check "the worker supervisor escalated to the root" \
  grep -q "$escalation" "$CST_WORK/relay.out"
cst_check "the root gave up" \
  grep -q 'supervisor root: reached max restart intensity' \
  "$CST_WORK/relay.out"
kept_forwarding() {
  [[ -n $first_count && -n $last_before_escalation ]] &&
    ((last_before_escalation > first_count))
}
cst_check "steady kept forwarding from the first kill to the escalation" \
  kept_forwarding
received_during() {
  local got
  got=$(cst_field received "$(cst_summary during)")
  echo "steady received during the loop: ${got:-none}"
  [[ -n $got ]] && ((got > 0))
}
cst_check "steady's receiver got datagrams during the loop" received_during
cst_finish
