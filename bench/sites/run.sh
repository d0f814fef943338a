#!/usr/bin/env bash
# bench/sites: multicast across two sites (issue 17), castor-relay against
# a socat pipeline, side by side in one run on the topology of
# tests/integration/relay/sites_lib.sh (two sites, a unicast-only WAN veth):
#
#   host 1 --mcast--> site 1 ==unicast==> site 2 --mcast--> host 2
#
# Contenders:
#   castor  castor-relay on both sites, mutual TLS node link, HMAC'd
#           batched UDP frames (docs/sites.md)
#   socat   multicast -> UDP unicast -> multicast, one socat per site
#           (socat over TCP would merge datagrams); rcvbuf 4 MiB
#   direct  no relay: the receiver on site 1's LAN itself (one veth hop),
#           the baseline of the latency a cross-site path adds
# Measured at fixed rates (64 B, TRIAL seconds each, REPS times each):
# the median loss and median p50 latency; reported: the highest rate whose
# median loss is < 0.1 % for each contender, the ratio castor / socat, and
# the p50 castor adds over direct at each rate. The load average is printed
# before and after: numbers of a loaded machine are orders of magnitude.
#
# usage: run.sh [--smoke] TOOLS_DIR CASTOR_RELAY CASTORCTL
#   env: RATES ("10000 25000 50000 100000 150000 200000"), TRIAL (1), SIZE (64),
#        REPS (3)
#   --smoke: one low rate, once; asserts only that both contenders forwarded.
set -euo pipefail
smoke=0
if [[ ${1:-} == --smoke ]]; then
  smoke=1
  shift
fi
here=$(dirname "$0")
# shellcheck source=../../tests/integration/relay/lib.sh
source "$here/../../tests/integration/relay/lib.sh"
# shellcheck source=../../tests/integration/relay/sites_lib.sh
source "$here/../../tests/integration/relay/sites_lib.sh"
CST_NAME=bench-sites
cst_init bsi "$1"
cst_require_relay "$2" "$3"
cst_need openssl python3
RATES=${RATES:-10000 25000 50000 100000 150000 200000}
TRIAL=${TRIAL:-1}
SIZE=${SIZE:-64}
REPS=${REPS:-3}
((smoke)) && RATES=2000 REPS=1
echo "load before: $(uptime)"

sites_init 2
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.66.1.1 5001 2
sites_config 2 1
sites_import 2 feed-in 1 239.66.1.1 5001

# trial NAME RATE [direct]: one receiver on host 2 (direct: on site 1's
# LAN, in the relay's namespace), one sender on host 1; prints
# "loss_percent p50_us received".
trial() {
  local name=$1 rate=$2 count summary
  count=$((rate * TRIAL))
  if [[ ${3:-} == direct ]]; then
    cst_start "$name" "${SITE_NS[1]}" "$CST_RECV" --interface lan0 \
      --group 239.66.1.1:5001 --rcvbuf 8388608 --duration $((TRIAL + 5)) \
      --idle 1000 --expect-count "$count"
    cst_wait_for "$name" "castor-recv: ready" 10
  else
    sites_recv "$name" 2 --group 239.66.1.1:5001 --rcvbuf 8388608 \
      --duration $((TRIAL + 5)) --idle 1000 --expect-count "$count" >/dev/null
  fi
  sites_send 1 --group 239.66.1.1:5001 --count "$count" --rate "$rate" \
    --size "$SIZE" || true
  summary=$(cst_recv_result "$name" $((TRIAL + 10)) | grep '^summary ' || true)
  python3 -c '
import sys
rec, lost, p50 = int(sys.argv[1] or 0), int(sys.argv[2] or 0), sys.argv[3]
total = rec + lost
print("%.2f %s %d" % (100.0 * lost / total if total else 100.0, p50 or "-", rec))' \
    "$(cst_field received "$summary")" "$(cst_field lost "$summary")" \
    "$(cst_field p50_us "$summary")"
}

# median_row ROW...: the median of each column of "loss p50 received" rows.
median_row() {
  python3 -c '
import statistics, sys
rows = [r.split() for r in sys.argv[1:]]
def med(i, fmt):
    xs = [float(r[i]) for r in rows if r[i] != "-"]
    return fmt % statistics.median(xs) if xs else "-"
print(med(0, "%.2f"), med(1, "%.0f"), med(2, "%.0f"))' "$@"
}

declare -A best=() rows=()
run_contender() {
  local who=$1 rate out loss rep runs
  best[$who]=0
  for rate in $RATES; do
    runs=()
    for ((rep = 1; rep <= REPS; rep++)); do
      runs+=("$(trial "$who-$rate-$rep" "$rate" "${2:-}")")
    done
    out=$(median_row "${runs[@]}")
    rows[$who-$rate]=$out
    read -r loss _ _ <<<"$out"
    if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.1 else 1)' "$loss"; then
      best[$who]=$rate
    fi
  done
}

# -- direct: no relay, the baseline latency ------------------------------------------
run_contender direct direct

# -- castor-relay -----------------------------------------------------------------
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 10
run_contender castor
cst_stop relay1 || true
cst_stop relay2 || true

# -- socat: multicast -> UDP unicast -> multicast ------------------------------
cst_need socat
cst_start socat1 "${SITE_NS[1]}" socat -u \
  "UDP4-RECV:5001,bind=239.66.1.1,ip-add-membership=239.66.1.1:lan0,reuseaddr,rcvbuf=4194304" \
  "UDP4-SENDTO:10.64.0.2:6001,bind=10.64.0.1"
cst_start socat2 "${SITE_NS[2]}" socat -u \
  "UDP4-RECV:6001,bind=10.64.0.2,rcvbuf=4194304" \
  "UDP4-SENDTO:239.66.1.1:5001,ip-multicast-if=10.62.2.1,ip-multicast-ttl=1"
sleep 0.5
run_contender socat

echo "load after: $(uptime)"
echo "medians of $REPS runs of ${TRIAL} s each, ${SIZE} B"
printf '%-8s %10s %10s %10s %10s\n' contender rate loss_% p50_us received
for who in direct castor socat; do
  for rate in $RATES; do
    read -r loss p50 rec <<<"${rows[$who-$rate]}"
    printf '%-8s %10s %10s %10s %10s\n' "$who" "$rate" "$loss" "$p50" "$rec"
  done
done
echo "max lossless rate (< 0.1 % loss, ${SIZE} B): castor ${best[castor]}" \
  "socat ${best[socat]}"
if ((best[socat] > 0)); then
  python3 -c 'import sys; print("ratio castor/socat: %.1fx" % (int(sys.argv[1]) / int(sys.argv[2])))' \
    "${best[castor]}" "${best[socat]}"
fi
for rate in $RATES; do
  read -r _ p50c _ <<<"${rows[castor-$rate]}"
  read -r _ p50d _ <<<"${rows[direct-$rate]}"
  if [[ $p50c != - && $p50d != - ]]; then
    echo "p50 added by the cross-site path at $rate pps: $((p50c - p50d)) us"
  fi
done
if ((smoke)); then
  for who in castor socat; do
    read -r _ _ rec <<<"${rows[$who-2000]}"
    cst_check "$who forwarded traffic across the sites" test "$rec" -gt 0
  done
  cst_finish
fi
