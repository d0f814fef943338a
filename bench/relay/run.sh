#!/usr/bin/env bash
# bench/relay: castor-relay against the kernel's multicast forwarding
# (smcroute, static (S,G) routes) and socat, side by side in one run, on one
# namespace chain built by tests/integration/relay/lib.sh:
#
#   sender s0 10.50.0.1 --veth-- in0 [relay ns] out1 --veth-- recv1
#                                               out2 --veth-- recv2
#
# Measured, each the median of RUNS runs:
#   - max lossless rate (< 0.1 % loss) at 64- and 1400-byte payloads, and
#     for a fan-out 1->2 (64 B; both outputs must be lossless);
#   - max lossless rate with 5 and 150 interleaved streams on one port
#     (239.73.0.1+i:7300, 64 B), the form tcrelay serves too;
#   - loss at fixed rates (64 B: 50, 100, 200, 400 kpps offered);
#   - p50/p99 latency at 100, 200 and 400 kpps (64 B), and the latency
#     added over a receiver one hop from the sender (no relay);
#   - relay CPU per packet at the fixed rates, from the scheduler's run
#     time of the relay's threads (/proc/PID/task/*/schedstat, ns; utime
#     and stime in /proc/PID/stat come in 10 ms clock ticks, which made
#     a 1 s trial's figure +-10 % noise), and the same as % of one CPU over the
#     trial's wall time; and the machine's busy time per packet (/proc/stat),
#     in all and over the no-relay run at the same rate, the only way to
#     see the kernel's cost, which runs in softirq on the sender's CPU
#     (noisy on a shared machine);
#   - 150 streams at once, one port each: loss at 75 and 150 kpps total;
#   - for the in-kernel contenders (tcrelay, castor_kernel), what their tc
#     programs cost per packet at the p50 rates, from the kernel's BPF
#     run-time statistics (bpf_stats.sh): their own time only, so it holds
#     on a shared machine where the machine CPU rows do not.
# What many interleaved streams cost per packet against one stream, with 1
# and 2 workers, is streams.sh's table (castor-relay only).
#
# Fairness: the sender uses TTL 8, since the kernel does not forward TTL 1;
# socat gets rcvbuf=4 MiB (with its default ~208 KiB it already loses
# 0.3-2 % at 50-100 kpps) and bind=GROUP (needed when several socats share
# a port); smcrouted has its own socket and pid file, since /run is shared
# between namespaces. The generator's own ceiling is measured first
# (sender -> receiver, one hop); a contender that is still lossless there is
# reported as ">= RATE (generator-bound)".
#
# Contenders that are not available print "n/a": castor-relay until it is
# built, smcroute or socat if not installed, smcroute on a kernel without
# CONFIG_IP_MROUTE. Issue 16 adds castor_kernel (castor-relay with
# datapath = "kernel") and tcrelay, the in-kernel baseline (a tc program
# with compile-time groups; TCRELAY_DIR, default ../shared/baselines/tcrelay
# next to the repository): it serves the one-stream, fan-out and one-port
# stream rows; its streams share one port, so the rows of 150 streams with
# a port each read n/a for it, and socat (one process per group) sits out
# the one-port rows.
#
# usage: run.sh [--smoke] TOOLS_DIR [CASTOR_RELAY [CASTORCTL]]
#   env: RUNS (3), TRIAL seconds per trial (1), GEN_THREADS sender threads
#        (1), STEPS bisection steps (5), CASTOR_WORKERS (relay default),
#        CONTENDERS ("kernel tcrelay socat castor castor_kernel"; add
#        castor6 for castor-relay over IPv6, lib.sh's CST_FAMILY=6, side by
#        side with castor: CONTENDERS="castor castor6" prints the IPv6/IPv4
#        ratios at the end; castor_kernel6 the same for the kernel data
#        path, against castor_kernel),
#        TCRELAY_DIR, PERF_DIR (bpf_stats.sh), RATES_ONLY=1 (only the fixed-rate rows: loss,
#        latency, CPU and the BPF programs' cost; not the max-lossless and
#        stream rows, which take most of the time), VERBOSE=1 (every trial to
#        stderr), CASTOR_MARKS=1 (castor's outputs with ttl = "decrement"
#        and tos = "preserve", per-datagram IP_TTL/IP_TOS control
#        messages, instead of the numeric ttl = 1 socket options: run it
#        with and without, side by side, for the cost)
# --smoke: one short run of each measure, to notice when the bench breaks;
# it asserts only that traffic went through every available contender.
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
# shellcheck source=bpf_stats.sh
source "$root/bench/relay/bpf_stats.sh"
CST_NAME=bench_relay
tools=${1:?usage: run.sh [--smoke] TOOLS_DIR [CASTOR_RELAY [CASTORCTL]]}
relay_bin=${2:-}
ctl_bin=${3:-$(dirname "${relay_bin:-/nonexistent}")/castorctl}
cst_init bch "$tools"

runs=${RUNS:-3}
trial_s=${TRIAL:-1}
steps=${STEPS:-5}
gen_threads=${GEN_THREADS:-1}
rates_only=${RATES_ONLY:-0}
fixed_rates=(50000 100000 200000 400000)
# The issue 16 targets' rates: p50, CPU and machine CPU rows.
p50_rates=(100000 200000 400000)
n_many=150
shared_counts=(5 150)
if ((smoke)); then
  runs=1 trial_s=0.2 steps=1 n_many=20
  fixed_rates=(20000) p50_rates=(20000) shared_counts=(5 20)
fi
# The max-lossless and stream rows (RATES_ONLY=1 leaves them out).
max_sizes=(64 1400) many_rates=($((n_many * 500)) $((n_many * 1000)))
((smoke)) && many_rates=($((n_many * 100)))
if ((rates_only)); then
  max_sizes=() many_rates=() shared_counts=()
fi

cst_topology 2
clk_tck=$(getconf CLK_TCK)

# Groups: one stream, a fan-out input, 150 streams with a port each, and
# 150 streams on one port. No rewrite, so that all contenders do the same
# work.
g_single=239.70.1.1 p_single=7001
g_fanout=239.72.1.1 p_fanout=7201
g_many=239.71.0.1 p_many=7100
g_shared=239.73.0.1 p_shared=7300

# -- contenders ---------------------------------------------------------------

read -r -a contenders <<<"${CONTENDERS:-kernel tcrelay socat castor castor_kernel}"
declare -A available=() why=()

# Sums the run time (ns) of every thread of PIDS: the first field of
# /proc/PID/task/TID/schedstat, which counts the softirq work done in a
# thread's context too, as utime+stime did.
proc_ns() {
  local pid t total=0 run rest
  for pid in "$@"; do
    for t in /proc/"$pid"/task/*/schedstat; do
      read -r run rest 2>/dev/null <"$t" || continue
      total=$((total + run))
    done
  done
  echo "$total"
}

# Busy jiffies of the whole machine (all but idle and iowait).
machine_busy() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

start_kernel() {
  command -v smcrouted >/dev/null || { why[kernel]="no smcroute"; return 1; }
  local conf=$CST_WORK/smcroute.conf i
  {
    echo "phyint in0 enable"
    echo "phyint out1 enable"
    echo "phyint out2 enable"
    echo "mroute from in0 source 10.50.0.1 group $g_single to out1"
    echo "mroute from in0 source 10.50.0.1 group $g_fanout to out1 out2"
    for ((i = 0; i < n_many; i++)); do
      echo "mroute from in0 source 10.50.0.1 group $(cst_ip_plus $g_many $i) to out1"
      echo "mroute from in0 source 10.50.0.1 group $(cst_ip_plus $g_shared $i) to out1"
    done
  } >"$conf"
  cst_start smcrouted "$CST_NS_RELAY" smcrouted -n -N -f "$conf" \
    -i "cstbch$$" -u "$CST_WORK/smcroute.sock" -P "$CST_WORK/smcroute.pid" \
    -l err
  # Ready once every route is in the kernel's table (bounded 10 s).
  cst_until 10 kernel_routes $((2 * n_many + 2)) && return 0
  why[kernel]="smcrouted did not install its routes"
  cst_out smcrouted >&2
  return 1
}
kernel_routes() { # WANT: the relay namespace has WANT multicast routes
  (($(cst_in "$CST_NS_RELAY" ip mroute show | grep -c Iif) >= $1))
}
stop_kernel() { stop_by_name smcrouted; }

# socat_one NAME GROUP PORT OUT_IF_ADDR: one socat from in0 to an output.
socat_one() {
  cst_start "$1" "$CST_NS_RELAY" socat -u \
    "UDP4-RECV:$3,bind=$2,ip-add-membership=$2:in0,reuseaddr,rcvbuf=4194304" \
    "UDP4-DATAGRAM:$2:$3,ip-multicast-if=$4,ip-multicast-ttl=1,ip-multicast-loop=0"
}
socat_names=()
start_socat() {
  command -v socat >/dev/null || { why[socat]="no socat"; return 1; }
  local i
  socat_one socat_single $g_single $p_single 10.50.1.1
  socat_one socat_fan1 $g_fanout $p_fanout 10.50.1.1
  socat_one socat_fan2 $g_fanout $p_fanout 10.50.2.1
  socat_names=(socat_single socat_fan1 socat_fan2)
  for ((i = 0; i < n_many; i++)); do
    socat_one "socat_m$i" "$(cst_ip_plus $g_many $i)" $((p_many + i)) 10.50.1.1
    socat_names+=("socat_m$i")
  done
  # Ready once every socat has bound its receiving socket, which it does
  # after joining; 153 processes take a while on a loaded machine
  # (bounded 30 s).
  local want=$((n_many + 3))
  cst_until 30 socat_bound "$want" && return 0
  why[socat]="socat did not bind its sockets ($bound of $want)"
  return 1
}
socat_bound() { # WANT: WANT sockets bound to the bench's groups
  bound=$(cst_in "$CST_NS_RELAY" ss -Hunl | grep -c ' 239\.7[012]\.' || true)
  ((bound >= $1))
}
stop_socat() {
  local n
  for n in "${socat_names[@]}"; do stop_by_name "$n"; done
}

# tcrelay_object NAME GROUP PORT STREAMS OUT_IFS...: the baseline compiled
# for one rule (STREAMS groups from GROUP on PORT, group and port
# unchanged) in the relay namespace's interfaces. Every chained filter but
# the last (tcr_shared) passes on what it does not take (TC_ACT_UNSPEC: the
# next filter runs) instead of ending the chain with TC_ACT_OK, so those are
# compiled from a copy with that one change.
tcrelay_object() {
  local name=$1 group=$2 port=$3 streams=$4 n=1 itf mac defs src=$tcrelay_dir/tcrelay.bpf.c
  shift 4
  if [[ $name != tcr_shared ]]; then
    sed 's/return TC_ACT_OK;/return TC_ACT_UNSPEC;/' "$src" >"$CST_WORK/tcr_chain.bpf.c"
    src=$CST_WORK/tcr_chain.bpf.c
  fi
  local g
  g=$(IFS=. read -r a b c d <<<"$group"; echo $(((a << 24) | (b << 16) | (c << 8) | d)))
  defs="-DIN_GROUP=${g}u -DOUT_GROUP=${g}u -DIN_PORT=$port -DOUT_PORT=$port -DSTREAMS=$streams -DOUT_TTL=8"
  for itf in "$@"; do
    mac=$(cst_in "$CST_NS_RELAY" cat "/sys/class/net/$itf/address" | tr -d :)
    defs="$defs -DOUT${n}_IF=$(cst_in "$CST_NS_RELAY" cat "/sys/class/net/$itf/ifindex") -DOUT${n}_MAC=$((16#$mac))ull"
    n=$((n + 1))
  done
  # shellcheck disable=SC2086
  clang -O2 -target bpf -I/usr/include/"$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)" \
    $defs -c "$src" -o "$CST_WORK/$name.o"
}
start_tcrelay() {
  tcrelay_dir=${TCRELAY_DIR:-$root/../shared/baselines/tcrelay}
  [[ -f $tcrelay_dir/tcrelay.bpf.c ]] || tcrelay_dir=/work/shared/baselines/tcrelay
  [[ -f $tcrelay_dir/tcrelay.bpf.c ]] || { why[tcrelay]="no tcrelay baseline"; return 1; }
  command -v clang >/dev/null || { why[tcrelay]="no clang"; return 1; }
  tcrelay_object tcr_single $g_single $p_single 1 out1 &&
    tcrelay_object tcr_fanout $g_fanout $p_fanout 1 out1 out2 &&
    tcrelay_object tcr_shared $g_shared $p_shared "$n_many" out1 ||
    { why[tcrelay]="tcrelay did not compile"; return 1; }
  tc -n "$CST_NS_RELAY" qdisc add dev in0 clsact &&
    tc -n "$CST_NS_RELAY" filter add dev in0 ingress pref 1 bpf da \
      obj "$CST_WORK/tcr_single.o" sec tc &&
    tc -n "$CST_NS_RELAY" filter add dev in0 ingress pref 2 bpf da \
      obj "$CST_WORK/tcr_fanout.o" sec tc &&
    tc -n "$CST_NS_RELAY" filter add dev in0 ingress pref 3 bpf da \
      obj "$CST_WORK/tcr_shared.o" sec tc ||
    { why[tcrelay]="tcrelay did not attach"; return 1; }
}
stop_tcrelay() { tc -n "$CST_NS_RELAY" qdisc del dev in0 clsact 2>/dev/null || true; }

# castor-relay with the kernel data path (issue 16): the same config with
# datapath = "kernel".
start_castor_kernel() {
  local rc=0
  CST_DATAPATH=kernel start_castor || rc=$?
  why[castor_kernel]=${why[castor]:-}
  return "$rc"
}
stop_castor_kernel() { stop_castor; }

start_castor() {
  if [[ -z $relay_bin || ! -x $relay_bin ]]; then
    why[castor]="castor-relay not built"
    return 1
  fi
  cst_require_relay "$relay_bin" "$ctl_bin"
  local config=$CST_WORK/relay.toml i
  cst_relay_config "$config" "${CASTOR_WORKERS:-0}" packet
  if [[ -z ${CASTOR_WORKERS:-} ]]; then
    # Let the relay choose (one per core).
    sed -i '/^workers = /d' "$config"
  fi
  cst_rule "$config" single $g_single $p_single "out1:$g_single:$p_single"
  cst_rule "$config" fanout $g_fanout $p_fanout "out1:$g_fanout:$p_fanout" \
    "out2:$g_fanout:$p_fanout"
  for ((i = 0; i < n_many; i++)); do
    cst_rule "$config" "m$i" "$(cst_ip_plus $g_many $i)" $((p_many + i)) \
      "out1:$(cst_ip_plus $g_many $i):$((p_many + i))"
    cst_rule "$config" "s$i" "$(cst_ip_plus $g_shared $i)" $p_shared \
      "out1:$(cst_ip_plus $g_shared $i):$p_shared"
  done
  if [[ -n ${CASTOR_MARKS:-} ]]; then
    sed -i 's/ttl = 1 }/ttl = "decrement", tos = "preserve" }/' "$config"
  fi
  cst_start_relay "$config" || { why[castor]="castor-relay did not start"; return 1; }
  # Forwarding starts once the inputs are joined (bounded 10 s).
  cst_until 10 castor_joined $((2 * n_many + 2)) && return 0
  why[castor]="castor-relay joined $joined of $((2 * n_many + 2)) groups"
  return 1
}
# castor-relay over IPv6 (issue 19): the same rules, every address mapped
# by lib.sh (CST_FAMILY=6, set around this contender's topology).
start_castor6() {
  start_castor && return 0
  why[castor6]=${why[castor]}
  return 1
}
stop_castor6() { stop_castor; }
# The kernel data path over IPv6 (issue 19): castor_kernel's config with
# every address mapped, side by side with castor_kernel.
start_castor_kernel6() {
  local rc=0
  CST_DATAPATH=kernel start_castor || rc=$?
  why[castor_kernel6]=${why[castor]:-}
  return "$rc"
}
stop_castor_kernel6() { stop_castor; }
castor_joined() { # WANT: castor-relay joined WANT groups on in0
  joined=$(cst_igmp_groups "$CST_NS_RELAY" in0 | wc -l)
  ((joined >= $1))
}
stop_castor() { stop_by_name relay; }

# stop_by_name NAME: SIGTERM, then SIGKILL after 5 s, which it reports.
stop_by_name() {
  local rc=0
  cst_stop "$1" 5 || rc=$?
  if ((rc == 124)); then
    echo "bench_relay: $1 did not stop within 5 s of SIGTERM; killed; its last words:" >&2
    tail -n 5 "$CST_WORK/$1.out" >&2
  fi
}

# pids_for CONTENDER WHAT: the processes whose CPU counts for a measure.
pids_for() {
  case $1 in
    kernel) cst_pid smcrouted ;;
    castor | castor_kernel | castor6 | castor_kernel6) cst_pid relay ;;
    tcrelay) ;; # no process: it runs in softirq
    socat)
      case $2 in
        single) cst_pid socat_single ;;
        fanout) echo "$(cst_pid socat_fan1) $(cst_pid socat_fan2)" ;;
        many) local n; for n in "${socat_names[@]:3}"; do cst_pid "$n"; done ;;
      esac ;;
  esac
}

# -- one trial ------------------------------------------------------------------

# trial WHO WHAT SIZE RATE: sends TRIAL seconds at RATE and sets
#   t_loss_ppm (worst receiver), t_received, t_sent_pps, t_p50, t_p99,
#   t_cpu_us (relay processes, per input packet), t_cpu_pct (the same, %
#   of one CPU over the trial), t_busy_us (machine, per input packet).
# WHO is a contender or "direct" (receiver one hop from the sender); WHAT is
# single, fanout, many (a port per stream) or sharedN (N streams, one port).
trial() {
  local who=$1 what=$2 size=$3 rate=$4
  local group port streams=1 receivers=(1) total count keep=()
  case $what in
    single) group=$g_single port=$p_single ;;
    fanout) group=$g_fanout port=$p_fanout receivers=(1 2) ;;
    many) group=$g_many port=$p_many streams=$n_many ;;
    shared*) group=$g_shared port=$p_shared streams=${what#shared} keep=(--keep-port) ;;
  esac
  # Rate 0: as fast as the generator goes, for TRIAL seconds; the receiver
  # then cannot know the count and judges loss by the highest sequence.
  local bound=(--duration "$trial_s") expect=()
  if ((rate > 0)); then
    total=$(awk -v r="$rate" -v t="$trial_s" 'BEGIN { printf "%d", r * t }')
    count=$(((total + streams - 1) / streams))
    bound=(--count "$count") expect=(--expect-count "$count")
  fi
  local k ns ifname
  for k in "${receivers[@]}"; do
    if [[ $who == direct ]]; then
      ns=$CST_NS_RELAY ifname=in0
    else
      ns=${CST_NS_RECV[$k]} ifname=c0
    fi
    cst_recv "rx$k" "$ns" --group "$group:$port" --streams "$streams" \
      "${keep[@]}" --interface "$ifname" "${expect[@]}" --idle 300 \
      --duration "$(awk -v t="$trial_s" 'BEGIN { print t + 10 }')"
  done
  local pids=() ns0 busy0 sent wall0 wall1 bpf0
  [[ $who == direct ]] || read -r -a pids <<<"$(pids_for "$who" "$what" | xargs)"
  bpf0=$(bpf_sample)
  ns0=$(proc_ns "${pids[@]}")
  busy0=$(machine_busy)
  perf_start
  wall0=$(date +%s%N)
  sent=$(cst_send --group "$group:$port" --streams "$streams" "${keep[@]}" \
           "${bound[@]}" --rate "$rate" --size "$size" --ttl 8 \
           --bind 10.50.0.1 --threads "$gen_threads")
  wall1=$(date +%s%N)
  perf_stop
  local input
  input=$(cst_field sent "$sent")
  input=${input:-0}
  local worst=0 received=0 p50=0 p99=0 s lost r ppm
  for k in "${receivers[@]}"; do
    cst_recv_result "rx$k" $((${trial_s%.*} + 15)) >/dev/null || true
    s=$(cst_summary "rx$k")
    lost=$(cst_field lost "$s") r=$(cst_field received "$s")
    lost=${lost:-$input} r=${r:-0}
    ppm=1000000
    ((input > 0)) && ppm=$((lost * 1000000 / input))
    ((ppm > worst)) && worst=$ppm
    ((k == 1)) && received=$r p50=$(cst_field p50_us "$s") \
      p99=$(cst_field p99_us "$s")
  done
  local ns1 busy1
  ns1=$(proc_ns "${pids[@]}")
  busy1=$(machine_busy)
  bpf_cost "$bpf0" "$(bpf_sample)" "$input"
  t_loss_ppm=$worst t_received=$received t_p50=${p50:-0} t_p99=${p99:-0}
  t_sent_pps=$(cst_field pps "$sent")
  if [[ -n ${VERBOSE:-} ]]; then
    echo "trial $who $what ${size}B rate $rate: $sent" >&2
    for k in "${receivers[@]}"; do
      echo "  rx$k: $(cst_summary "rx$k")" >&2
    done
  fi
  t_cpu_us=$(awk -v d=$((ns1 - ns0)) -v n="$input" \
               'BEGIN { printf "%.2f", n ? d / 1e3 / n : 0 }')
  t_busy_us=$(awk -v d=$((busy1 - busy0)) -v hz="$clk_tck" -v n="$input" \
               'BEGIN { printf "%.2f", n ? d / hz * 1e6 / n : 0 }')
  # The relay's CPU over the trial (until the receivers are done) as a
  # share of one CPU while the sender sends: an upper bound.
  t_cpu_pct=$(awk -v d=$((ns1 - ns0)) -v w=$((wall1 - wall0)) \
                'BEGIN { printf "%.1f", w ? d * 100 / w : 0 }')
}

lossless() { ((t_received > 0 && t_loss_ppm < 1000)); }

# max_lossless WHO WHAT SIZE CEILING: sets ml_rate to the highest rate with
# < 0.1 % loss, by bisection below CEILING; "CEILING+" if even that is
# lossless; ml_cpu to the relay's CPU per packet in that trial (0 if
# none was lossless) and ml_pps to the rate the sender reached in it.
# (Variables, not output: the trials must run in this
# shell, which owns the processes they start.)
max_lossless() {
  local who=$1 what=$2 size=$3 hi=$4 lo=0 mid i
  ml_cpu=0 ml_pps=0
  trial "$who" "$what" "$size" "$hi"
  if lossless; then
    ml_rate="$hi+" ml_cpu=$t_cpu_us ml_pps=${t_sent_pps%.*}
    return
  fi
  for ((i = 0; i < steps; i++)); do
    mid=$(((lo + hi) / 2))
    trial "$who" "$what" "$size" "$mid"
    if lossless; then
      lo=$mid ml_cpu=$t_cpu_us ml_pps=${t_sent_pps%.*}
    else
      hi=$mid
    fi
  done
  ml_rate=$lo
}

# median VALUES...: the median (numeric; a trailing "+" is kept if the
# median value carried it).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }'
}

kpps() {
  local v=$1 plus=""
  [[ $v == n/a ]] && { echo n/a; return; }
  [[ $v == *+ ]] && { plus=" (gen-bound)"; v=${v%+}; }
  awk -v v="$v" -v p="$plus" 'BEGIN { printf "%s%.0f%s", (p ? ">= " : ""), v / 1000, p }'
}

# ratio A B: A/B. A value at the generator's ceiling ("N+") is a lower
# bound, so the ratio is one too (">=", "<="), or unknown if both are.
ratio() {
  local a=${1%+} b=${2%+} prefix=""
  if [[ $a == n/a || $b == n/a || -z $a || -z $b || $b == 0 ]]; then
    echo n/a
    return
  fi
  if [[ $1 == *+ && $2 == *+ ]]; then
    echo "n/a (both gen-bound)"
    return
  fi
  [[ $1 == *+ ]] && prefix=">= "
  [[ $2 == *+ ]] && prefix="<= "
  awk -v a="$a" -v b="$b" -v p="$prefix" 'BEGIN { printf "%s%.2f", p, a / b }'
}

# -- the generator's ceiling ----------------------------------------------------

declare -A ceiling=() direct_loss=()
echo "bench_relay: $runs run(s) of ${trial_s} s trials; generator threads: $gen_threads"
for size in 64 "${max_sizes[@]:1}"; do
  vals=()
  for ((r = 0; r < runs; r++)); do
    trial direct single "$size" 0
    vals+=("${t_sent_pps%.*}")
    direct_loss[$size]=$t_loss_ppm
  done
  ceiling[$size]=$(median "${vals[@]}")
  echo "generator, ${size} B, one hop, no relay: ${ceiling[$size]} pps sent," \
       "loss ${direct_loss[$size]} ppm"
  if ((ceiling[$size] == 0)); then
    echo "bench_relay: the generator sent nothing" >&2
    exit 1
  fi
done

# The no-relay reference for latency and machine CPU at each p50 rate.
declare -A direct_p50=() direct_p99=() direct_busy=()
for rate in "${p50_rates[@]}"; do
  vals50=() vals99=() valsbusy=()
  for ((r = 0; r < runs; r++)); do
    trial direct single 64 "$rate"
    vals50+=("$t_p50") vals99+=("$t_p99") valsbusy+=("$t_busy_us")
  done
  direct_p50[$rate]=$(median "${vals50[@]}")
  direct_p99[$rate]=$(median "${vals99[@]}")
  direct_busy[$rate]=$(median "${valsbusy[@]}")
done

# -- each contender in turn -----------------------------------------------------

declare -A res=()
for who in "${contenders[@]}"; do
  # A fresh chain for each contender, so that none inherits kernel state
  # (multicast routes, memberships) from the one before; castor6's and
  # castor_kernel6's are IPv6.
  if [[ $who == castor6 || $who == castor_kernel6 ]]; then
    export CST_FAMILY=6
  else
    unset CST_FAMILY
  fi
  cst_reset_topology 2
  if ! "start_$who"; then
    available[$who]=0
    echo "$who: n/a (${why[$who]:-not available})"
    continue
  fi
  available[$who]=1
  echo "$who: running"
  # 150 streams first: after socat had been driven into overload, its 150
  # streams were seen to reach the receiver's interface and no socket, for
  # minutes (its single stream kept working). Measuring them first keeps
  # that from deciding the row; every contender gets the same order.
  for rate in "${many_rates[@]}"; do
    vals=()
    if [[ $who == tcrelay ]]; then
      res[$who,many$rate]=n/a # one port for all its streams: not this setup
      continue
    fi
    for ((r = 0; r < runs; r++)); do
      trial "$who" many 64 "$rate"
      vals+=("$t_loss_ppm")
    done
    res[$who,many$rate]=$(median "${vals[@]}")
  done
  for size in "${max_sizes[@]}"; do
    vals=() valscpu=() valspps=()
    for ((r = 0; r < runs; r++)); do
      max_lossless "$who" single "$size" "${ceiling[$size]}"
      vals+=("$ml_rate") valscpu+=("$ml_cpu") valspps+=("$ml_pps")
    done
    res[$who,max$size]=$(median "${vals[@]}")
    res[$who,maxcpu$size]=$(median "${valscpu[@]}")
    res[$who,maxpps$size]=$(median "${valspps[@]}")
  done
  vals=()
  for ((r = 0; r < (rates_only ? 0 : runs); r++)); do
    max_lossless "$who" fanout 64 "${ceiling[64]}"
    vals+=("$ml_rate")
  done
  ((${#vals[@]} == 0)) || res[$who,fanout]=$(median "${vals[@]}")
  # Interleaved streams on one port (tcrelay's form too).
  for n in "${shared_counts[@]}"; do
    if [[ $who == socat ]]; then
      res[$who,shared$n]=n/a # a process per group: not set up for these
      continue
    fi
    vals=()
    for ((r = 0; r < runs; r++)); do
      max_lossless "$who" "shared$n" 64 "${ceiling[64]}"
      vals+=("$ml_rate")
    done
    res[$who,shared$n]=$(median "${vals[@]}")
  done
  # Fixed rates: loss, the relay's CPU, and at the p50 rates latency and
  # the machine's CPU, all from the same trials.
  got=()
  for rate in "${fixed_rates[@]}"; do
    vals=() valscpu=() valspct=() vals50=() vals99=() valsbusy=()
    for ((r = 0; r < runs; r++)); do
      trial "$who" single 64 "$rate"
      vals+=("$t_loss_ppm") valscpu+=("$t_cpu_us") valspct+=("$t_cpu_pct")
      vals50+=("$t_p50") vals99+=("$t_p99") valsbusy+=("$t_busy_us")
      got+=("$t_received")
    done
    res[$who,loss$rate]=$(median "${vals[@]}")
    res[$who,cpu$rate]=$(median "${valscpu[@]}")
    res[$who,pct$rate]=$(median "${valspct[@]}")
    res[$who,p50_$rate]=$(median "${vals50[@]}")
    res[$who,p99_$rate]=$(median "${vals99[@]}")
    res[$who,busy$rate]=$(median "${valsbusy[@]}")
    if [[ -n ${direct_busy[$rate]:-} ]]; then
      res[$who,added$rate]=$(awk -v a="${res[$who,busy$rate]}" \
        -v b="${direct_busy[$rate]}" 'BEGIN { printf "%.2f", a - b }')
    fi
  done
  res[$who,received]=$(median "${got[@]}")
  # The in-kernel forwarders' tc programs: their own time per packet, in
  # trials of their own (the statistics slow every program a little).
  if [[ $who == tcrelay || $who == castor_kernel ]]; then
    if bpf_stats_start; then
      for rate in "${p50_rates[@]}"; do
        vals=() valsrun=()
        for ((r = 0; r < runs; r++)); do
          trial "$who" single 64 "$rate"
          vals+=("$t_bpf_ns") valsrun+=("$t_bpf_run")
        done
        if [[ -n $perf_dir ]]; then # one more, profiled (bpf_stats.sh)
          perf_tag=$who-$rate
          trial "$who" single 64 "$rate"
          perf_tag=""
        fi
        res[$who,bpf$rate]=$(median "${vals[@]}")
        res[$who,bpfrun$rate]=$(median "${valsrun[@]}")
      done
      bpf_stats_stop
    else
      echo "$who: no BPF program statistics ($bpf_why)"
    fi
  fi
  "stop_$who"
done

# -- the table ------------------------------------------------------------------

# A contender left out of CONTENDERS has no entry at all: n/a too.
get() {
  if [[ ${available[$1]:-0} == 1 ]]; then echo "${res[$1,$2]:-n/a}"; else echo n/a; fi
}
pct() {
  [[ $1 == n/a || -z $1 ]] && { echo n/a; return; }
  awk -v p="$1" 'BEGIN { printf "%.3f %%", p / 10000 }'
}
# One column per contender, then castor against the baselines.
row() {
  local label=$1 c line
  shift
  line=$(printf '| %-36s |' "$label")
  for c in "$@"; do line+=$(printf ' %16s |' "$c"); done
  echo "$line"
}
ratio_cols=("castor/socat" "castor_kernel/tcrelay" "castor_kernel/castor")
ratios() { # MEASURE: the ratio columns of a rate
  echo "$(ratio "$(get castor "$1")" "$(get socat "$1")")|$(ratio \
    "$(get castor_kernel "$1")" "$(get tcrelay "$1")")|$(ratio \
    "$(get castor_kernel "$1")" "$(get castor "$1")")"
}
# diffs MEASURE: the same columns as differences A - B (latency, where
# the target is "within N us").
diff() {
  local a=$1 b=$2
  if [[ $a == n/a || $b == n/a || -z $a || -z $b ]]; then
    echo n/a
    return
  fi
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.1f us", a - b }'
}
diffs() {
  echo "$(diff "$(get castor "$1")" "$(get socat "$1")")|$(diff \
    "$(get castor_kernel "$1")" "$(get tcrelay "$1")")|$(diff \
    "$(get castor_kernel "$1")" "$(get castor "$1")")"
}
# cells FORMAT MEASURE: one cell per contender.
cells() {
  local who
  for who in "${contenders[@]}"; do "$1" "$(get "$who" "$2")"; echo; done
}
plain() { echo -n "$1"; }
# added VALUE: VALUE and what it adds over $added_to (no relay).
added() {
  [[ $1 == n/a || -z $1 ]] && { echo -n n/a; return; }
  awk -v a="$1" -v b="$added_to" 'BEGIN { printf "%.1f (%+.1f)", a, a - b }'
}
kpps_cell() { echo -n "$(kpps "$1")"; }
pct_cell() { echo -n "$(pct "$1")"; }
table_row() { # LABEL FORMAT MEASURE [ratios|diffs]
  local -a c
  mapfile -t c < <(cells "$2" "$3")
  local -a r=("" "" "")
  [[ -n ${4:-} ]] && IFS='|' read -r -a r <<<"$("$4" "$3")"
  row "$1" "${c[@]}" "${r[@]}"
}

echo
echo "castor-relay (packet and kernel data paths) vs kernel forwarding"
echo "(smcroute), the tcrelay baseline and socat; medians of $runs run(s);"
echo "generator ceiling one hop without relay: 64 B $(kpps "${ceiling[64]}") kpps," \
     "1400 B $(kpps "${ceiling[1400]}") kpps"
echo
row "measure" "${contenders[@]}" "${ratio_cols[@]}"
dashes=()
for ((i = 0; i < ${#contenders[@]} + 3; i++)); do dashes+=("---"); done
row "---" "${dashes[@]}"
table_row "max lossless kpps, 64 B" kpps_cell max64 ratios
table_row "max lossless kpps, 1400 B" kpps_cell max1400 ratios
table_row "max lossless kpps in, fan-out 1->2" kpps_cell fanout ratios
for n in "${shared_counts[@]}"; do
  table_row "max lossless kpps, $n streams, 1 port" kpps_cell "shared$n" ratios
done
for rate in "${fixed_rates[@]}"; do
  table_row "loss at $((rate / 1000)) kpps, 64 B" pct_cell "loss$rate"
done
for rate in "${p50_rates[@]}"; do
  added_to=${direct_p50[$rate]}
  table_row "p50 us at $((rate / 1000)) kpps (added)" added "p50_$rate" diffs
done
for rate in "${p50_rates[@]}"; do
  added_to=${direct_p99[$rate]}
  table_row "p99 us at $((rate / 1000)) kpps (added)" added "p99_$rate" diffs
done
# A relay that sleeps between bursts pays a wake-up per burst, so its cost
# per packet falls as the rate rises and bursts grow: one row per rate.
for rate in "${fixed_rates[@]}"; do
  table_row "relay process CPU us/pkt, $((rate / 1000)) kpps" plain "cpu$rate"
done
for rate in "${p50_rates[@]}"; do
  table_row "relay process CPU % of 1 CPU, $((rate / 1000)) kpps" plain "pct$rate"
done
# ... and at the highest lossless rate, where bursts are largest: what a
# packet costs when the relay is busy.
table_row "relay process CPU us/pkt, max 64 B" plain maxcpu64
for rate in "${p50_rates[@]}"; do
  table_row "machine CPU us/pkt, $((rate / 1000)) kpps" plain "busy$rate" ratios
done
for rate in "${p50_rates[@]}"; do
  table_row "  over no relay, $((rate / 1000)) kpps" plain "added$rate" ratios
done
for rate in "${p50_rates[@]}"; do
  table_row "tc program ns/pkt, $((rate / 1000)) kpps" plain "bpf$rate" ratios
done
for rate in "${p50_rates[@]}"; do
  table_row "  ns per program run, $((rate / 1000)) kpps" plain "bpfrun$rate"
done
for rate in $((n_many * 500)) $((n_many * 1000)); do
  ((smoke)) && rate=$((n_many * 100))
  table_row "loss, $n_many streams, a port each, $((rate / 1000)) kpps" pct_cell "many$rate"
  ((smoke)) && break
done
echo
for rate in "${p50_rates[@]}"; do
  echo "no relay (one hop) at $((rate / 1000)) kpps: p50 ${direct_p50[$rate]} us," \
       "p99 ${direct_p99[$rate]} us, machine CPU ${direct_busy[$rate]} us/pkt"
done
echo "'>= N (gen-bound)': lossless at the generator's ceiling; the contender's"
echo "own limit is higher. Kernel forwarding runs in softirq on the sender's"
echo "CPU, so its process CPU is ~0; see the machine CPU rows. So do tcrelay"
echo "and castor_kernel's forwarding; castor_kernel's process CPU is its"
echo "actors' (stats, the link refresh), none of it per packet. Rates above"
echo "the generator's ceiling are offered, not reached: loss is counted"
echo "against what was sent. Latency ratios are differences (us); the"
echo "machine CPU rows compare per packet, in all and over no relay. The tc"
echo "program rows are the in-kernel forwarders' programs on in0 alone (BPF"
echo "run-time statistics: run_time_ns per input packet, and per run), the"
echo "clones they send and their transmit included; unlike the machine rows"
echo "they do not count what other processes on the machine do."

# A smoke run checks that every available contender forwarded something.
if ((smoke)); then
  for who in "${contenders[@]}"; do
    if [[ ${available[$who]} == 1 && ${res[$who,received]:-0} == 0 ]]; then
      echo "bench_relay: $who forwarded nothing" >&2
      exit 1
    fi
  done
fi

# IPv6 against IPv4 (issue 19), when both ran: rate and CPU per packet,
# and the rates the sender reached in those trials: the relay pays per
# wake-up, so its CPU per packet compares only at equal rates (the
# ceiling is IPv4's, and IPv6 packets cost the relay namespace's receive
# path more: docs/ipv6.md; bench/relay/family.sh compares the families at
# equal rates in one relay).
if [[ ${available[castor]:-0} == 1 && ${available[castor6]:-0} == 1 ]]; then
  echo
  for size in 64 1400; do
    echo "castor6/castor, ${size} B: max lossless rate" \
      "$(ratio "$(get castor6 "max$size")" "$(get castor "max$size")")," \
      "relay CPU us/pkt at max" \
      "$(ratio "$(get castor6 "maxcpu$size")" "$(get castor "maxcpu$size")")" \
      "(sent $(kpps "$(get castor6 "maxpps$size")") and" \
      "$(kpps "$(get castor "maxpps$size")") kpps)"
  done
fi
# The kernel path's forwarding is softirq work: IPv6 against IPv4 by the
# max lossless rate and by the machine's CPU per packet.
if [[ ${available[castor_kernel]:-0} == 1 && ${available[castor_kernel6]:-0} == 1 ]]; then
  echo
  for size in 64 1400; do
    echo "castor_kernel6/castor_kernel, ${size} B: max lossless rate" \
      "$(ratio "$(get castor_kernel6 "max$size")" "$(get castor_kernel "max$size")")"
  done
  for rate in "${p50_rates[@]}"; do
    echo "castor_kernel6/castor_kernel, $((rate / 1000)) kpps: machine CPU us/pkt" \
      "$(ratio "$(get castor_kernel6 "busy$rate")" "$(get castor_kernel "busy$rate")")," \
      "over no relay $(ratio "$(get castor_kernel6 "added$rate")" "$(get castor_kernel "added$rate")")," \
      "p50 $(diff "$(get castor_kernel6 "p50_$rate")" "$(get castor_kernel "p50_$rate")")"
  done
fi
