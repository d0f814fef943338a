#!/usr/bin/env bash
# bench/sites/reconnect.sh: how soon traffic resumes across sites once a
# broken path returns (issue 17: "A link that breaks (interface down, the
# peer's process killed) ... reconnects within 2 s of the path returning,
# and traffic resumes with no operator action").
#
# On the two-site topology of run.sh, host 1 sends 239.66.3.1:5001 at RATE
# for the whole run, site 1 exports it to site 2, site 2 emits it on its
# LAN, where arrivals.py stamps every datagram (kernel receive stamps).
# Each outage of OUTAGES seconds, REPS times, for each scenario:
#   here   site-1's WAN veth down, then up; its route to site 2 (gone with
#          the link) added again: the path returns then
#   there  site-2's WAN veth down, then up (site-1 keeps its route: for
#          site-1 the path is a black hole meanwhile); site-2's route added
#          again: the path returns then
#   kill   site-2's relay killed (SIGKILL), started again after the outage:
#          the path returns when it is started ("kill"), or, tighter, when
#          its node listens (its log's timestamp, "kill-listen")
#   dark   site-2's relay killed, and every IPv4 packet that reaches it
#          over the WAN dropped (nftables on its WAN link: a firewall or a
#          broken router, no reset, no unreachable; ARP still answers);
#          site-2 started again behind it at once; the drop rule removed
#          after the outage: the path returns then. site-1 keeps trying to
#          connect meanwhile, into the black hole.
# Reported per scenario and outage: the median and max time from the
# path's return to the first datagram on site-2's LAN.
#
# usage: reconnect.sh [--smoke] TOOLS_DIR CASTOR_RELAY CASTORCTL
#   env: REPS (3), OUTAGES ("3 10"), RATE (5000), SCENARIOS ("here there
#        kill dark")
# --smoke: one 2 s outage of each kind; asserts only that the flow resumed
# after each. Needs root (exit 77 otherwise) and python3.
set -euo pipefail
smoke=0
if [[ ${1:-} == --smoke ]]; then
  smoke=1
  shift
fi
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$here/../../tests/integration/relay/lib.sh"
# shellcheck source=../../tests/integration/relay/sites_lib.sh
source "$here/../../tests/integration/relay/sites_lib.sh"
CST_NAME=bench-sites-reconnect
usage="usage: reconnect.sh [--smoke] TOOLS_DIR CASTOR_RELAY CASTORCTL"
cst_init bsr "${1:?$usage}"
cst_require_relay "${2:?$usage}" "${3:?$usage}"
cst_need openssl python3 nft

REPS=${REPS:-3}
OUTAGES=${OUTAGES:-3 10}
RATE=${RATE:-5000}
((smoke)) && REPS=1 OUTAGES=2
read -r -a scenarios <<<"${SCENARIOS:-here there kill dark}"
echo "load before: $(uptime)"

sites_init 2
cst_on_exit sites_log_tails
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.66.3.1 5001 2
sites_config 2 1
sites_import 2 feed-in 1 239.66.3.1 5001
sites_start 1
sites_start 2
sites_wait_interest 1 2 1 10 || exit 1

events=$CST_WORK/events
: >"$events"
stamp() { echo "$1 $2 $(date +%s%N)" >>"$events"; }
cst_start arrivals "${HOST_NS[2]}" python3 "$here/arrivals.py" \
  --group 239.66.3.1:5001 --listen-if 10.62.2.2 --events "$events"
cst_wait_for arrivals "arrivals: ready" 10
total=0
for d in $OUTAGES; do total=$((total + (d + 6) * REPS * ${#scenarios[@]})); done
cst_start sender "${HOST_NS[1]}" "$CST_SEND" --interface h0 \
  --group 239.66.3.1:5001 --rate "$RATE" --duration $((total + 30)) --size 64
sleep 2 # the flow runs before the first outage

# listen_ns: when site-2's node last started listening (its log's stamp).
listen_ns() {
  grep "node site-2: listening on" "$CST_WORK/relay2.out" | tail -n1 |
    sed 's/^\[\([^]]*\)\].*/\1/' | python3 -c '
import datetime, sys
t = datetime.datetime.strptime(sys.stdin.read().strip(), "%Y-%m-%d %H:%M:%S.%f")
print(int(t.timestamp() * 1e9))'
}

trial() {
  local kind=$1 d=$2 label=$3
  case $kind in
  here)
    stamp "$label" cut
    ip -n "${SITE_NS[1]}" link set w2 down
    sleep "$d"
    ip -n "${SITE_NS[1]}" link set w2 up
    cst_wait_link "${SITE_NS[1]}" w2
    sites_route 1 2 10.63.1.2 2>/dev/null || true
    stamp "$label" back
    ;;
  there)
    stamp "$label" cut
    ip -n "${SITE_NS[2]}" link set w1 down
    sleep "$d"
    ip -n "${SITE_NS[2]}" link set w1 up
    cst_wait_link "${SITE_NS[2]}" w1
    sites_route 2 1 10.63.1.1 2>/dev/null || true
    stamp "$label" back
    ;;
  kill)
    stamp "$label" cut
    stamp "$label-listen" cut
    kill -KILL "$(cst_pid relay2)"
    cst_wait_pid "$(cst_pid relay2)" 5 || true
    sleep "$d"
    stamp "$label" back
    sites_start 2
    cst_until 10 grep -q "node site-2: listening on" "$CST_WORK/relay2.out" ||
      true
    echo "$label-listen back $(listen_ns)" >>"$events"
    ;;
  dark)
    stamp "$label" cut
    kill -KILL "$(cst_pid relay2)"
    cst_in "${SITE_NS[2]}" nft -f - <<'NFT'
table ip dark {
  chain in {
    type filter hook input priority -10; policy accept;
    iifname "w1" drop
  }
}
NFT
    cst_wait_pid "$(cst_pid relay2)" 5 || true
    sites_start 2
    sleep "$d"
    cst_in "${SITE_NS[2]}" nft delete table ip dark
    stamp "$label" back
    ;;
  esac
  # Settled before the next trial: site-1 sees site-2 wanting the group,
  # and the flow runs for a while.
  sites_wait_interest 1 2 1 15 || true
  sleep 2
}

for d in $OUTAGES; do
  for ((rep = 1; rep <= REPS; rep++)); do
    for kind in "${scenarios[@]}"; do
      echo "trial: $kind, ${d} s outage, run $rep"
      trial "$kind" "$d" "$kind-$d-$rep"
    done
  done
done
cst_stop sender 5 || true
cst_stop arrivals 10 || true
out=$(cst_out arrivals)
echo "$out" | grep -v '^arrivals: ready'

echo "load after: $(uptime)"
echo
echo "from the path's return to the first datagram on site-2's LAN, ms"
echo "(median and max of $REPS; RATE $RATE pps)"
echo
printf '| %-12s | %7s | %10s | %10s | %11s |\n' scenario outage "resume p50" \
  "resume max" "outage p50"
printf '| %-12s | %7s | %10s | %10s | %11s |\n' --- --- --- --- ---
failed=0
for kind in "${scenarios[@]}" $([[ " ${scenarios[*]} " == *" kill "* ]] && echo kill-listen); do
  for d in $OUTAGES; do
    if [[ $kind == kill-listen ]]; then
      rows=$(grep -E "^event kill-$d-[0-9]+-listen " <<<"$out" || true)
    else
      rows=$(grep -E "^event $kind-$d-[0-9]+ " <<<"$out" || true)
    fi
    if [[ -z $rows ]] || grep -q 'resume_ms=none' <<<"$rows"; then
      failed=1
    fi
    python3 -c '
import statistics, sys
kind, d, rows = sys.argv[1], sys.argv[2], sys.argv[3].splitlines()
def col(name):
    return [float(f.split("=")[1]) for r in rows for f in r.split()
            if f.startswith(name + "=") and f.split("=")[1] != "none"]
res, out = col("resume_ms"), col("outage_ms")
fmt = lambda xs, f: ("%.0f" % f(xs)) if xs else "-"
print("| %-12s | %5s s | %10s | %10s | %11s |" % (kind, d,
      fmt(res, statistics.median), fmt(res, max), fmt(out, statistics.median)))
' "$kind" "$d" "$rows"
  done
done
echo
echo "site-1's view of site-2: $(sites_ctl 1 peers | head -n1)"
if ((smoke)); then
  cst_check "the flow resumed after every outage" test "$failed" -eq 0
  cst_finish
fi
exit "$failed"
