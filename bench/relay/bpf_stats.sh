# bench/relay/bpf_stats.sh, sourced by run.sh: the tc programs' own cost
# per packet on the relay's input (tcrelay's and castor_kernel's), from the
# kernel's BPF run-time statistics (bpf_stats.py). Unlike the machine's
# busy time per packet, which every other process on a shared machine adds
# to, this counts only the time the programs on in0 ran: the figure to
# compare the two in-kernel forwarders by when the machine is not quiet.
# The statistics are on only around the trials that read them (they cost
# every BPF program run on the machine two clock reads).

bpf_stats_py=$(dirname "${BASH_SOURCE[0]}")/bpf_stats.py
bpf_on=0 bpf_why=""

# bpf_stats_start: turns the statistics on; false (bpf_why says why) if
# this machine cannot.
bpf_stats_start() {
  command -v bpftool >/dev/null || { bpf_why="no bpftool"; return 1; }
  command -v python3 >/dev/null || { bpf_why="no python3"; return 1; }
  cst_start bpf_stats "$CST_NS_RELAY" python3 "$bpf_stats_py" hold
  if ! cst_wait_for bpf_stats "bpf stats on" 10 2>/dev/null; then
    bpf_why=$(tail -n 1 "$CST_WORK/bpf_stats.out")
    cst_stop bpf_stats 5 || true
    return 1
  fi
  bpf_on=1
}

bpf_stats_stop() {
  ((bpf_on)) || return 0
  cst_stop bpf_stats 5 || true
  bpf_on=0
}

# bpf_sample: "RUN_TIME_NS RUN_CNT" of the programs on in0's ingress.
bpf_sample() {
  ((bpf_on)) || { echo "0 0"; return; }
  cst_in "$CST_NS_RELAY" python3 "$bpf_stats_py" sample in0 || echo "0 0"
}

# bpf_cost BEFORE AFTER INPUT: sets t_bpf_ns (program ns per input packet)
# and t_bpf_run (ns per program run) from two samples.
bpf_cost() {
  local ns0 cnt0 ns1 cnt1
  read -r ns0 cnt0 <<<"$1"
  read -r ns1 cnt1 <<<"$2"
  t_bpf_ns=$(awk -v d=$((ns1 - ns0)) -v n="$3" \
               'BEGIN { printf "%.0f", n ? d / n : 0 }')
  t_bpf_run=$(awk -v d=$((ns1 - ns0)) -v n=$((cnt1 - cnt0)) \
                'BEGIN { printf "%.0f", n ? d / n : 0 }')
}

# With PERF_DIR set, one more of these trials at each rate records a
# system-wide call-graph profile (perf record -a -g, cpu-clock: no hardware
# counters on these VMs) into PERF_DIR/CONTENDER-RATE.data, for what the
# softirq does around the programs (perf report --no-children -i FILE).
perf_dir=${PERF_DIR:-} perf_tag="" perf_pid=""
perf_start() {
  [[ -n $perf_dir && -n $perf_tag ]] || return 0
  command -v perf >/dev/null || { echo "bench_relay: PERF_DIR: no perf" >&2; return 0; }
  mkdir -p "$perf_dir"
  perf record -q -e cpu-clock -a -g -o "$perf_dir/$perf_tag.data" \
    >"$CST_WORK/perf.out" 2>&1 &
  perf_pid=$!
  cst_track perf "$perf_pid" # the cleanup stops it if the bench ends first
  sleep 0.5 # perf's start, before the traffic
}
perf_stop() {
  [[ -n $perf_pid ]] || return 0
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  CST_ENDED[$perf_pid]=1
  perf_pid=""
}
