#!/usr/bin/env bash
# castor-relay at scale (issue 15): 10,000 rules and 10,000 joined groups on
# one input interface, with the first rule's traffic unbroken throughout.
#
# Before, about 640 rules on one interface made the kernel filter
# unbuildable: every further add was answered ok, the forwarders
# crash-looped, the supervisors gave up and the process exited.
#
#   0. The one limit left, descriptors for the joins: rules beyond
#      RLIMIT_NOFILE are refused at add, at reload and by -t, with an error
#      naming it, and nothing is installed.
#   1. Runtime: the relay starts with one rule ("first") and a stream on it.
#      a. With net.core.optmem_max of the relay's namespace lowered, the
#         kernel refuses the growing filter: the workers keep forwarding,
#         show the failure in `castorctl workers`, and are not restarted.
#      b. optmem_max restored: the next add installs the filter, and a rule
#         added while it failed forwards.
#      c. One by one with castorctl up to rule ADD_ONE_BY_ONE (past the old
#         limit, and past the exact filter's capacity), then the rest with
#         `castorctl add --from` (200 rules a request) up to RULES.
#      d. 50 rules removed one by one.
#      Then: RULES rules listed, the groups joined on in0, workers running
#      with no restart and the coarse filter, the last rule forwards, and
#      the first rule's stream arrived complete (no loss, no duplicate).
#   2. From a file: `castor-relay -t` accepts RULES rules, the relay starts
#      with them, joins them all, and forwards the first and the last rule.
#
# Rule i (1..RULES-1): in0 239.60.(i/256).(i%256):5002 -> out1
# 239.65.9.9:6009 (one output address for all: the receiver tells the
# rules apart by stream id).
#
# Environment: RULES (default 10000), ADD_ONE_BY_ONE (default 900).
# About 2 minutes on the loaded 2-core machine (part 1 ~90 s, part 2 ~20 s).
# usage: relay_scale.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_scale
cst_relay_main "$@" scl
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
rules=${RULES:-10000}
one_by_one=${ADD_ONE_BY_ONE:-900}
((rules >= one_by_one + 100 && one_by_one >= 300)) || {
  echo "$CST_NAME: need RULES >= ADD_ONE_BY_ONE + 100, ADD_ONE_BY_ONE >= 300"
  exit 2
}

# On failure, the ends of the relay's and the senders' output (CST_WORK is
# removed on exit).
show_logs() {
  [[ $1 != 0 ]] || return 0
  local f
  for f in relay first_sender; do
    [[ -f $CST_WORK/$f.out ]] || continue
    echo "--- last lines of $f.out"
    tail -n 30 "$CST_WORK/$f.out"
  done
}
cst_on_exit show_logs

t0=$SECONDS
elapsed() { echo "[$((SECONDS - t0)) s] $*"; }

group_of() { echo "239.60.$(($1 / 256)).$(($1 % 256))"; }

# scale_rules FIRST LAST toml|lines: rules FIRST..LAST as config tables or
# as `castorctl add --from` lines.
scale_rules() {
  awk -v first="$1" -v last="$2" -v form="$3" 'BEGIN {
    for (i = first; i <= last; i++) {
      g = sprintf("239.60.%d.%d", int(i / 256), i % 256)
      if (form == "toml")
        printf "\n[[rule]]\nname = \"scale-%d\"\ninput = { interface = \"in0\", group = \"%s\", port = 5002 }\noutputs = [ { interface = \"out1\", address = \"239.65.9.9\", port = 6009 } ]\n", i, g
      else
        printf "scale-%d in0:%s:5002 out1:239.65.9.9:6009\n", i, g
    }
  }'
}

# joined_on_in0: how many groups in0 has joined in the relay namespace,
# 224.0.0.1 excluded (the Count column of /proc/net/igmp's device line).
joined_on_in0() {
  ip netns exec "$CST_NS_RELAY" awk '$2 == "in0" { print $4 - 1 }' \
    /proc/net/igmp
}
joined_is() { [[ $(joined_on_in0) == "$1" ]]; }

# workers_ok TIER: every worker running, none restarted, filter TIER.
workers_ok() {
  local table
  table=$(cst_ctl workers) || return 1
  echo "$table"
  awk -v tier="$1" 'NR > 1 && NF { n++; if ($3 != "running" || $4 != 0 || $8 != tier) bad++ }
       END { exit !(n > 0 && bad == 0) }' <<<"$table"
}
workers_failed_without_restart() {
  local table
  table=$(cst_ctl workers) || return 1
  echo "$table"
  awk 'NR > 1 && NF == 9 && $1 ~ /^fwd-/ { n++; if ($3 == "running" && $4 == 0 && $8 ~ /,failed$/) f++ }
       END { exit !(n > 0 && f == n) }' <<<"$table"
}

listed_rules() { cst_ctl list | awk 'NR > 1 && $1 != "" { n++ } END { print n + 0 }'; }

# last_rule_forwards I: 500 datagrams to rule I's group reach its output.
last_rule_forwards() {
  cst_pass "rule$1" "$recv_ns" --group 239.65.9.9:6009 --interface c0 \
    --expect-count 500 --expect-zero-loss --duration 20 -- \
    --group "$(group_of "$1"):5002" --count 500 --rate 2000 --stream-base 900
}

optmem=/proc/sys/net/core/optmem_max
relay_optmem() { ip netns exec "$CST_NS_RELAY" sh -c "echo $1 > $optmem"; }

# -- 0. the one limit left: descriptors ----------------------------------------
# 200 more groups need 10 more membership sockets; with 262 descriptors (256
# kept for the rest) one request of them is refused, naming the limit, and
# nothing is installed.
config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" first 239.54.1.1 5001 out1:239.64.1.1:6001
cst_start relay "$CST_NS_RELAY" bash -c "ulimit -n 262 && exec $CST_RELAY -f $config -n"
cst_check "the relay answers with 262 descriptors" \
  cst_until 15 cst_relay_answers_or_ended
scale_rules 1 200 lines >"$CST_WORK/limit.rules"
refused_naming_the_limit() {
  local out rc=0
  out=$(cst_ctl add --from "$CST_WORK/limit.rules" 2>&1) || rc=$?
  echo "$out"
  [[ $rc == 1 && $out == *RLIMIT_NOFILE*262* ]]
}
cst_check "200 groups more with 262 descriptors: refused, naming RLIMIT_NOFILE" \
  refused_naming_the_limit
cst_expect "nothing was installed" 1 "$(listed_rules)"
# The same limit where a file brings the rules: reload of the relay's own
# config with the 200 rules added, and -t of it with as few descriptors.
scale_rules 1 200 toml >>"$config"
refused_reload() {
  local out rc=0
  out=$(cst_ctl reload 2>&1) || rc=$?
  echo "$out"
  [[ $rc != 0 && $out == *RLIMIT_NOFILE*262* ]]
}
cst_check "reload with 200 groups more: refused, naming RLIMIT_NOFILE" \
  refused_reload
cst_expect "the reload installed nothing" 1 "$(listed_rules)"
refused_check() {
  local out rc=0
  out=$(bash -c "ulimit -n 262 && exec $CST_RELAY -t -f $config" 2>&1) || rc=$?
  echo "$out"
  [[ $rc == 1 && $out == *RLIMIT_NOFILE*262* ]]
}
cst_check "-t of that file with 262 descriptors: refused, naming RLIMIT_NOFILE" \
  refused_check
cst_check "the relay stops cleanly" cst_stop_relay

# -- 1. runtime --------------------------------------------------------------
cst_relay_config "$config" 2 packet
cst_rule "$config" first 239.54.1.1 5001 out1:239.64.1.1:6001
cst_start_relay "$config"
relay_pid=$(cst_pid relay)

# The first rule's stream: 2 kpps for the whole of part 1, stopped when it
# is done (bounded by --duration); then what the receiver got is compared
# with what the sender sent. --idle: a receiver ends after a silence that
# long; a pause is not a loss, and a loaded machine pauses.
cst_recv first "$recv_ns" --group 239.64.1.1:6001 --interface c0 \
  --idle 20000 --duration 600
cst_start first_sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.54.1.1:5001 --duration 590 --rate 2000 --stream-base 1

# a. The kernel refuses the filter once it outgrows optmem_max (~16 KiB:
# the old and the new program are both charged while it is swapped).
saved_optmem=$(ip netns exec "$CST_NS_RELAY" cat $optmem)
relay_optmem 16384
elapsed "adding rules 1..300 one by one, optmem_max 16384"
add_range() {
  local i
  for ((i = $1; i <= $2; i++)); do
    cst_ctl add --name "scale-$i" --in "in0:$(group_of "$i"):5002" \
      --out out1:239.65.9.9:6009 >/dev/null || {
        echo "add scale-$i failed"
        return 1
      }
  done
}
cst_check "rules 1..300 added one by one" add_range 1 300
cst_check "the kernel refused a filter: every worker shows it, none restarted" \
  workers_failed_without_restart
cst_check "the relay reports the refused filter in its log" \
  grep -q "cannot change the ingress, the previous one stays in place" \
  "$CST_WORK/relay.out"

# b. Restored: the next change installs the filter.
relay_optmem "$saved_optmem"
elapsed "optmem_max restored; adding rules 301..$one_by_one one by one"
cst_check "rules 301..$one_by_one added one by one" add_range 301 "$one_by_one"
cst_check "the filter is installed again (coarse: past the exact capacity)" \
  workers_ok ports
cst_check "rule 300, added while the filter was refused, forwards" \
  last_rule_forwards 300

# c. The rest at once.
elapsed "adding rules $((one_by_one + 1))..$((rules - 1)) with castorctl add --from"
scale_rules $((one_by_one + 1)) $((rules - 1)) lines >"$CST_WORK/bulk.rules"
cst_check "castorctl add --from adds the rest" \
  timeout 300 "$CST_CTL" -u "$CST_SOCK" add --from "$CST_WORK/bulk.rules"
elapsed "added"
cst_expect "$rules rules listed" "$rules" "$(listed_rules)"
cst_check "in0 joined $rules groups" cst_until 60 joined_is "$rules"
elapsed "joined: $(joined_on_in0) groups on in0"
cst_check "workers running, no restart, coarse filter" workers_ok ports
cst_check "the last rule forwards" last_rule_forwards $((rules - 1))

# d. Removals under traffic.
remove_range() {
  local i
  for ((i = $1; i <= $2; i++)); do
    cst_ctl remove "scale-$i" >/dev/null || return 1
  done
}
cst_check "50 rules removed one by one" remove_range 1 50
cst_check "their groups are left" cst_until 20 joined_is $((rules - 50))
elapsed "removed"

# sent=N of the sender, received=R lost=L duplicates=D of the receiver.
first_stream_complete() {
  local sent summary
  cst_stop first_sender 10 || true
  sent=$(cst_field sent "$(grep '^sent ' "$CST_WORK/first_sender.out")")
  sleep 1 # the last datagrams through the relay
  cst_stop first 10 || true
  summary=$(cst_summary first)
  echo "first rule: sent ${sent:-?}; $summary"
  [[ -n $sent && $sent -gt 0 &&
     $(cst_field received "$summary") == "$sent" &&
     $(cst_field lost "$summary") == 0 &&
     $(cst_field duplicates "$summary") == 0 ]]
}
cst_check "the first rule forwarded its whole stream throughout" \
  first_stream_complete
cst_check "the same relay process throughout" kill -0 "$relay_pid"
cst_check "the relay stops cleanly" cst_stop_relay
elapsed "part 1 done"

# -- 2. from a file ----------------------------------------------------------
{
  cst_relay_config "$config" 2 packet
  cst_rule "$config" first 239.54.1.1 5001 out1:239.64.1.1:6001
  scale_rules 1 $((rules - 1)) toml >>"$config"
}
validate() {
  local start=$SECONDS out
  out=$(ip netns exec "$CST_NS_RELAY" "$CST_RELAY" -t -f "$config" 2>&1) ||
    { echo "$out"; return 1; }
  echo "castor-relay -t: $((SECONDS - start)) s"
}
cst_check "castor-relay -t accepts $rules rules on one interface" validate
cst_start relay "$CST_NS_RELAY" "$CST_RELAY" -f "$config" -n
relay_pid=$(cst_pid relay)
cst_check "the relay answers" cst_until 60 cst_relay_answers_or_ended
cst_check "in0 joined $rules groups" cst_until 120 joined_is "$rules"
elapsed "started from the file; joined $(joined_on_in0) groups"
cst_check "workers running, coarse filter" cst_until 30 workers_ok ports
cst_check "the first rule forwards every datagram" \
  cst_pass first2 "$recv_ns" --group 239.64.1.1:6001 --interface c0 \
  --expect-count 4000 --expect-zero-loss --expect-no-duplicates \
  --duration 20 -- --group 239.54.1.1:5001 --count 4000 --rate 2000 \
  --stream-base 3
cst_check "the last rule forwards" last_rule_forwards $((rules - 1))
cst_check "the same relay process throughout" kill -0 "$relay_pid"
cst_check "the relay stops cleanly" cst_stop_relay
elapsed "part 2 done"
cst_finish
