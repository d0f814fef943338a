#!/usr/bin/env bash
# bench/bus/lossless.sh: each contender's lossless throughput, the figure
# issue 18's first target is stated in ("at least 5x ZeroMQ epgm's lossless
# throughput"). run.sh offers a fixed grid (100k, 500k, 1M msgs/s); a
# contender that delivers everything at the grid's top, or loses messages
# between two of its rates, has its lossless rate hidden by the grid.
#
# For each size, each contender climbs a ladder of offered rates; at each
# step it runs REPEAT times (run.sh, one case at a time, the contenders
# interleaved step by step). A step is lossless when every run delivered
# every message offered (received = rate x SECONDS) with no gap notice; the
# contender's lossless throughput is the highest median msgs/s (received /
# the subscriber's seconds) of its lossless steps, and it stops climbing at
# its first step with loss. A publisher that cannot keep up with the offer
# (pyzmq's, castor's under flow control) delivers everything at a lower
# rate: that is still lossless, at the rate it reached.
#
#   [SIZES="32 288 1344"] [REPEAT=3]
#   [CONTENDERS="castor zmq-epgm zmq-epgm-c"]
#   [GSO=1] [GRO=1] [LADDER_32=...] [LADDER_288=...] [LADDER_1344=...]
#     lossless.sh BUILD_DIR [SECONDS]
#
# GSO=1 (the default here) gives castor's publisher --gso, its fastest
# setting on this path (the veth segments, as a NIC would); GSO= turns it
# off. GRO=1 (the default here) gives its subscriber --gro, which reads a
# --gso run whole; GRO= turns it off. ZeroMQ runs with run.sh's settings
# (printed), from Python (zmq-epgm) and, when bench/bus/zmq_epgm_peer is
# built (libzmq3-dev), from C++ (zmq-epgm-c); castor's ratio is given
# against each. A step with loss names, per run short of it, the messages
# received of those offered and the unrecoverable gaps.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: lossless.sh BUILD_DIR [SECONDS]}
secs=${2:-2}
export GSO=${GSO-1} GRO=${GRO-1} REPEAT=${REPEAT:-3}
[[ -n $GSO ]] || unset GSO
[[ -n $GRO ]] || unset GRO

ladder() {
  case $1 in
  32) echo "${LADDER_32:-500000 1000000 2000000 3000000 4000000 6000000 8000000 10000000 11000000 12000000 14000000}" ;;
  288) echo "${LADDER_288:-100000 200000 300000 500000 800000 1200000 1600000 2000000 2500000}" ;;
  1344) echo "${LADDER_1344:-25000 50000 75000 100000 200000 300000 400000 600000}" ;;
  *) echo "${LADDER:?no ladder for size $1: set LADDER}" ;;
  esac
}

contenders=${CONTENDERS:-castor zmq-epgm}
[[ -n ${CONTENDERS:-} || ! -x $build/bench/bus/zmq_epgm_peer ]] ||
  contenders+=" zmq-epgm-c"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "uptime before: $(uptime)"
printf '%-8s %5s %8s | %-8s %9s %s\n' contender size offered step msgs/s runs
declare -A best
for size in ${SIZES:-32 288 1344}; do
  declare -A going=()
  for c in $contenders; do going[$c]=1; done
  for rate in $(ladder "$size"); do
    for c in $contenders; do
      ((${going[$c]:-0})) || continue
      CONTENDERS=$c SIZES=$size RATES=$rate "$here/run.sh" "$build" "$secs" \
        >"$out/run" 2>&1 || true
      grep -m1 '^zmq settings' "$out/run" >>"$out/zmq" 2>/dev/null || true
      # run.sh's rows: contender size rate | received msgs/s p50 p99 gaps ...
      rows=$(awk -v c="$c" '$1 == c && $4 == "|"' "$out/run" | head -n "$REPEAT")
      want=$((rate * secs))
      verdict=lossless
      rates=()
      short=()
      while read -r _ _ _ _ got mps _ _ gaps _; do
        rates+=("$mps")
        if [[ $got != "$want" || ($gaps != 0 && $gaps != -) ]]; then
          verdict=loss
          # What the run missed: messages received of those offered, and
          # unrecoverable gaps.
          short+=("$got/$want,gaps=$gaps")
        fi
      done <<<"$rows"
      ((${#rates[@]} == REPEAT)) || verdict=failed
      median=$(printf '%s\n' "${rates[@]}" | sort -n |
        awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }')
      printf '%-8s %5s %8s | %-8s %9.0f %s%s\n' "$c" "$size" "$rate" \
        "$verdict" "$median" "$(echo "${rates[*]}" | tr ' ' ',')" \
        "${short[*]:+ (short: ${short[*]})}"
      if [[ $verdict == lossless ]]; then
        key="$c $size"
        awk -v m="$median" -v b="${best[$key]:-0}" 'BEGIN { exit !(m > b) }' &&
          best[$key]=$median
      else
        going[$c]=0
        [[ $verdict == failed ]] && sed -n '1,20p' "$out/run" >&2
      fi
    done
  done
  unset going
done
echo "uptime after: $(uptime)"
head -n1 "$out/zmq" 2>/dev/null || true
echo "lossless throughput (msgs/s, median of $REPEAT at the best lossless step):"
for size in ${SIZES:-32 288 1344}; do
  line=$(printf '%5s B:' "$size")
  for c in $contenders; do
    line+=$(printf ' %s %.0f' "$c" "${best["$c $size"]:-0}")
  done
  k=${best["castor $size"]:-0}
  for zc in zmq-epgm zmq-epgm-c; do
    z=${best["$zc $size"]:-0}
    if [[ $z != 0 && $k != 0 ]]; then
      line+=$(awk -v k="$k" -v z="$z" -v n="$zc" \
        'BEGIN { printf "  castor/%s %.1fx", n, k / z }')
    fi
  done
  echo "$line"
done
