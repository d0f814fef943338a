#!/usr/bin/env bash
# An input interface that goes away under traffic and comes back must not
# need a restart of the daemon: the same castor-relay process resumes
# forwarding on the new interface (a new ifindex), with its rules and its
# group memberships.
#   1. a stream arrives whole (2 forwarders on in0, AF_PACKET fanout);
#   2. under traffic, in0 is set down and up again; then, under traffic,
#      the in0/s0 veth pair is deleted, and re-created with the same names
#      and addresses 1 s later. The forwarders' ingress sockets fail; their
#      restarts wait for the interface instead of exhausting the restart
#      intensity;
#   3. the relay re-joins its group on the new in0, every worker runs again,
#      a stream arrives whole, the PID is the same, and the workers show the
#      restarts.
#
# usage: relay_interface_flap.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_interface_flap
cst_relay_main "$@" flp
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" feed 239.60.1.1 5001 out1:239.70.1.1:6001
cst_start_relay "$config"
relay_pid=$(cst_pid relay)
started=0

whole() { # NAME STREAM_BASE
  cst_pass "$1" "$recv_ns" --group 239.70.1.1:6001 --interface c0 \
    --expect-count 2000 --expect-zero-loss --expect-no-duplicates \
    --duration 20 -- \
    --group 239.60.1.1:5001 --count 2000 --rate 10000 --stream-base "$2"
}
cst_check "before: 2000 datagrams exactly once" whole before 1

restarts() { # the sum of the workers' restarts
  cst_ctl --json workers | grep -o '"restarts":[0-9]*' |
    awk -F: '{ n += $2 } END { print n + 0 }'
}
restarts_before=$(restarts)

# forwarding_lines: how many times a forwarder has started on in0 (its
# "forwarding from in0" log line); wait_forwarding N: until there are N.
# A forwarder that waits for its interface is "running" to its supervisor,
# so only this line says that it reads from the new socket.
forwarding_lines() { grep -c 'forwarding from in0' "$CST_WORK/relay.out" || true; }
wait_forwarding() {
  local want=$1 i
  for ((i = 0; i < 200; i++)); do
    (($(forwarding_lines) >= want)) && return 0
    sleep 0.05
  done
  echo "forwarders started on in0: $(forwarding_lines), expected $want"
  return 1
}

# background_stream NAME: a sender that runs through the flap (it may fail
# when its own end of the veth goes away: that is not the relay's fault).
background_stream() {
  cst_start_sender "$1" \
    --group 239.60.1.1:5001 --count 4000 --rate 2000 --stream-base 7
  sleep 0.5
}

# background_done NAME: waits (bounded) for a background sender to end, so
# that the next check's receiver sees only its own stream; a sender still
# running would show up there as a stream joined halfway, i.e. as loss.
background_done() {
  cst_wait_pid "$(cst_pid "$1")" 10 || kill -TERM "$(cst_pid "$1")" 2>/dev/null
  return 0
}

down_up() {
  started=$(forwarding_lines)
  background_stream sender_down_up
  cst_in "$CST_NS_RELAY" ip link set in0 down
  sleep 1
  cst_in "$CST_NS_RELAY" ip link set in0 up
  cst_wait_link "$CST_NS_RELAY" in0
}
cst_check "in0 down and up under traffic" down_up
cst_check "after down/up: both forwarders read from in0 again" \
  wait_forwarding $((started + 2))
cst_check "after down/up: every worker running again" \
  cst_wait_workers_running 10
cst_check "after down/up: the group is joined on in0" \
  cst_wait_igmp "$CST_NS_RELAY" in0 239.60.1.1 10
background_done sender_down_up
cst_check "after down/up: 2000 datagrams exactly once" whole after_up 2

delete_recreate() {
  local old new
  old=$(cst_in "$CST_NS_RELAY" cat /sys/class/net/in0/ifindex)
  started=$(forwarding_lines)
  background_stream sender_delete
  cst_in "$CST_NS_RELAY" ip link del in0 # takes s0, its peer, with it
  sleep 1
  kill -0 "$relay_pid" 2>/dev/null || { echo "castor-relay exited"; return 1; }
  cst_input_link
  new=$(cst_in "$CST_NS_RELAY" cat /sys/class/net/in0/ifindex)
  echo "in0: ifindex $old deleted, re-created as $new"
  [[ $old != "$new" ]]
}
cst_check "in0 deleted under traffic and re-created (new ifindex)" \
  delete_recreate
cst_check "after re-creation: both forwarders read from the new in0" \
  wait_forwarding $((started + 2))
cst_check "after re-creation: every worker running again" \
  cst_wait_workers_running 10
cst_check "after re-creation: the group is joined on the new in0" \
  cst_wait_igmp "$CST_NS_RELAY" in0 239.60.1.1 10
background_done sender_delete
cst_check "after re-creation: 2000 datagrams exactly once" whole after_new 3

same_process() {
  kill -0 "$relay_pid" 2>/dev/null &&
    [[ $(cst_pid relay) == "$relay_pid" ]] && cst_ctl ping >/dev/null
}
cst_check "the same castor-relay process throughout (pid $relay_pid)" \
  same_process
restarted() {
  local after
  after=$(restarts)
  echo "worker restarts: $restarts_before before the flaps, $after after"
  grep -E 'gone or down|is back|forwarding stopped' "$CST_WORK/relay.out" |
    head -n 12
  ((after > restarts_before))
}
cst_check "the forwarders were restarted, not the daemon" restarted
cst_finish
