#!/usr/bin/env bash
# bench/relay/family.sh: what a packet costs castor-relay over IPv6 against
# IPv4, side by side in one relay (issue 19: "IPv6 reaches at least 0.95x
# the IPv4 rate and CPU per packet").
#
# run.sh measures each family on a chain of its own, at the IPv4
# generator's ceiling, so that the families' trials may run at different
# rates and under different neighbours' load; the relay pays per wake-up,
# so its CPU per packet compares only at equal rates. This script takes
# that out of the comparison:
#   - one dual-stack chain (lib.sh's CST_FAMILY=dual) and one relay with
#     the same rules in both families (the bench's single stream and its
#     150 streams with a port each, so that filters, tables and
#     memberships are as large as run.sh's);
#   - trials alternate IPv4, IPv6, IPv4, ... at the same offered rate and
#     size, so that a change of load hits both families alike;
#   - the relay's CPU is the sum over its threads of the scheduler's
#     run time (/proc/PID/task/*/schedstat, nanoseconds), which includes
#     the softirq work done in its context (its sends through the veths
#     up to the receivers' sockets), as the bench's figure does.
# It prints each trial, then per size the median CPU per packet of each
# family and the median of the per-pair ratios IPv6/IPv4.
#
# usage: family.sh TOOLS_DIR CASTOR_RELAY [CASTORCTL]
#   env: RATE (150000 pps offered), SIZES ("64 1400"), TRIAL (3 s), RUNS
#        (5 pairs), WORKERS (relay default), GROUPS (150: the streams'
#        rules and groups per family besides the single stream's; 0 shows
#        what the joined groups cost), PERF_DIR (unset; set: the
#        first run's trials are also recorded machine-wide with perf record
#        -a -g -e cpu-clock, into PERF_DIR/ipvF-SIZE.data, for the kernel's
#        side of each family: the sender's softirq, where the relay
#        namespace's IP stack takes the input, shows there and nowhere else)
# Needs root (exit 77 otherwise).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$root/tests/integration/relay/lib.sh"
CST_NAME=bench_family
tools=${1:?usage: family.sh TOOLS_DIR CASTOR_RELAY [CASTORCTL]}
relay_bin=${2:?usage: family.sh TOOLS_DIR CASTOR_RELAY [CASTORCTL]}
ctl_bin=${3:-$(dirname "$relay_bin")/castorctl}
cst_init fam "$tools"
cst_require_relay "$relay_bin" "$ctl_bin"

rate=${RATE:-150000}
read -r -a sizes <<<"${SIZES:-64 1400}"
trial_s=${TRIAL:-3}
runs=${RUNS:-5}
if ! awk -v s="$trial_s" 'BEGIN { exit !(s > 0 && s <= 30) }'; then
  echo "family.sh: TRIAL must be in (0, 30]" >&2
  exit 2
fi

export CST_FAMILY=dual
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
g_single=239.70.1.1 p_single=7001
g_many=239.71.0.1 p_many=7100
config=$CST_WORK/relay.toml
cst_relay_config "$config" "${WORKERS:-0}" packet
[[ -n ${WORKERS:-} ]] || sed -i '/^workers = /d' "$config"
for family in 4 6; do
  CST_FAMILY=$family cst_rule "$config" "single$family" $g_single $p_single \
    "out1:$g_single:$p_single"
  for ((i = 0; i < ${GROUPS:-150}; i++)); do
    CST_FAMILY=$family cst_rule "$config" "m$i-$family" \
      "$(cst_ip_plus $g_many $i)" $((p_many + i)) \
      "out1:$(cst_ip_plus $g_many $i):$((p_many + i))"
  done
done
cst_start_relay "$config"
pid=$(cst_pid relay)

# run_ns: nanoseconds the relay's threads have run so far.
run_ns() {
  cat /proc/"$pid"/task/*/schedstat 2>/dev/null |
    awk '{ t += $1 } END { printf "%.0f", t }'
}

# trial FAMILY SIZE: sets t_us (relay CPU per input packet), t_sent_pps,
# t_send_us (the sender's CPU per packet, its own report: it includes the
# relay namespace's receive path, which runs in its softirq), t_lost
# (datagrams the receiver missed).
trial() {
  local family=$1 size=$2 count before after sent summary
  count=$(awk -v r="$rate" -v t="$trial_s" 'BEGIN { printf "%d", r * t }')
  CST_FAMILY=$family cst_recv rx "$recv_ns" --group "$g_single:$p_single" \
    --interface c0 --expect-count "$count" --idle 300 \
    --duration $((${trial_s%.*} + 15))
  local record=""
  if [[ -n ${PERF_DIR:-} && $r == 0 ]]; then
    mkdir -p "$PERF_DIR"
    timeout $((${trial_s%.*} + 20)) perf record -q -a -g -e cpu-clock \
      -o "$PERF_DIR/ipv$family-$size.data" -- sleep "$trial_s" 2>/dev/null &
    record=$!
  fi
  before=$(run_ns)
  sent=$(CST_FAMILY=$family cst_send --group "$g_single:$p_single" \
    --count "$count" --rate "$rate" --size "$size" --ttl 8 --bind 10.50.0.1 \
    2>/dev/null)
  cst_recv_result rx $((${trial_s%.*} + 20)) >/dev/null || true
  after=$(run_ns)
  [[ -z $record ]] || wait "$record" || true
  summary=$(cst_summary rx)
  local input
  input=$(cst_field sent "$sent")
  t_sent_pps=$(cst_field pps "$sent")
  t_send_us=$(cst_field cpu_us_per_pkt "$sent")
  t_lost=$(cst_field lost "$summary")
  t_us=$(awk -v d=$((after - before)) -v n="${input:-0}" \
           'BEGIN { printf "%.3f", n ? d / 1000 / n : 0 }')
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }'
}

echo "bench_family: $runs pair(s) of ${trial_s} s trials at $rate pps offered;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A cpu=() send_cpu=() ratios=()
for ((r = 0; r < runs; r++)); do
  for size in "${sizes[@]}"; do
    # Which family goes first alternates too.
    order=(4 6)
    ((r % 2 == 0)) || order=(6 4)
    declare -A pair=()
    for family in "${order[@]}"; do
      trial "$family" "$size"
      pair[$family]=$t_us
      cpu[$size,$family]+="$t_us "
      send_cpu[$size,$family]+="$t_send_us "
      echo "run $((r + 1)) IPv$family ${size} B: relay CPU $t_us us/pkt," \
           "sent $t_sent_pps pps (sender CPU $t_send_us us/pkt)," \
           "lost ${t_lost:-?}"
    done
    ratios[$size]+="$(awk -v a="${pair[6]}" -v b="${pair[4]}" \
                        'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }') "
    unset pair
  done
done

echo
echo "relay CPU us/pkt at $rate pps offered, medians of $runs;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
for size in "${sizes[@]}"; do
  # shellcheck disable=SC2086 # one value a word
  echo "${size} B: IPv4 $(median ${cpu[$size,4]}), IPv6 $(median ${cpu[$size,6]})," \
       "IPv6/IPv4 $(median ${ratios[$size]}) (median of the pairs' ratios);" \
       "sender CPU us/pkt IPv4 $(median ${send_cpu[$size,4]})," \
       "IPv6 $(median ${send_cpu[$size,6]})"
done
