#!/usr/bin/env bash
# bench/bus: castor::bus against raw UDP multicast and ZeroMQ PUB/SUB over
# epgm, by Aeron's method: 32, 288 and 1344 B messages at 100k, 500k and 1M
# messages/s, one publisher and one subscriber in two network namespaces
# joined by a veth pair (created here, always removed). Reports, per case,
# what the subscriber received, its throughput and latency percentiles
# (send time in the message; CLOCK_MONOTONIC is the same in both
# namespaces), and any unrecoverable gap.
#
#   [SIZES="32 288"] [RATES="100000"] [REPEAT=3] [CONTENDERS="castor raw-udp"]
#     run.sh BUILD_DIR [SECONDS] [LOSS_PERCENT]
#
# SECONDS (default 2) is the length of each case; LOSS_PERCENT (default 0)
# adds an nftables random drop on the subscriber's input for every
# contender. The three contenders run one after another, never together.
# Each case runs REPEAT times (default 3), the contenders interleaved; every
# run prints a row, and a table of the medians per contender and case
# follows, with `uptime` before and after (the machine's load). kdrop is
# what the subscriber's kernel dropped for a full receive buffer
# (RcvbufErrors of its namespace) during the run; dropped is castor's
# messages dropped for want of the user's credit (none here). pub_us and
# sub_us are castor's CPU per message (user + system time of the whole
# castor-bus pub and sub processes, all threads, over the messages
# published and received; from their summaries), "-" for the others.
# MAX_RATE (bytes/s) caps castor's publisher (pub --max-rate); GSO=1 gives
# it pub --gso (the veth segments, as a NIC would: see below); GRO=1 gives
# its subscriber sub --gro (a --gso run is read as one).
# ZeroMQ runs twice: from Python (zmq-epgm, pyzmq, whose cost per message
# caps small messages near 1M/s) and from C++ (zmq-epgm-c, libzmq's C API,
# the same messages, pacing and settings), which is ZeroMQ's own figure.
# Both sides get 4 MiB socket buffers, and the same bound on the messages
# a subscriber holds for its reader: ZeroMQ's high-water mark of 1,000,000,
# castor's sub --queue 1000000 (its default, 65536, is a few milliseconds
# at 10M msgs/s).
#
# On a shared 2-core machine the figures are noisy; compare contenders of
# one run only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../tests/integration/netns.sh
source "$here/../../tests/integration/netns.sh"
# shellcheck source=pair.sh
source "$here/pair.sh"

build=${1:?usage: run.sh BUILD_DIR [SECONDS] [LOSS_PERCENT]}
secs=${2:-2}
loss=${3:-0}
bus=$build/apps/bus/castor-bus
send=$build/apps/tools/castor-send
recv=$build/apps/tools/castor-recv
# ZeroMQ from C++ (bench/bus/zmq_epgm_peer.cpp, built when libzmq3-dev is
# installed); a default contender when it is there.
zmq_c=$build/bench/bus/zmq_epgm_peer
default_contenders="castor raw-udp zmq-epgm"
[[ ! -x $zmq_c ]] || default_contenders+=" zmq-epgm-c"
CST_NAME=bench_bus
cst_setup bbus
bus_bench_pair 10.204.0
if ((loss > 0)); then
  cst_in "$S" nft -f - <<NFT
table ip benchloss {
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr 239.0.0.0/8 numgen random mod 100 < $loss counter drop
  }
}
NFT
fi

field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | tail -1 | cut -d: -f2; }
# The subscriber namespace's UDP receive-buffer drops so far.
kdrops() { cst_in "$S" awk '/^Udp:/ { if (h) print $6; h = 1 }' /proc/net/snmp; }
# per_msg_us CPU_MS MESSAGES: CPU microseconds per message, 2 decimals.
per_msg_us() {
  awk -v c="${1:-0}" -v n="${2:-0}" \
    'BEGIN { if (n > 0 && c != "") printf "%.2f", c * 1000 / n; else print "-" }'
}
wants() { [[ " ${CONTENDERS:-$default_contenders} " == *" $1 "* ]]; }
if wants zmq-epgm-c && [[ ! -x $zmq_c ]]; then
  echo "run.sh: $zmq_c is not built (install libzmq3-dev, rebuild)" >&2
  exit 2
fi

rows=$CST_WORK/rows
: >"$rows"
row() {
  local line
  line=$(printf '%-8s %5s %8s | %9s %9.0f %7s %7s %5s %6s %6s %6s' "$@")
  echo "$line"
  echo "$line" >>"$rows"
}
echo "uptime before: $(uptime)"
printf '%-8s %5s %8s | %9s %9s %7s %7s %5s %6s %6s %6s\n' contender size \
  rate received msgs/s p50_us p99_us gaps kdrop pub_us sub_us
for size in ${SIZES:-32 288 1344}; do
  for rate in ${RATES:-100000 500000 1000000}; do
   count=$((rate * secs))
   for ((rep = 0; rep < ${REPEAT:-3}; rep++)); do
    k0=$(kdrops)
    if wants castor; then
    # castor::bus
    cst_start bsub "$S" timeout -k 5 $((secs + 30)) "$bus" sub bench -i e0 \
      --quiet --latency --count "$count" --idle 2 --timeout $((secs + 20)) \
      --announce-ms 0 --credit 8192 --queue 1000000 --rcvbuf 4194304 \
      ${GRO:+--gro}
    cst_wait_for bsub subscribed 10
    cst_start bpub "$P" timeout -k 5 $((secs + 30)) "$bus" pub bench -i p0 \
      --count "$count" --rate "$rate" --size "$size" --stamp --linger-ms 1500 \
      --announce-ms 0 --sndbuf 4194304 --no-loop \
      ${MAX_RATE:+--max-rate "$MAX_RATE"} ${GSO:+--gso}
    cst_result bsub $((secs + 40)) >"$CST_WORK/bsub.res" || true
    cst_result bpub $((secs + 40)) >"$CST_WORK/bpub.res" || true
    r=$(grep '^{' "$CST_WORK/bsub.res" | tail -1)
    [[ -z ${BENCH_DEBUG:-} ]] || cat "$CST_WORK/bsub.res" "$CST_WORK/bpub.res" >&2
    got=$(field "$r" received)
    s=$(field "$r" seconds)
    pr=$(grep '^{' "$CST_WORK/bpub.res" | tail -1)
    k1=$(kdrops)
    row castor "$size" "$rate" \
      "$got" "$(awk -v n="$got" -v s="$s" 'BEGIN{print (s>0)?n/s:0}')" \
      "$(field "$r" p50_us)" "$(field "$r" p99_us)" "$(field "$r" gaps)" \
      $((k1 - k0)) \
      "$(per_msg_us "$(field "$pr" cpu_ms)" "$(field "$pr" messages)")" \
      "$(per_msg_us "$(field "$r" cpu_ms)" "$got")"
    k0=$k1
    fi
    if wants raw-udp; then
    # raw UDP multicast (castor-send / castor-recv, no repair)
    cst_start rrecv "$S" timeout -k 5 $((secs + 30)) "$recv" \
      -g 239.193.50.1:24800 -i e0 -c "$count" --idle 2000 -d $((secs + 20)) \
      --json --rcvbuf 4194304
    sleep 0.5
    cst_in "$P" timeout -k 5 $((secs + 30)) "$send" -g 239.193.50.1:24800 \
      -i p0 -r "$rate" -c "$count" -z "$size" --json >"$CST_WORK/rsend.res" \
      2>&1 || true
    cst_result rrecv $((secs + 40)) >"$CST_WORK/rrecv.res" || true
    t=$(tr -d '\n ' <"$CST_WORK/rrecv.res" | sed 's/.*"total"://')
    got=$(field "$t" received)
    s=$(field "$(cat "$CST_WORK/rsend.res")" seconds)
    k1=$(kdrops)
    row raw-udp "$size" \
      "$rate" "$got" \
      "$(awk -v n="${got:-0}" -v s="${s:-0}" 'BEGIN{print (s>0)?n/s:0}')" \
      "$(printf '%.0f' "$(field "$t" p50)")" \
      "$(printf '%.0f' "$(field "$t" p99)")" "$(field "$t" lost)" $((k1 - k0)) \
      - -
    k0=$k1
    fi
    # ZeroMQ epgm: from Python (zmq-epgm) and from C++ (zmq-epgm-c), the
    # same messages, pacing and settings.
    for z_name in zmq-epgm zmq-epgm-c; do
    wants "$z_name" || continue
    if [[ $z_name == zmq-epgm ]]; then
      zpeer=(/usr/bin/python3 "$here/zmq_epgm.py")
    else
      zpeer=("$zmq_c")
    fi
    cst_start zsub "$S" timeout -k 5 $((secs + 40)) "${zpeer[@]}" \
      sub 10.204.0.2 239.193.60.1:24900 "$count" $((secs + 20))
    cst_wait_for zsub subscribed 10
    cst_start zpub "$P" timeout -k 5 $((secs * 10 + 40)) "${zpeer[@]}" \
      pub 10.204.0.1 239.193.60.1:24900 "$count" "$rate" "$size"
    cst_result zsub $((secs * 10 + 60)) >"$CST_WORK/zsub.res" || true
    cst_result zpub $((secs * 10 + 60)) >"$CST_WORK/zpub.res" || true
    z=$(grep '^{' "$CST_WORK/zsub.res" | tail -1 | tr -d ' ')
    [[ -z ${BENCH_DEBUG:-} ]] || cat "$CST_WORK/zsub.res" "$CST_WORK/zpub.res" >&2
    got=$(field "$z" received)
    s=$(field "$z" seconds)
    k1=$(kdrops)
    row "$z_name" "$size" "$rate" \
      "$got" "$(awk -v n="${got:-0}" -v s="${s:-0}" 'BEGIN{print (s>0)?n/s:0}')" \
      "$(field "$z" p50_us)" "$(field "$z" p99_us)" "-" $((k1 - k0)) - -
    k0=$k1
    done
   done
  done
done
echo "uptime after: $(uptime)"
if ((loss > 0)); then
  # What the random-drop rule really took, by its own counter (the nominal
  # rate is not exact): every contender's datagrams, all runs together.
  echo "loss rule: dropped $(cst_in "$S" nft list chain ip benchloss in |
    sed -n 's/.*counter packets \([0-9]*\) bytes.*/\1/p') datagrams"
fi
if wants zmq-epgm || wants zmq-epgm-c; then
  echo "zmq settings: $(sed -n 's/.*"settings": \({[^}]*}\).*/\1/p' "$CST_WORK/zsub.res")"
fi
# The medians of the repeats, per contender and case (for an even count,
# the lower middle).
echo "medians of ${REPEAT:-3}:"
printf '%-8s %5s %8s | %9s %9s %7s %7s %5s %6s %6s %6s\n' contender size \
  rate received msgs/s p50_us p99_us gaps kdrop pub_us sub_us
awk '{ k = $1 " " $2 " " $3; if (!(k in n)) order[++m] = k
       n[k]++; for (c = 5; c <= 12; c++) v[k, c, n[k]] = $c }
     END { for (i = 1; i <= m; i++) { k = order[i]; split(k, f, " ")
       line = sprintf("%-8s %5s %8s |", f[1], f[2], f[3])
       for (c = 5; c <= 12; c++) {
         cnt = n[k]; for (j = 1; j <= cnt; j++) a[j] = v[k, c, j]
         for (x = 1; x <= cnt; x++) for (y = x + 1; y <= cnt; y++)
           if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
         w = (c <= 6) ? 9 : (c >= 10 ? 6 : (c == 9 ? 5 : 7))
         line = line sprintf(" %" w "s", a[int((cnt + 1) / 2)]) }
       print line } }' "$rows"
