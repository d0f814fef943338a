#!/usr/bin/env bash
# castor-relay's /metrics, scraped with curl inside the relay's namespace:
#   - the exposition follows the text format (Content-Type version=0.0.4,
#     # TYPE before each family's samples, counters end in _total, the text
#     ends with a newline) and holds every family operations.md lists;
#   - castor_rule_packets_total and castor_output_packets_total equal what
#     castor-recv received after a bounded burst;
#   - castorctl kill of the forwarder shows in
#     castor_supervisor_restarts_total, and the rule's counter does not fall
#     although the new forwarder counts from 0 (the metrics ledger), nor
#     miss what the killed one forwarded after the last gather;
#   - a second relay on the same metrics address fails to start, naming the
#     address and the option;
#   - SIGTERM still stops the relay with status 0.
#
# usage: relay_metrics.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_metrics
cst_relay_main "$@" met
cst_need curl
cst_topology 1

# Loopback of the relay's own namespace: nothing else listens there.
listen=127.0.0.1:19108
config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
sed -i "s/^enabled = false$/enabled = true\nlisten = \"$listen\"/" "$config"
cst_rule "$config" met-a 239.53.1.1 5001 out1:239.63.1.1:6001
cst_rule "$config" met-idle 239.53.1.2 5002 out1:239.63.1.2:6002
cst_start_relay "$config"

# scrape NAME: GET /metrics into $CST_WORK/NAME.txt, headers NAME.hdr.
scrape() {
  timeout 5 ip netns exec "$CST_NS_RELAY" curl -sS --max-time 3 \
    -D "$CST_WORK/$1.hdr" -o "$CST_WORK/$1.txt" "http://$listen/metrics"
}

# value FILE SELECTOR: the value of the sample line that starts with
# SELECTOR (name plus labels, exactly as printed), empty if none.
value() {
  awk -v s="$2" 'index($0, s " ") == 1 { print $NF; exit }' "$1"
}

# format_ok FILE: Prometheus text format 0.0.4: the text ends with a
# newline; one # TYPE per family, before its first sample; a family's
# samples are grouped; counters end in _total; our names start castor_
# (or process_, the client libraries' standard process metrics).
format_ok() {
  local file=$1
  [[ -s $file && $(tail -c1 "$file" | od -An -c | tr -d ' ') == '\n' ]] || {
    echo "does not end with a newline" >&2
    return 1
  }
  awk '
    /^# TYPE / {
      if ($3 in type) { print "second # TYPE for " $3; bad = 1 }
      type[$3] = $4
      if ($4 == "counter" && $3 !~ /_total$/) {
        print "counter without _total: " $3; bad = 1
      }
      if ($3 !~ /^(castor|process)_/) { print "no castor_ prefix: " $3; bad = 1 }
      next
    }
    /^#/ || /^$/ { next }
    {
      name = $0; sub(/[{ ].*/, "", name)
      if (!(name in type)) { print "sample before its # TYPE: " $0; bad = 1 }
      if (name != current) {
        if (name in done) { print "samples of " name " not grouped"; bad = 1 }
        if (current != "") done[current] = 1
        current = name
      }
      n++
    }
    END { if (n == 0) { print "no samples"; bad = 1 }; exit bad }
  ' "$file" >&2
}

content_type_ok() {
  grep -qi '^Content-Type: text/plain; version=0.0.4' "$CST_WORK/$1.hdr"
}

families_ok() {
  local f missing=0
  for f in castor_build_info castor_rule_packets_total \
           castor_rule_bytes_total castor_output_packets_total \
           castor_output_bytes_total castor_output_drops_total \
           castor_ingress_frames_total castor_ingress_drops_total \
           castor_group_memberships castor_supervisor_restarts_total \
           castor_forwarder_queue_depth castor_forwarder_frames_total \
           castor_interface_memberships castor_interface_tx_dropped_total \
           castor_reloads_total castor_last_reload_timestamp_seconds \
           process_cpu_seconds_total process_resident_memory_bytes \
           process_open_fds process_start_time_seconds; do
    grep -q "^# TYPE $f " "$1" || { echo "missing family $f" >&2; missing=1; }
  done
  return "$missing"
}

# wait_value NAME SELECTOR EXPECTED SECONDS: scrapes until the sample
# equals EXPECTED (gathers run every second).
wait_value() {
  local name=$1 selector=$2 expected=$3 limit=$4 i got=""
  for ((i = 0; i < limit * 5; i++)); do
    if scrape "$name" 2>/dev/null; then
      got=$(value "$CST_WORK/$name.txt" "$selector")
      [[ $got == "$expected" ]] && return 0
    fi
    sleep 0.2
  done
  echo "$selector is '$got', expected $expected" >&2
  return 1
}

cst_check "a scrape answers" scrape first
cst_check "Content-Type is text/plain; version=0.0.4" content_type_ok first
cst_check "the text follows the format rules" format_ok "$CST_WORK/first.txt"
cst_check "every family is there" families_ok "$CST_WORK/first.txt"
cst_check "castor_build_info is 1" \
  grep -q '^castor_build_info{version="[^"]*",commit="[^"]*"} 1$' \
    "$CST_WORK/first.txt"
cst_check "castor_up is gone (Prometheus's own up says it)" \
  bash -c "! grep -q '^castor_up' '$CST_WORK/first.txt'"

count=2000
cst_check "receiver gets the burst of $count" \
  cst_pass r1 "${CST_NS_RECV[1]}" --group 239.63.1.1:6001 --interface c0 \
  --expect-count "$count" --expect-no-duplicates --duration 20 -- \
  --group 239.53.1.1:5001 --count "$count" --rate 5000
received=$(cst_field received "$(cst_summary r1)")
echo "castor-recv received $received"
cst_check "castor_rule_packets_total{rule=\"met-a\"} = received ($received)" \
  wait_value burst 'castor_rule_packets_total{rule="met-a"}' "$received" 5
cst_check "castor_output_packets_total of met-a's output = received" \
  test "$(value "$CST_WORK/burst.txt" \
    'castor_output_packets_total{rule="met-a",interface="out1",address="239.63.1.1",port="6001"}')" \
    = "$received"
cst_check "the idle rule shows with 0" \
  test "$(value "$CST_WORK/burst.txt" \
    'castor_rule_packets_total{rule="met-idle"}')" = 0
cst_check "both input groups are joined" \
  test "$(value "$CST_WORK/burst.txt" \
    'castor_group_memberships{state="joined"}')" = 2
cst_check "the text after traffic still follows the format rules" \
  format_ok "$CST_WORK/burst.txt"

# A killed forwarder: its restart counts, and the new one's counters (from
# 0) add to the old ones instead of resetting the series.
cst_check "castorctl kill root/workers/fwd-in0-1" \
  cst_ctl kill root/workers/fwd-in0-1
cst_check "castor_supervisor_restarts_total shows the restart" \
  wait_value killed \
  'castor_supervisor_restarts_total{child="root/workers/fwd-in0-1"}' 1 5
cst_wait_workers_running 10 || true
cst_check "after the restart the rule still counts $received" \
  wait_value killed 'castor_rule_packets_total{rule="met-a"}' "$received" 5
cst_check "a second burst of 500 reaches the receiver" \
  cst_pass r2 "${CST_NS_RECV[1]}" --group 239.63.1.1:6001 --interface c0 \
  --expect-count 500 --expect-no-duplicates --duration 20 -- \
  --group 239.53.1.1:5001 --count 500 --rate 5000
received2=$(cst_field received "$(cst_summary r2)")
cst_check "the rule's counter grows on: $received + $received2" \
  wait_value more 'castor_rule_packets_total{rule="met-a"}' \
  $((received + received2)) 5

# Killed right after a burst, before the next gather (one a second) could
# see its last datagrams: the total is still exact, from the stopped
# forwarder's final count (relay_context::retire), not its last gathered one.
cst_check "a third burst of 500 reaches the receiver" \
  cst_pass r3 "${CST_NS_RECV[1]}" --group 239.63.1.1:6001 --interface c0 \
  --expect-count 500 --expect-no-duplicates --duration 20 -- \
  --group 239.53.1.1:5001 --count 500 --rate 5000
received3=$(cst_field received "$(cst_summary r3)")
cst_check "castorctl kill right after it" cst_ctl kill root/workers/fwd-in0-1
cst_wait_workers_running 10 || true
cst_check "the rule's counter holds every datagram: $received + $received2 + $received3" \
  wait_value exact 'castor_rule_packets_total{rule="met-a"}' \
  $((received + received2 + received3)) 5

# Same address, second daemon: a clear start error, exit status 2.
second_fails() {
  local cfg=$CST_WORK/second.toml out=$CST_WORK/second.out rc=0
  sed "s|^control_socket = .*|control_socket = \"$CST_WORK/second.sock\"|" \
    "$config" | sed '/^\[\[rule\]\]/,$d' >"$cfg"
  timeout 15 ip netns exec "$CST_NS_RELAY" "$CST_RELAY" -f "$cfg" -n \
    >"$out" 2>&1 || rc=$?
  cat "$out"
  [[ $rc -eq 2 ]] && grep -q "cannot listen on $listen (\[metrics\] listen)" \
    "$out" && grep -qi "address already in use" "$out"
}
cst_check "a second relay on $listen fails to start, naming it" second_fails

cst_check "SIGTERM stops the relay with status 0" cst_stop_relay
echo "--- the last scrape (HELP lines left out):"
grep -v '^# HELP' "$CST_WORK/more.txt" || true
cst_finish
