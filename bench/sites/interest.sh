#!/usr/bin/env bash
# bench/sites/interest.sh: how long site-b's change of interest takes to
# start or stop a flow across sites (issue 17: "Adding or removing the rule
# on site-b starts or stops the flow within 100 ms, with no change on
# site-a").
#
# On the two-site topology of run.sh (tests/integration/relay/sites_lib.sh),
# site 1 exports 239.66.2.1:5001 to site 2 while host 1 sends it at RATE.
# interest.py, in host 2's namespace, then ROUNDS times per PATH: adds the
# import rule to site-2's config and has site-2 re-read it, timing the
# first datagram on site-2's LAN; removes it again, timing the last. Site 1
# is not touched. PATHS: "reload" (castorctl reload, timed from its answer)
# and "sighup" (SIGHUP, timed from the signal). Rules that cross sites are
# config rules: castorctl add takes interface inputs only (docs/sites.md).
# At RATE 10 kpps a datagram comes every 0.1 ms: the resolution.
# After the rounds, site-1's counters show that it sent nothing while
# site-2 did not take the group.
#
# usage: interest.sh [--smoke] TOOLS_DIR CASTOR_RELAY CASTORCTL
#   env: ROUNDS (20), RATE (10000), PATHS ("reload sighup")
# --smoke: 3 rounds per path; asserts only that every round saw its flow
# start and stop. Needs root (exit 77 otherwise) and python3.
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
CST_NAME=bench-sites-interest
usage="usage: interest.sh [--smoke] TOOLS_DIR CASTOR_RELAY CASTORCTL"
cst_init bsn "${1:?$usage}"
cst_require_relay "${2:?$usage}" "${3:?$usage}"
cst_need openssl python3

rounds=${ROUNDS:-20}
rate=${RATE:-10000}
read -r -a paths <<<"${PATHS:-reload sighup}"
((smoke)) && rounds=3
echo "bench_sites_interest: $rounds rounds per path, traffic at $rate pps;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"

sites_init 2
cst_on_exit sites_log_tails
sites_link 1 2
sites_config 1 2
sites_export 1 feed 239.66.2.1 5001 2
sites_config 2 1
without=$CST_WORK/site-2.without
with=$CST_WORK/site-2.with
cp "$CST_WORK/site-2.toml" "$without"
sites_import 2 feed-in 1 239.66.2.1 5001
cp "$CST_WORK/site-2.toml" "$with"
cp "$without" "$CST_WORK/site-2.toml"
sites_start 1
sites_start 2
sites_wait_interest 1 2 0 10 || exit 1

# The flow, for longer than the rounds take (each about 1 s).
duration=$((${#paths[@]} * rounds * 2 + 30))
cst_start sender "${HOST_NS[1]}" "$CST_SEND" --interface h0 \
  --group 239.66.2.1:5001 --rate "$rate" --duration "$duration" --size 64

declare -A summary=()
failed=0
for path in "${paths[@]}"; do
  out=$(ip netns exec "${HOST_NS[2]}" python3 "$here/interest.py" \
          --ctl "$CST_CTL" --socket "$CST_WORK/site-2.sock" \
          --config "$CST_WORK/site-2.toml" --with-rule "$with" \
          --without-rule "$without" --pid "$(cst_pid relay2)" --path "$path" \
          --rounds "$rounds" --group 239.66.2.1:5001 \
          --listen-if 10.62.2.2) || failed=1
  [[ -z ${VERBOSE:-} ]] || echo "$out" >&2
  summary[$path]=$(grep '^summary ' <<<"$out" || echo "summary none")
  grep -q ' missed=0$' <<<"${summary[$path]}" || failed=1
done

# Interest is off now: site-1 sends site-2 nothing more, though the flow
# goes on on its LAN.
sleep 0.5
tx0=$(sites_peer_field 1 2 tx_datagrams)
sleep 1
tx1=$(sites_peer_field 1 2 tx_datagrams)
cst_stop sender 5 || true

row() { printf '| %-7s | %9s | %9s | %12s | %12s | %6s |\n' "$@"; }
echo
echo "interest change on site-2 to its LAN, ms (median and max of $rounds"
echo "rounds; from castorctl's answer, or from the signal)"
echo
row path "add p50" "add max" "remove p50" "remove max" missed
row --- --- --- --- --- ---
for path in "${paths[@]}"; do
  s=${summary[$path]}
  row "$path" "$(cst_field add_p50_ms "$s")" "$(cst_field add_max_ms "$s")" \
    "$(cst_field remove_p50_ms "$s")" "$(cst_field remove_max_ms "$s")" \
    "$(cst_field missed "$s")"
done
echo
echo "site-1's datagrams to site-2 in the last second, interest off: $((tx1 - tx0))"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((failed)); then
  echo "bench_sites_interest: a round saw no flow start or stop" >&2
  exit 1
fi
if ((smoke)); then
  cst_expect "site-1 sends nothing once site-2's interest is off" 0 \
    "$((tx1 - tx0))"
  cst_finish
fi
