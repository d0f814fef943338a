#!/usr/bin/env bash
# bench/relay/profile.sh: where castor-relay spends its time under one
# fixed-rate stream, for tuning the forwarder loop (run.sh gives the
# side-by-side table; this gives the why).
#
# On the bench's chain (sender -> relay -> one receiver, the same rules as
# run.sh: one single stream, a fan-out and 150 streams), it sends RATE pps
# of 64 B for SECONDS and reports:
#   - CPU per packet of each relay thread (/proc/PID/task/*/stat), so that
#     a polling CAF worker or io thread shows apart from the forwarders;
#   - syscalls and context switches of the relay per packet (perf stat on
#     syscall tracepoints), which give datagrams per wake-up;
#   - the receiver's p50/p99 latency;
#   - with PERF_RECORD=1, a call-graph profile (perf record -g, cpu-clock:
#     this VM has no hardware counters) kept in OUT_DIR/perf.data with its
#     report in OUT_DIR/report.txt.
#
#   - sendmmsg messages per call and datagrams per message (from the
#     return values of sendmmsg, perf record on sys_exit_sendmmsg), which
#     show how much UDP GSO joins;
#
# usage: profile.sh TOOLS_DIR CASTOR_RELAY [CASTORCTL]
#   env: RATE (200000), SECONDS_ (10; max 60), GEN_THREADS (1), WORKERS
#        (relay default), STREAMS (1: the single rule; N > 1: N streams of
#        the 150 "many" rules, interleaved datagram by datagram, RATE in
#        total), PERF_RECORD (0), OUT_DIR (/tmp/castor-profile),
#        RELAY_TUNE (see below)
# Needs root (exit 77 otherwise). Every process it starts is stopped by PID
# and the namespaces are removed on exit (lib.sh's trap).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$root/tests/integration/relay/lib.sh"
CST_NAME=bench_profile
tools=${1:?usage: profile.sh TOOLS_DIR CASTOR_RELAY [CASTORCTL]}
relay_bin=${2:?usage: profile.sh TOOLS_DIR CASTOR_RELAY [CASTORCTL]}
ctl_bin=${3:-$(dirname "$relay_bin")/castorctl}
cst_init prf "$tools"
cst_require_relay "$relay_bin" "$ctl_bin"

rate=${RATE:-200000}
seconds=${SECONDS_:-10}
gen_threads=${GEN_THREADS:-1}
out_dir=${OUT_DIR:-/tmp/castor-profile}
if ! awk -v s="$seconds" 'BEGIN { exit !(s > 0 && s <= 60) }'; then
  echo "profile.sh: SECONDS_ must be in (0, 60]" >&2
  exit 2
fi
cst_need perf
mkdir -p "$out_dir"

cst_topology 1
g_single=239.70.1.1 p_single=7001
g_many=239.71.0.1 p_many=7100
config=$CST_WORK/relay.toml
cst_relay_config "$config" "${WORKERS:-0}" packet
[[ -n ${WORKERS:-} ]] || sed -i '/^workers = /d' "$config"
cst_rule "$config" single $g_single $p_single "out1:$g_single:$p_single"
for ((i = 0; i < 150; i++)); do
  cst_rule "$config" "m$i" "$(cst_ip_plus $g_many $i)" $((p_many + i)) \
    "out1:$(cst_ip_plus $g_many $i):$((p_many + i))"
done
cst_start_relay "$config"
# cst_start runs `ip netns exec`, which execs the relay: same PID.
pid=$(cst_pid relay)
# RELAY_TUNE: a command run with each relay thread's id appended, to try a
# scheduling setting from outside, e.g. "chrt -f -p 10" or "renice -n -10 -p".
if [[ -n ${RELAY_TUNE:-} ]]; then
  for t in /proc/"$pid"/task/*; do
    # shellcheck disable=SC2086
    $RELAY_TUNE "${t##*/}" >/dev/null
  done
fi

# thread_ticks: "TID NAME TICKS" for every thread of the relay.
thread_ticks() {
  local t stat rest f
  for t in /proc/"$pid"/task/*; do
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo "${t##*/} $(tr ' ' _ <"$t/comm" 2>/dev/null) $((f[11] + f[12]))"
  done
}

streams=${STREAMS:-1}
target=("$g_single:$p_single")
((streams == 1)) || target=("$g_many:$p_many" --streams "$streams")
count=$(awk -v r="$rate" -v s="$seconds" -v n="$streams" \
          'BEGIN { printf "%d", r * s / n }')
cst_recv rx "${CST_NS_RECV[1]}" --group "${target[@]}" --interface c0 \
  --expect-count "$count" --idle 500 --duration $((${seconds%.*} + 15))

before=$(thread_ticks)
perf_events='syscalls:sys_enter_poll,syscalls:sys_enter_ppoll,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,context-switches,cpu-clock'
# perf is bounded by `sleep`, and by timeout(1) around it.
timeout $((${seconds%.*} + 20)) perf stat -e "$perf_events" -p "$pid" \
  -o "$out_dir/stat.txt" -- sleep "$(awk -v s="$seconds" 'BEGIN { print s + 0.5 }')" &
stat_pid=$!
record_pid=""
timeout $((${seconds%.*} + 20)) perf record -q -e syscalls:sys_exit_sendmmsg \
  -p "$pid" -o "$out_dir/sendmmsg.data" \
  -- sleep "$(awk -v s="$seconds" 'BEGIN { print s + 0.5 }')" 2>/dev/null &
sendmmsg_pid=$!
if [[ ${PERF_RECORD:-0} == 1 ]]; then
  timeout $((${seconds%.*} + 20)) perf record -q -g -e cpu-clock -F 4999 \
    -p "$pid" -o "$out_dir/perf.data" -- sleep "$seconds" 2>/dev/null &
  record_pid=$!
fi
sent=$(cst_send --group "${target[@]}" --count "$count" --rate "$rate" \
  --size 64 --ttl 8 --bind 10.50.0.1 --threads "$gen_threads")
wait "$stat_pid" || true
wait "$sendmmsg_pid" || true
[[ -z $record_pid ]] || wait "$record_pid" || true
after=$(thread_ticks)
cst_recv_result rx $((${seconds%.*} + 20)) >/dev/null || true
summary=$(cst_summary rx)
input=$(cst_field sent "$sent")
clk_tck=$(getconf CLK_TCK)

echo "profile: $rate pps x ${seconds} s, 64 B, $streams stream(s)," \
     "generator threads $gen_threads," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sender:   $sent"
echo "receiver: $summary"
echo "relay CPU per input packet, by thread (us):"
join <(sort <<<"$before") <(sort <<<"$after") |
  awk -v hz="$clk_tck" -v n="$input" '{ d = $5 - $3; t += d
       if (d > 0) printf "  %-8s %-16s %8.3f\n", $1, $2, d / hz * 1e6 / n }
       END { printf "  %-25s %8.3f\n", "total", t / hz * 1e6 / n }'
echo "relay events per input packet (perf stat):"
awk -v n="$input" '$1 ~ /^[0-9,.]+$/ && $2 != "" {
       v = $1; gsub(",", "", v)
       if ($2 == "msec") printf "  %-36s %10.3f us/pkt\n", $3, v * 1000 / n
       else if (v > 0) printf "  %-36s %10.4f  (%d)\n", $2, v / n, v }' \
  "$out_dir/stat.txt"
perf script -i "$out_dir/sendmmsg.data" -F trace 2>/dev/null |
  awk -v n="$input" 'function hex(s,   i, v) { v = 0; s = tolower(s)
         for (i = 1; i <= length(s); i++)
           v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
         return v }
       $NF ~ /^0x[0-9a-fA-F]+$/ { m = hex(substr($NF, 3))
         if (m > 0 && m < 65536) { calls++; msgs += m } }
       END { if (calls) printf "sendmmsg: %d calls, %.1f messages per call, %.2f datagrams per message\n", calls, msgs / calls, n / msgs }'
if [[ -n $record_pid ]]; then
  perf report -i "$out_dir/perf.data" --no-children --sort dso,symbol \
    --stdio 2>/dev/null | grep -v '^$' >"$out_dir/report.txt" || true
  echo "top symbols (self), full report in $out_dir/report.txt:"
  perf report -i "$out_dir/perf.data" --no-children --sort dso,symbol \
    --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -25
fi
