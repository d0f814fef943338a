#!/usr/bin/env bash
# `castorctl kill` of a forwarder, the operator's erlang:exit/2: its
# supervisor replaces it within 100 ms and traffic resumes with the same
# rules.
#   1. a stream before the kill arrives whole;
#   2. kill one worker (its path from `castorctl tree`) while a stream runs;
#      poll `castorctl workers` until every worker is running again with one
#      more restart, timing from the kill's answer to the start of the poll
#      that sees it (an upper bound of the restart time, plus castorctl's
#      own start);
#   3. a stream after the restart arrives whole. Losses during the kill are
#      reported, not judged.
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

# Sum of the RESTARTS column, and whether every worker is running.
restarts_total() {
  awk 'NR > 1 && NF { n += $4 } END { print n + 0 }' <<<"$1"
}
all_running() {
  awk 'NR > 1 && NF { n++; if ($3 != "running") bad++ }
       END { exit !(n > 0 && bad == 0) }' <<<"$1"
}

kill_and_replace() {
  local victim path table before
  victim=$(cst_workers | head -n1)
  path=$(cst_ctl tree | awk -v id="$victim" \
           '$1 == id || substr($1, length($1) - length(id)) == "/" id {
              print $1; exit }')
  if [[ -z $victim || -z $path ]]; then
    echo "no worker to kill (workers: '$victim', path: '$path')"
    cst_ctl tree || true
    return 1
  fi
  table=$(cst_ctl workers)
  before=$(restarts_total "$table")
  echo "killing $path (restarts so far: $before)"
  cst_recv during "$recv_ns" --group 239.66.1.1:6001 --interface c0 \
    --idle 1000 --duration 20
  cst_start during_sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
    --group 239.56.1.1:5001 --count 4000 --rate 4000 --stream-base 2
  sleep 0.3
  cst_ctl kill "$path" || return 1
  local answered polled elapsed_ms="" i
  answered=$(date +%s%N)
  for ((i = 0; i < 200; i++)); do
    polled=$(date +%s%N)
    table=$(cst_ctl workers 2>/dev/null) || continue
    if all_running "$table" && (($(restarts_total "$table") > before)); then
      elapsed_ms=$(((polled - answered) / 1000000))
      break
    fi
    sleep 0.005
  done
  echo "$table"
  if [[ -z $elapsed_ms ]]; then
    echo "no replacement seen"
    return 1
  fi
  echo "replacement running within ${elapsed_ms} ms of the kill's answer"
  cst_recv_result during 30 || true
  ((elapsed_ms <= 100))
}
cst_check "kill a forwarder: replaced within 100 ms" kill_and_replace
cst_check "after the restart: 2000 datagrams exactly once" phase after 3
cst_check "the rule survived the restart" cst_rule_listed feed
cst_finish
