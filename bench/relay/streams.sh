#!/usr/bin/env bash
# bench/relay/streams.sh: does castor-relay pay more per packet when the
# same total rate comes as many interleaved streams rather than one? (issue
# 15, "Many streams cost what one stream costs".)
#
# On the bench's chain (sender -> relay -> one receiver; 150 rules
# 239.71.0.1+i:7100+i -> out1, the same as run.sh's "many" rules), each run
# starts the relay once per worker count and sends, side by side:
#   - 1 stream (rule m0) at RATE,
#   - 5 and 150 streams at RATE in total, interleaved datagram by datagram
#     (castor-send round-robins its streams: no two consecutive datagrams
#     go to the same group),
# 64 B each, and measures for each: the relay process's CPU per packet
# (utime+stime of all its threads, /proc/PID/stat), the machine's busy
# time per packet (/proc/stat: what the kernel data path costs, in
# softirq), the receiver's p50 and p99 latency and the loss; with PERF=1
# also the relay's sendmmsg, recvmmsg and poll calls per packet (perf stat
# on syscall tracepoints). The packet path runs once per worker count, the
# kernel data path (datapath = "kernel", issue 16) once, with one worker
# (its forwarders then have nothing to do).
#
# Every ratio is taken within one run, against the 1-stream row of that run
# with one worker (the baseline), so that a loaded machine moves the
# baseline and the row together; the table shows the medians over RUNS of
# the values and of the per-run ratios. The goals (issue 15): CPU per
# packet at 5 and 150 streams within 1.2x of one stream's, and 2 workers
# never worse than 1.
#
# usage: streams.sh [--smoke] TOOLS_DIR CASTOR_RELAY [CASTORCTL]
#   env: RUNS (3), TRIAL seconds per trial (2), RATE total pps (200000),
#        SIZE (64), WORKERS_LIST ("1 2"), STREAMS_LIST ("1 5 150"; the
#        first is the baseline), DATAPATHS ("packet kernel"; kernel only
#        where the relay was built with it), PERF (0), VERBOSE=1 (every
#        trial to stderr)
# --smoke: one short run at a low rate, to notice when the bench breaks; it
# asserts only that every row received traffic.
# Needs root (exit 77 otherwise).
set -euo pipefail

smoke=0
if [[ ${1:-} == --smoke ]]; then
  smoke=1
  shift
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$root/tests/integration/relay/lib.sh"
CST_NAME=bench_streams
usage="usage: streams.sh [--smoke] TOOLS_DIR CASTOR_RELAY [CASTORCTL]"
tools=${1:?$usage}
relay_bin=${2:?$usage}
ctl_bin=${3:-$(dirname "$relay_bin")/castorctl}
cst_init bst "$tools"
cst_require_relay "$relay_bin" "$ctl_bin"

runs=${RUNS:-3}
trial_s=${TRIAL:-2}
rate=${RATE:-200000}
size=${SIZE:-64}
read -r -a workers_list <<<"${WORKERS_LIST:-1 2}"
read -r -a streams_list <<<"${STREAMS_LIST:-1 5 150}"
read -r -a datapaths <<<"${DATAPATHS:-packet kernel}"
perf_on=${PERF:-0}
if ((smoke)); then
  runs=1 trial_s=0.3 rate=20000 perf_on=0
fi
((perf_on == 0)) || cst_need perf
clk_tck=$(getconf CLK_TCK)
g_many=239.71.0.1 p_many=7100 n_rules=150

cst_topology 1

# Busy jiffies of the whole machine (all but idle and iowait).
machine_busy() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# proc_ticks PID: utime+stime (clock ticks) of all the process's threads.
proc_ticks() {
  local stat rest f
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  read -r -a f <<<"$rest"
  echo $((f[11] + f[12]))
}

start_relay() { # WORKERS DATAPATH
  local config=$CST_WORK/relay.toml i
  CST_DATAPATH=$2
  cst_relay_config "$config" "$1" packet
  for ((i = 0; i < n_rules; i++)); do
    cst_rule "$config" "m$i" "$(cst_ip_plus $g_many $i)" $((p_many + i)) \
      "out1:$(cst_ip_plus $g_many $i):$((p_many + i))"
  done
  cst_start_relay "$config"
}

# trial STREAMS: sets t_cpu (us/pkt), t_busy (machine us/pkt), t_p50,
# t_p99 (us), t_loss_ppm, t_received, t_calls ("sendmmsg recvmmsg poll"
# per packet, PERF=1).
trial() {
  local n=$1 total count pid
  total=$(awk -v r="$rate" -v t="$trial_s" 'BEGIN { printf "%d", r * t }')
  count=$(((total + n - 1) / n))
  cst_recv rx "${CST_NS_RECV[1]}" --group "$g_many:$p_many" --streams "$n" \
    --interface c0 --expect-count "$count" --idle 300 \
    --duration "$(awk -v t="$trial_s" 'BEGIN { print t + 10 }')"
  pid=$(cst_pid relay)
  local stat_pid="" ticks0 ticks1 busy0 busy1 sent input
  if ((perf_on)); then
    timeout $((${trial_s%.*} + 20)) perf stat -x, -p "$pid" \
      -e syscalls:sys_enter_sendmmsg,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_poll \
      -o "$CST_WORK/stat.txt" -- sleep "$(awk -v t="$trial_s" 'BEGIN { print t + 0.3 }')" &
    stat_pid=$!
  fi
  ticks0=$(proc_ticks "$pid")
  busy0=$(machine_busy)
  sent=$(cst_send --group "$g_many:$p_many" --streams "$n" --count "$count" \
           --rate "$rate" --size "$size" --ttl 8 --bind 10.50.0.1)
  [[ -z $stat_pid ]] || wait "$stat_pid" || true
  ticks1=$(proc_ticks "$pid")
  cst_recv_result rx $((${trial_s%.*} + 15)) >/dev/null || true
  busy1=$(machine_busy)
  local s lost
  s=$(cst_summary rx)
  input=$(cst_field sent "$sent")
  input=${input:-0}
  lost=$(cst_field lost "$s")
  lost=${lost:-$input}
  t_received=$(cst_field received "$s")
  t_received=${t_received:-0}
  t_loss_ppm=1000000
  ((input > 0)) && t_loss_ppm=$((lost * 1000000 / input))
  t_p50=$(cst_field p50_us "$s") t_p99=$(cst_field p99_us "$s")
  t_p50=${t_p50:-0} t_p99=${t_p99:-0}
  t_cpu=$(awk -v d=$((ticks1 - ticks0)) -v hz="$clk_tck" -v n="$input" \
            'BEGIN { printf "%.3f", n ? d / hz * 1e6 / n : 0 }')
  t_busy=$(awk -v d=$((busy1 - busy0)) -v hz="$clk_tck" -v n="$input" \
             'BEGIN { printf "%.3f", n ? d / hz * 1e6 / n : 0 }')
  t_calls="n/a"
  if ((perf_on)); then
    t_calls=$(awk -F, -v n="$input" '
      $3 ~ /sendmmsg/ { s = $1 } $3 ~ /recvmmsg/ { r = $1 } $3 ~ /poll/ { p = $1 }
      END { printf "%.4f/%.4f/%.4f", s / n, r / n, p / n }' "$CST_WORK/stat.txt")
  fi
  if [[ -n ${VERBOSE:-} ]]; then
    echo "trial $cfg streams=$n: $sent" >&2
    echo "  rx: $s" >&2
    echo "  cpu ${t_cpu} us/pkt, machine ${t_busy} us/pkt," \
         "calls/pkt (sendmmsg/recvmmsg/poll) $t_calls" >&2
  fi
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }'
}
# ratio A B: A/B; n/a where B is 0 (the kernel path's process CPU).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

echo "bench_streams: $runs run(s) of ${trial_s} s trials, ${size} B at $rate pps" \
     "in total; load $(cut -d' ' -f1-3 /proc/loadavg)"
# The configurations: "DATAPATH WORKERS". The first is the baseline.
configs=()
for dp in "${datapaths[@]}"; do
  if [[ $dp == kernel ]]; then
    # A relay built without it carries the sentence that says so.
    if grep -q 'built without the kernel data path' "$relay_bin"; then
      echo "bench_streams: castor-relay has no kernel data path; kernel rows skipped" >&2
      continue
    fi
    configs+=("kernel ${workers_list[0]}")
  else
    for w in "${workers_list[@]}"; do configs+=("$dp $w"); done
  fi
done
# res[CONFIG,N,measure,run]
declare -A res=()
base_c=${configs[0]} base_n=${streams_list[0]}
for ((r = 0; r < runs; r++)); do
  for cfg in "${configs[@]}"; do
    read -r dp workers <<<"$cfg"
    cst_reset_topology 1
    start_relay "$workers" "$dp"
    for n in "${streams_list[@]}"; do
      trial "$n"
      res[$cfg,$n,cpu,$r]=$t_cpu res[$cfg,$n,busy,$r]=$t_busy
      res[$cfg,$n,p50,$r]=$t_p50
      res[$cfg,$n,p99,$r]=$t_p99 res[$cfg,$n,loss,$r]=$t_loss_ppm
      res[$cfg,$n,calls,$r]=$t_calls res[$cfg,$n,rx,$r]=$t_received
    done
    cst_stop_relay >/dev/null || true
  done
done

row() { printf '| %-8s | %-7s | %-7s | %9s | %9s | %11s | %12s | %9s | %9s | %10s | %12s | %14s | %22s |\n' "$@"; }
echo
echo "medians of $runs run(s); ratios per run against the row of ${base_n}" \
     "stream(s) of the same run (and configuration, or the baseline's), then"
echo "their median"
echo
row datapath workers streams "us/pkt" "cpu ratio" "machine us" "machine ratio" \
  "p50 us" "p99 us" "loss %" "vs 1 stream" "vs 1st config" \
  "sendmmsg/recvmmsg/poll"
row --- --- --- --- --- --- --- --- --- --- --- --- ---
smoke_failed=0
for cfg in "${configs[@]}"; do
  read -r dp workers <<<"$cfg"
  for n in "${streams_list[@]}"; do
    cpu=() busy=() p50=() p99=() loss=() calls=() rb=() rs=() rw=() rm=()
    for ((r = 0; r < runs; r++)); do
      cpu+=("${res[$cfg,$n,cpu,$r]}") busy+=("${res[$cfg,$n,busy,$r]}")
      p50+=("${res[$cfg,$n,p50,$r]}")
      p99+=("${res[$cfg,$n,p99,$r]}") loss+=("${res[$cfg,$n,loss,$r]}")
      calls+=("${res[$cfg,$n,calls,$r]}")
      rb+=("$(ratio "${res[$cfg,$n,cpu,$r]}" "${res[$base_c,$base_n,cpu,$r]}")")
      rs+=("$(ratio "${res[$cfg,$n,cpu,$r]}" "${res[$cfg,$base_n,cpu,$r]}")")
      rw+=("$(ratio "${res[$cfg,$n,cpu,$r]}" "${res[$base_c,$n,cpu,$r]}")")
      rm+=("$(ratio "${res[$cfg,$n,busy,$r]}" "${res[$cfg,$base_n,busy,$r]}")")
      ((res[$cfg,$n,rx,$r] > 0)) || smoke_failed=1
    done
    row "$dp" "$workers" "$n" "$(median "${cpu[@]}")" "$(median "${rb[@]}")" \
      "$(median "${busy[@]}")" "$(median "${rm[@]}")" \
      "$(median "${p50[@]}")" "$(median "${p99[@]}")" \
      "$(awk -v p="$(median "${loss[@]}")" 'BEGIN { printf "%.3f", p / 10000 }')" \
      "$(median "${rs[@]}")" "$(median "${rw[@]}")" \
      "$(printf '%s\n' "${calls[@]}" | sort | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }')"
  done
done
echo
echo "us/pkt: relay process CPU (all threads) per input packet; cpu ratio:"
echo "against ${base_n} stream(s) of the first configuration ($base_c);"
echo "machine us: the machine's busy time per input packet (sender and"
echo "receiver included; the kernel data path's forwarding shows only here);"
echo "machine ratio and 'vs 1 stream': against ${base_n} stream(s) of the same"
echo "configuration; 'vs 1st config': against the same streams of $base_c."
echo "Load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((smoke && smoke_failed)); then
  echo "bench_streams: a row received nothing" >&2
  exit 1
fi
