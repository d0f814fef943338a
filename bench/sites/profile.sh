#!/usr/bin/env bash
# bench/sites/profile.sh: where the two relays of a cross-site path spend
# their time under one fixed-rate stream (run.sh gives the side-by-side
# table; this gives the why).
#
# On run.sh's two-site topology, host 1 sends RATE pps of SIZE bytes for
# SECONDS_; reported: the CPU time each relay spent per datagram (all its
# threads, from /proc/PID/stat: the sending site and the receiving site
# apart), the receiver's loss and p50, and with PERF_RECORD=1 a call-graph
# profile of both relays (perf record -e cpu-clock -g: this VM has no
# hardware counters), its report in OUT_DIR/report-siteK.txt.
#
# usage: profile.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
#   env: RATE (50000), SIZE (1400), SECONDS_ (5; max 60), PERF_RECORD (0),
#        OUT_DIR (/tmp/castor-sites-profile)
# Needs root (exit 77 otherwise).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$here/../../tests/integration/relay/lib.sh"
# shellcheck source=../../tests/integration/relay/sites_lib.sh
source "$here/../../tests/integration/relay/sites_lib.sh"
CST_NAME=bench-sites-profile
usage="usage: profile.sh TOOLS_DIR CASTOR_RELAY CASTORCTL"
cst_init bsp "${1:?$usage}"
cst_require_relay "${2:?$usage}" "${3:?$usage}"
cst_need openssl python3
RATE=${RATE:-50000}
SIZE=${SIZE:-1400}
SECONDS_=${SECONDS_:-5}
((SECONDS_ <= 60)) || SECONDS_=60
OUT_DIR=${OUT_DIR:-/tmp/castor-sites-profile}
mkdir -p "$OUT_DIR"
echo "load before: $(uptime)"

sites_init 2
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.66.4.1 5001 2
sites_config 2 1
sites_import 2 feed-in 1 239.66.4.1 5001
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 10 || exit 1

# cpu_ticks PID: user + system clock ticks of all its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
p1=$(cst_pid relay1)
p2=$(cst_pid relay2)
count=$((RATE * SECONDS_))
sites_recv recv 2 --group 239.66.4.1:5001 --rcvbuf 8388608 \
  --duration $((SECONDS_ + 5)) --idle 1000 --expect-count "$count" >/dev/null
c1=$(cpu_ticks "$p1")
c2=$(cpu_ticks "$p2")
if [[ ${PERF_RECORD:-0} == 1 ]]; then
  for k in 1 2; do
    pid=$(cst_pid "relay$k")
    cst_start "perf$k" "${SITE_NS[$k]}" perf record -e cpu-clock -g \
      -o "$OUT_DIR/perf-site$k.data" -p "$pid" -- sleep "$SECONDS_"
  done
fi
sites_send 1 --group 239.66.4.1:5001 --count "$count" --rate "$RATE" \
  --size "$SIZE" || true
d1=$(($(cpu_ticks "$p1") - c1))
d2=$(($(cpu_ticks "$p2") - c2))
summary=$(cst_recv_result recv $((SECONDS_ + 10)) | grep '^summary ' || true)
if [[ ${PERF_RECORD:-0} == 1 ]]; then
  for k in 1 2; do
    cst_wait_pid "$(cst_pid "perf$k")" 30 || true
    perf report -i "$OUT_DIR/perf-site$k.data" --stdio --no-children \
      --percent-limit 1 >"$OUT_DIR/report-site$k.txt" 2>/dev/null || true
  done
fi
hz=$(getconf CLK_TCK)
echo "load after: $(uptime)"
echo "$SIZE B at $RATE pps for $SECONDS_ s ($count datagrams): $summary"
python3 -c '
import sys
d1, d2, hz, n = (int(x) for x in sys.argv[1:5])
for name, d in (("site 1 (sends to the WAN)", d1), ("site 2 (emits)", d2)):
    print("%s: %.2f s CPU, %.2f us per datagram" % (name, d / hz, 1e6 * d / hz / n))
' "$d1" "$d2" "$hz" "$count"
[[ ${PERF_RECORD:-0} == 1 ]] && echo "profiles: $OUT_DIR/report-site{1,2}.txt"
exit 0
