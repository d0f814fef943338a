#!/usr/bin/env bash
# bench/bus: castor::bus against raw UDP multicast and ZeroMQ PUB/SUB over
# epgm, by Aeron's method: 32, 288 and 1344 B messages at 100k, 500k and 1M
# messages/s, one publisher and one subscriber in two network namespaces
# joined by a veth pair (created here, always removed). Reports, per case,
# what the subscriber received, its throughput and latency percentiles
# (send time in the message; CLOCK_MONOTONIC is the same in both
# namespaces), and any unrecoverable gap.
#
#   [SIZES="32 288"] [RATES="100000"] run.sh BUILD_DIR [SECONDS] [LOSS_PERCENT]
#
# SECONDS (default 2) is the length of each case; LOSS_PERCENT (default 0)
# adds an nftables random drop on the subscriber's input for every
# contender. The three contenders run one after another, never together.
# Python's pyzmq caps the ZeroMQ side well below 1M/s: its figures are what
# ZeroMQ reaches when driven from Python, and are marked so.
#
# On a shared 2-core machine the figures are noisy; compare contenders of
# one run only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../tests/integration/netns.sh
source "$here/../../tests/integration/netns.sh"

build=${1:?usage: run.sh BUILD_DIR [SECONDS] [LOSS_PERCENT]}
secs=${2:-2}
loss=${3:-0}
bus=$build/apps/bus/castor-bus
send=$build/apps/tools/castor-send
recv=$build/apps/tools/castor-recv
CST_NAME=bench_bus
cst_setup bbus
P=${CST_PREFIX}p
S=${CST_PREFIX}s
cst_add_ns "$P" "$S"
cst_veth "$P" p0 "$S" e0 10.204.0.1/24 10.204.0.2/24
cst_wait_link "$P" p0
cst_wait_link "$S" e0
cst_mroute "$P" p0
cst_mroute "$S" e0
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

printf '%-8s %5s %8s | %9s %9s %7s %7s %5s\n' contender size rate \
  received msgs/s p50_us p99_us gaps
for size in ${SIZES:-32 288 1344}; do
  for rate in ${RATES:-100000 500000 1000000}; do
    count=$((rate * secs))
    # castor::bus
    cst_start bsub "$S" timeout -k 5 $((secs + 30)) "$bus" sub bench -i e0 \
      --quiet --latency --count "$count" --idle 2 --timeout $((secs + 20)) \
      --announce-ms 0 --credit 8192
    cst_wait_for bsub subscribed 10
    cst_start bpub "$P" timeout -k 5 $((secs + 30)) "$bus" pub bench -i p0 \
      --count "$count" --rate "$rate" --size "$size" --stamp --linger-ms 1500 \
      --announce-ms 0
    cst_result bsub $((secs + 40)) >"$CST_WORK/bsub.res" || true
    cst_result bpub $((secs + 40)) >"$CST_WORK/bpub.res" || true
    r=$(grep '^{' "$CST_WORK/bsub.res" | tail -1)
    [[ -z ${BENCH_DEBUG:-} ]] || cat "$CST_WORK/bsub.res" "$CST_WORK/bpub.res" >&2
    got=$(field "$r" received)
    s=$(field "$r" seconds)
    printf '%-8s %5s %8s | %9s %9.0f %7s %7s %5s\n' castor "$size" "$rate" \
      "$got" "$(awk -v n="$got" -v s="$s" 'BEGIN{print (s>0)?n/s:0}')" \
      "$(field "$r" p50_us)" "$(field "$r" p99_us)" "$(field "$r" gaps)"
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
    printf '%-8s %5s %8s | %9s %9.0f %7.0f %7.0f %5s\n' raw-udp "$size" \
      "$rate" "$got" \
      "$(awk -v n="${got:-0}" -v s="${s:-0}" 'BEGIN{print (s>0)?n/s:0}')" \
      "$(field "$t" p50)" "$(field "$t" p99)" "$(field "$t" lost)"
    # ZeroMQ epgm (from Python)
    cst_start zsub "$S" timeout -k 5 $((secs + 40)) /usr/bin/python3 \
      "$here/zmq_epgm.py" sub 10.204.0.2 239.193.60.1:24900 "$count" \
      $((secs + 20))
    cst_wait_for zsub subscribed 10
    cst_start zpub "$P" timeout -k 5 $((secs * 10 + 40)) /usr/bin/python3 \
      "$here/zmq_epgm.py" pub 10.204.0.1 239.193.60.1:24900 "$count" "$rate" \
      "$size"
    cst_result zsub $((secs * 10 + 60)) >"$CST_WORK/zsub.res" || true
    cst_result zpub $((secs * 10 + 60)) >"$CST_WORK/zpub.res" || true
    z=$(grep '^{' "$CST_WORK/zsub.res" | tail -1 | tr -d ' ')
    [[ -z ${BENCH_DEBUG:-} ]] || cat "$CST_WORK/zsub.res" "$CST_WORK/zpub.res" >&2
    got=$(field "$z" received)
    s=$(field "$z" seconds)
    printf '%-8s %5s %8s | %9s %9.0f %7s %7s %5s\n' zmq-epgm "$size" "$rate" \
      "$got" "$(awk -v n="${got:-0}" -v s="${s:-0}" 'BEGIN{print (s>0)?n/s:0}')" \
      "$(field "$z" p50_us)" "$(field "$z" p99_us)" "-"
  done
done
echo "zmq settings: $(sed -n 's/.*"settings": \({[^}]*}\).*/\1/p' "$CST_WORK/zsub.res")"
