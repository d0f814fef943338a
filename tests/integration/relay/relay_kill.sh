#!/usr/bin/env bash
# `castorctl kill` of a forwarder, the operator's erlang:exit/2: its
# supervisor replaces it within 100 ms and traffic resumes with the same
# rules.
#   1. a stream before the kill arrives whole;
#   2. kill one worker (its path from `castorctl tree`) while a stream runs;
#      poll the workers until every one is running again with one more
#      restart, timing from the kill's answer to the start of the poll that
#      sees it (an upper bound of the restart time, plus one round trip);
#   3. a stream after the restart arrives whole. Losses during the kill are
#      reported, not judged;
#   4. the rule's counters keep the killed worker's counts.
# With CST_DATAPATH=kernel (issue 16) the first worker is the datapath
# actor kdp-in0: the program keeps forwarding from its maps while it is
# replaced, so the stream during the kill must arrive whole, exactly once.
#
# usage: relay_kill.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_kill
cst_relay_main "$@" kil
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" feed 239.56.1.1 5001 out1:239.66.1.1:6001
cst_start_relay "$config"

phase() {
  cst_pass "$1" "$recv_ns" --group 239.66.1.1:6001 --interface c0 \
    --expect-count 2000 --expect-zero-loss --expect-no-duplicates \
    --duration 20 -- \
    --group 239.56.1.1:5001 --count 2000 --rate 10000 --stream-base "$2"
}
cst_check "before the kill: 2000 datagrams exactly once" phase before 1
counted_before=$(cst_rule_packets feed || true)

# The kill and the polls go over one control connection of our own (socat
# as a coprocess), so that a poll costs a round trip, not a castorctl
# start: on a loaded machine a process start alone can take 50 ms, which
# would be measured as restart time.
ctl_open() {
  coproc CTL { exec socat - "UNIX-CONNECT:$CST_SOCK"; }
  cst_track ctl "$CTL_PID"
}
# ask JSON: one request, its one-line reply in $reply.
ask() {
  printf '%s\n' "$1" >&"${CTL[1]}"
  IFS= read -r -t 5 reply <&"${CTL[0]}"
}
# From a workers reply: the sum of restarts (in $restarts), and whether all
# are running. Plain bash, no subprocess: on a loaded machine a fork and
# exec can take tens of ms, which would be measured as restart time.
count_restarts() {
  local rest=$1
  restarts=0
  while [[ $rest =~ \"restarts\":([0-9]+) ]]; do
    restarts=$((restarts + BASH_REMATCH[1]))
    rest=${rest#*"${BASH_REMATCH[0]}"}
  done
}
all_running() {
  local others=${1//\"state\":\"running\"/}
  [[ $1 == *'"state":"running"'* && $others != *'"state":'* ]]
}
# Microseconds since the epoch, without a subprocess.
now_us() { now=${EPOCHREALTIME/./}; }

kill_and_replace() {
  local victim path before reply
  victim=$(cst_workers | head -n1)
  path=$(cst_ctl tree | awk -v id="$victim" \
           '$1 == id || substr($1, length($1) - length(id)) == "/" id {
              print $1; exit }')
  if [[ -z $victim || -z $path ]]; then
    echo "no worker to kill (workers: '$victim', path: '$path')"
    cst_ctl tree || true
    return 1
  fi
  ctl_open
  ask '{"cmd":"workers"}' || return 1
  count_restarts "$reply"
  before=$restarts
  echo "killing $path (restarts so far: $before)"
  local exact=()
  if [[ ${CST_DATAPATH:-} == kernel ]]; then
    exact=(--expect-count 4000 --expect-zero-loss --expect-no-duplicates)
  fi
  cst_recv during "$recv_ns" --group 239.66.1.1:6001 --interface c0 \
    --idle 1000 --duration 20 "${exact[@]}"
  cst_start_sender during_sender \
    --group 239.56.1.1:5001 --count 4000 --rate 4000 --stream-base 2
  sleep 0.3
  local answered now restarts elapsed_ms="" i kill_reply
  ask "{\"cmd\":\"kill\",\"path\":\"$path\"}" || return 1
  now_us
  answered=$now
  kill_reply=$reply
  for ((i = 0; i < 2000; i++)); do
    now_us
    ask '{"cmd":"workers"}' || return 1
    count_restarts "$reply"
    if all_running "$reply" && ((restarts > before)); then
      elapsed_ms=$(((now - answered) / 1000))
      break
    fi
  done
  echo "kill: $kill_reply"
  [[ $kill_reply == *'"ok":true'* ]] || return 1
  echo "workers: $reply"
  if [[ -z $elapsed_ms ]]; then
    echo "no replacement seen"
    return 1
  fi
  echo "replacement running within ${elapsed_ms} ms of the kill's answer" \
       "(poll $((i + 1)))"
  if [[ ${CST_DATAPATH:-} == kernel ]]; then
    [[ $victim == kdp-* ]] || { echo "the first worker is not kdp-*"; return 1; }
    cst_recv_result during 30 || return 1
  else
    cst_recv_result during 30 || true
  fi
  ((elapsed_ms <= 100))
}
cst_check "kill a forwarder: replaced within 100 ms" kill_and_replace
cst_check "after the restart: 2000 datagrams exactly once" phase after 3
cst_check "the rule survived the restart" cst_rule_listed feed
# The killed worker's counts stay in the totals: 2000 before, 2000 after,
# and whatever of the stream during the kill was counted.
counters_kept() {
  local now
  now=$(cst_rule_packets feed || true)
  echo "rule 'feed' counted ${counted_before:-?} before the kill, ${now:-?} now"
  [[ ${counted_before:-0} -ge 2000 && ${now:-0} -ge $((counted_before + 2000)) ]]
}
cst_check "counters never go back when a worker is replaced" counters_kept
cst_finish
