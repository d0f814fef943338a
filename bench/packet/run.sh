#!/usr/bin/env bash
# castor::packet benchmark: TPACKET_V3 ring vs recvmmsg receive rate, CPU
# and latency into a no-op callback, sendmmsg batch sizes, and the kernel
# filter's cost by rule count (1, 600, 1,000, 10,000; FILTER_RUNS=3 for
# medians), on one veth pair between two network namespaces of its own:
#
#   S (sender) s0 10.78.1.1 --veth-- r0 10.78.1.2 R (receiver)
#
# Every phase is bounded in time (PHASE seconds, 0.3 with --smoke). The
# namespaces are removed on every exit path; only the receivers this script
# starts are stopped, by PID. Needs root (exit 77 otherwise).
#
# usage: run.sh [--smoke] PATH/TO/bench_packet
set -euo pipefail

phase=${PHASE:-2}
if [[ ${1:-} == --smoke ]]; then
  phase=0.3
  shift
fi
bench=${1:?usage: run.sh [--smoke] PATH/TO/bench_packet}
if [[ $(id -u) -ne 0 ]]; then
  echo "bench_packet: needs root for network namespaces; skipped"
  exit 77
fi

prefix="castor-pb-$$"
ns_s="$prefix-s" ns_r="$prefix-r"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$ns_s" 2>/dev/null || true
  ip netns del "$ns_r" 2>/dev/null || true
  rm -f "${out:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_s"
ip netns add "$ns_r"
ip link add s0 netns "$ns_s" type veth peer name r0 netns "$ns_r"
ip netns exec "$ns_s" ip addr add 10.78.1.1/24 dev s0
ip netns exec "$ns_r" ip addr add 10.78.1.2/24 dev r0
for ns in "$ns_s" "$ns_r"; do ip netns exec "$ns" ip link set lo up; done
ip netns exec "$ns_s" ip link set s0 up
ip netns exec "$ns_r" ip link set r0 up
for i in $(seq 1 100); do
  ip netns exec "$ns_r" ip -o link show r0 | grep -q LOWER_UP && break
  sleep 0.05
done

group=239.78.1.1
port=7001
out=$(mktemp)

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# recv_phase MODE RATE SIZE: a receiver for PHASE+1 s, a sender for PHASE s.
recv_phase() {
  local mode=$1 rate=$2 size=$3 i
  : >"$out"
  ip netns exec "$ns_r" "$bench" recv --if r0 --group $group --port $port \
    --mode "$mode" --seconds "$(awk "BEGIN { print $phase + 1 }")" >"$out" &
  local rpid=$!
  pids+=("$rpid")
  for i in $(seq 1 200); do grep -q READY "$out" && break; sleep 0.01; done
  local s
  s=$(ip netns exec "$ns_s" "$bench" send --if s0 --group $group \
        --port $port --seconds "$phase" --batch 64 --size "$size" \
        --rate "$rate")
  wait "$rpid"
  local r
  r=$(grep '^recv' "$out")
  # Not a rate check: a phase in which nothing arrived means the benchmark
  # itself is broken, and its row would be a lie.
  if [[ $(field got "$r") == 0 || -z $(field got "$r") ]]; then
    echo "bench_packet: $mode received nothing" >&2
    exit 1
  fi
  printf "| %-8s | %5s | %8s | %9s | %9s | %7s | %7s | %6s | %6s |\n" \
    "$mode" "$size" "$([[ $rate == 0 ]] && echo max || echo "$rate")" \
    "$(field pps "$s")" "$(field pps "$r")" "$(field lost "$r")" \
    "$(field cpu_us_per_pkt "$r")" "$(field p50_us "$r")" \
    "$(field p99_us "$r")"
}

echo "castor::packet receive, veth between two namespaces, ${phase} s per row"
echo "(sender: udp_egress, sendmmsg batch 64; the sender is on the same 2 cores)"
echo
echo "| ingress  |  size |  tx rate |   sent/s  | recvd/s   |    lost | us/pkt  | p50 us | p99 us |"
echo "|----------|-------|----------|-----------|-----------|---------|---------|--------|--------|"
for size in 64 1400; do
  recv_phase ring 0 $size
  recv_phase recvmmsg 0 $size
done
for rate in 10000 100000; do
  recv_phase ring $rate 64
  recv_phase recvmmsg $rate 64
done

echo
echo "udp_egress send rate by sendmmsg batch size (64-byte payload, no receiver)"
echo
echo "| batch |    sent/s | us/pkt (sender CPU) |"
echo "|-------|-----------|---------------------|"
for batch in 1 8 32 64 256; do
  s=$(ip netns exec "$ns_s" "$bench" send --if s0 --group $group \
        --port $port --seconds "$phase" --batch $batch --size 64 --rate 0)
  if [[ $(field sent "$s") == 0 ]]; then
    echo "bench_packet: batch $batch sent nothing" >&2
    exit 1
  fi
  printf "| %5s | %9s | %19s |\n" "$batch" "$(field pps "$s")" \
    "$(field cpu_us_per_pkt "$s")"
done

# Per-datagram TTL and TOS (ttl = "decrement", tos = "preserve": IP_TTL and
# IP_TOS control messages from each slot's preallocated buffer) against the
# socket options of a numeric ttl and tos: MARK_RUNS (default 3) pairs run
# alternately, side by side, and the ratio of the median CPU per datagram.
echo
echo "udp_egress: TTL/TOS per datagram (cmsg) vs socket options (64-byte"
echo "payload, batch 64, no receiver; median of ${MARK_RUNS:-3} alternating runs)"
echo
echo "| ttl/tos            |    sent/s | us/pkt (sender CPU) |"
echo "|--------------------|-----------|---------------------|"
declare -A mark_cpu mark_pps
for ((n = 0; n < ${MARK_RUNS:-3}; n++)); do
  for marks in 0 1; do
    s=$(ip netns exec "$ns_s" "$bench" send --if s0 --group $group \
          --port $port --seconds "$phase" --batch 64 --size 64 --rate 0 \
          --marks $marks)
    if [[ $(field sent "$s") == 0 ]]; then
      echo "bench_packet: marks=$marks sent nothing" >&2
      exit 1
    fi
    mark_cpu[$marks]+="$(field cpu_us_per_pkt "$s") "
    mark_pps[$marks]+="$(field pps "$s") "
  done
done
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
             awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for marks in 0 1; do
  printf "| %-18s | %9s | %19s |\n" \
    "$([[ $marks == 1 ]] && echo "per datagram" || echo "socket (numeric)")" \
    "$(median "${mark_pps[$marks]}")" "$(median "${mark_cpu[$marks]}")"
done
echo "ratio per datagram / numeric (CPU per datagram):" \
  "$(awk -v a="$(median "${mark_cpu[1]}")" -v b="$(median "${mark_cpu[0]}")" \
       'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"

# The kernel filter by rule count (bench_packet filter): a second veth pair
# with both ends in the receiver's namespace, f0 -> f1, so that sender,
# softirq and receiver share one thread and its CPU time.
ip -n "$ns_r" link add f0 type veth peer name f1
ip -n "$ns_r" addr add 10.78.2.1/24 dev f0
ip -n "$ns_r" link set f0 up
ip -n "$ns_r" link set f1 up
for i in $(seq 1 100); do
  ip netns exec "$ns_r" ip -o link show f1 | grep -q LOWER_UP && break
  sleep 0.05
done

# filter_row RULES chain|tiered ruled|unruled: FILTER_RUNS runs (default 1;
# 3 for a measurement), the median CPU per datagram.
filter_row() {
  local rules=$1 kind=$2 traffic=$3 r n cpus=()
  for ((n = 0; n < ${FILTER_RUNS:-1}; n++)); do
    r=$(ip netns exec "$ns_r" "$bench" filter --out f0 --in f1 \
          --rules "$rules" --filter "$kind" --traffic "$traffic" \
          --seconds "$phase")
    if [[ $(field fits "$r") == no ]]; then
      printf "| %6s | %-6s | %-7s | %-5s | %5s | %9s | %12s |\n" \
        "$rules" "$kind" "$traffic" "-" "-" "n/a" "does not fit"
      return 0
    fi
    if [[ $traffic == ruled && $(field matched "$r") == 0 ]]; then
      echo "bench_packet: filter $rules $kind passed no ruled datagram" >&2
      exit 1
    fi
    cpus+=("$(field cpu_ns_per_pkt "$r")")
  done
  printf "| %6s | %-6s | %-7s | %-5s | %5s | %9s | %12s |\n" \
    "$rules" "$kind" "$traffic" "$(field tier "$r")" "$(field insns "$r")" \
    "$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{ v[NR] = $1 }
       END { print v[int((NR + 1) / 2)] }')" \
    "$(field got "$r")/$(field sent "$r")"
}

echo
echo "kernel filter by rule count (rule i: 239.100.0.0+i port 5000; 64-byte"
echo "datagrams to the last ruled group, or to an unruled group on port 5000;"
echo "CPU of send + veth + softirq + filter + recvmmsg + table lookup, one"
echo "thread; median of ${FILTER_RUNS:-1}). chain: the exact filter before"
echo "issue 15; tiered: build_filter() now (exact search tree, then ports)"
echo
echo "|  rules | filter | traffic | tier  | insns | ns/pkt    | passed/sent  |"
echo "|--------|--------|---------|-------|-------|-----------|--------------|"
for rules in 1 600 1000 10000; do
  for traffic in ruled unruled; do
    filter_row "$rules" chain "$traffic"
    filter_row "$rules" tiered "$traffic"
  done
done
