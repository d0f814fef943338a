#!/usr/bin/env bash
# bench/bus/profile.sh: where castor::bus spends its CPU at one fixed offer
# (run.sh gives the side-by-side table; this gives the why). One publisher
# and one subscriber in two namespaces on a veth pair, as in run.sh, one
# case:
#   - CPU per message of each side by kind of thread (main, io shard, CAF
#     scheduler and clock), from castor-bus's own summaries (utime + stime
#     of /proc/self/task/*), and the load;
#   - with PERF=1: context switches and syscalls per message (perf stat)
#     and a call-graph profile of each side (perf record -g, cpu-clock:
#     this VM has no hardware counters), reports in OUT_DIR;
#   - with CALLGRIND=sub or CALLGRIND=pub: that side under valgrind's
#     callgrind (instructions, no kernel), its profile in OUT_DIR. Keep the
#     rate low (valgrind runs ~50x slower) and compare Ir per message.
#
#   [SIZE=288] [RATE=100000] [SECONDS_=3] [PERF=0] [CALLGRIND=] \
#   [OUT_DIR=/tmp/castor-bus-profile] [MAX_RATE=] [GSO=] [GRO=] profile.sh BUILD_DIR
# Needs root (exit 77 otherwise); namespaces and processes are removed on
# every exit path (netns.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../tests/integration/netns.sh
source "$here/../../tests/integration/netns.sh"
# shellcheck source=pair.sh
source "$here/pair.sh"

build=${1:?usage: profile.sh BUILD_DIR}
bus=$build/apps/bus/castor-bus
size=${SIZE:-288}
rate=${RATE:-100000}
secs=${SECONDS_:-3}
out_dir=${OUT_DIR:-/tmp/castor-bus-profile}
count=$(awk -v r="$rate" -v s="$secs" 'BEGIN { printf "%d", r * s }')
if ! awk -v s="$secs" 'BEGIN { exit !(s > 0 && s <= 60) }'; then
  echo "profile.sh: SECONDS_ must be in (0, 60]" >&2
  exit 2
fi
mkdir -p "$out_dir"
CST_NAME=bench_bus_profile
cst_setup bbp
[[ ${PERF:-0} != 1 ]] || cst_need perf
[[ -z ${CALLGRIND:-} ]] || cst_need valgrind
bus_bench_pair 10.205.0

wrap() {
  if [[ ${CALLGRIND:-} == "$1" ]]; then
    echo valgrind --tool=callgrind --callgrind-out-file="$out_dir/callgrind.$1"
  fi
}
uptime_before=$(uptime)
# Without timeout(1) around them, so that the PIDs are castor-bus's own
# (ip netns exec execs); both end by themselves (--count/--timeout, or the
# publisher's end), and the cleanup stops them otherwise.
# shellcheck disable=SC2046
cst_start sub "$S" $(wrap sub) "$bus" sub bench -i e0 --quiet --latency \
  --count "$count" --idle 2 --timeout $((secs * 20 + 20)) --announce-ms 0 \
  --credit 8192 --queue 1000000 --rcvbuf 4194304 ${GRO:+--gro}
cst_wait_for sub subscribed 30
# shellcheck disable=SC2046
cst_start pub "$P" $(wrap pub) "$bus" pub bench -i p0 --count "$count" \
  --rate "$rate" --size "$size" --stamp --linger-ms 1500 --announce-ms 0 \
  --sndbuf 4194304 --no-loop ${MAX_RATE:+--max-rate "$MAX_RATE"} \
  ${GSO:+--gso}
stat_pids=()
if [[ ${PERF:-0} == 1 ]]; then
  events='context-switches,cpu-clock,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write,syscalls:sys_enter_read'
  for side in sub pub; do
    pid=$(cst_pid $side)
    timeout $((secs + 10)) perf stat -e "$events" -p "$pid" \
      -o "$out_dir/stat.$side" -- sleep "$secs" &
    stat_pids+=($!)
    timeout $((secs + 10)) perf record -q -g -e cpu-clock -F 2999 -p "$pid" \
      -o "$out_dir/perf.$side.data" -- sleep "$secs" 2>/dev/null &
    stat_pids+=($!)
  done
fi
for p in "${stat_pids[@]}"; do wait "$p" || true; done
cst_result pub $((secs * 20 + 60)) >"$out_dir/pub.out" || true
cst_result sub $((secs * 20 + 60)) >"$out_dir/sub.out" || true
uptime_after=$(uptime)

field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | tail -1 | cut -d: -f2; }
pr=$(grep '^{' "$out_dir/pub.out" | tail -1)
sr=$(grep '^{' "$out_dir/sub.out" | tail -1)
echo "profile: $size B at $rate msgs/s offered, $count messages"
echo "uptime before: $uptime_before"
echo "uptime after:  $uptime_after"
echo "pub: $pr"
echo "sub: $sr"
per() { awk -v c="${1:-0}" -v n="${2:-0}" 'BEGIN { if (n > 0) printf "%7.2f", c * 1000 / n; else printf "%7s", "-" }'; }
pm=$(field "$pr" messages)
sm=$(field "$sr" received)
echo "CPU per message (us):   total    main      io     caf"
for side in pub sub; do
  if [[ $side == pub ]]; then r=$pr n=$pm; else r=$sr n=$sm; fi
  echo "  $side                $(per "$(field "$r" cpu_ms)" "$n") $(per "$(field "$r" cpu_main_ms)" "$n") $(per "$(field "$r" cpu_io_ms)" "$n") $(per "$(field "$r" cpu_caf_ms)" "$n")"
done
if [[ ${PERF:-0} == 1 ]]; then
  for side in sub pub; do
    if [[ $side == pub ]]; then n=$pm; else n=$sm; fi
    echo "$side events per message (perf stat, ${secs} s):"
    awk -v n="$n" -v secs="$secs" -v rate="$rate" '$1 ~ /^[0-9,.]+$/ && $2 != "" {
         v = $1; gsub(",", "", v)
         # perf saw `secs` seconds of a run that offered `rate` msgs/s.
         m = rate * secs; if (m > n && n > 0) m = n
         if ($2 == "msec") printf "  %-36s %10.3f us/msg\n", $3, v * 1000 / m
         else if (v > 0) printf "  %-36s %10.4f  (%d)\n", $2, v / m, v }' \
      "$out_dir/stat.$side"
    perf report -i "$out_dir/perf.$side.data" --no-children --percent-limit 1 \
      --stdio 2>/dev/null >"$out_dir/report.$side.txt" || true
    perf report -i "$out_dir/perf.$side.data" --no-children --sort dso,sym \
      --percent-limit 1.5 --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -25 || true
  done
  echo "call graphs: $out_dir/report.{sub,pub}.txt"
fi
if [[ -n ${CALLGRIND:-} ]]; then
  f=$out_dir/callgrind.$CALLGRIND
  if [[ $CALLGRIND == pub ]]; then n=$pm; else n=$sm; fi
  ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo "callgrind $CALLGRIND: $ir instructions, $(awk -v i="${ir:-0}" -v n="${n:-0}" 'BEGIN { if (n > 0) printf "%.0f", i / n }') per message"
  callgrind_annotate --inclusive=no "$f" 2>/dev/null | sed -n '1,45p' >"$out_dir/callgrind.$CALLGRIND.txt" || true
  echo "top functions: $out_dir/callgrind.$CALLGRIND.txt"
fi
