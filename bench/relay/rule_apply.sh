#!/usr/bin/env bash
# bench/relay/rule_apply.sh: how long a rule change takes to reach the
# data path (issue 16: "applies every rule change from the rule store
# within 10 ms").
#
# On the bench's chain (sender -> relay -> one receiver), castor-relay runs
# with one static rule (so that in0's datapath actor exists, under
# datapath = "kernel") while castor-send sends 239.59.1.2:5002 at RATE.
# rule_apply.py, in the receiver's namespace, then ROUNDS times:
#   castorctl add   a rule in0:239.59.1.2:5002 -> out1:239.69.1.2:6002, and
#                   times the first datagram on the output from the add's
#                   answer (and from its start: castorctl's own start in);
#   castorctl remove it, and times the last datagram from the answer.
# At RATE 10 kpps a datagram comes every 0.1 ms: the resolution. One
# clock (CLOCK_MONOTONIC) for every namespace. Each data path in DATAPATHS
# in turn, side by side.
#
# usage: rule_apply.sh [--smoke] TOOLS_DIR CASTOR_RELAY [CASTORCTL]
#   env: ROUNDS (20), RATE (10000), DATAPATHS ("kernel packet"; "kernel-cold":
#        the kernel path with no other kernel rule on in0, so that every add
#        starts kdp-in0, which loads and attaches the program, and every
#        remove stops it, which detaches it)
# --smoke: 3 rounds per data path; asserts only that every round saw its
# traffic start and stop. Needs root (exit 77 otherwise) and python3.
set -euo pipefail

smoke=0
if [[ ${1:-} == --smoke ]]; then
  smoke=1
  shift
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$root/tests/integration/relay/lib.sh"
CST_NAME=bench_rule_apply
usage="usage: rule_apply.sh [--smoke] TOOLS_DIR CASTOR_RELAY [CASTORCTL]"
tools=${1:?$usage}
relay_bin=${2:?$usage}
ctl_bin=${3:-$(dirname "$relay_bin")/castorctl}
cst_init bra "$tools"
cst_require_relay "$relay_bin" "$ctl_bin"
command -v python3 >/dev/null || cst_skip "no python3"

rounds=${ROUNDS:-20}
rate=${RATE:-10000}
read -r -a datapaths <<<"${DATAPATHS:-kernel packet}"
((smoke)) && rounds=3

echo "bench_rule_apply: $rounds rounds per data path, traffic at $rate pps;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A summary=()
failed=0
for dp in "${datapaths[@]}"; do
  cst_reset_topology 1
  config=$CST_WORK/relay.toml
  CST_DATAPATH=${dp%-cold}
  cst_relay_config "$config" 1 packet
  if [[ $dp == *-cold ]]; then
    # A static rule the kernel leaves to the forwarders (17 outputs): no
    # kdp-in0 until the probe's rule comes.
    wide=()
    for ((p = 6001; p <= 6017; p++)); do wide+=("out1:239.69.1.1:$p"); done
    cst_rule "$config" static 239.59.1.1 5001 "${wide[@]}"
    CST_DATAPATH=""
  else
    cst_rule "$config" static 239.59.1.1 5001 out1:239.69.1.1:6001
  fi
  cst_start_relay "$config"
  # The changing rule's traffic, for longer than the rounds take.
  cst_start sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
    --group 239.59.1.2:5002 --rate "$rate" --duration $((rounds * 2 + 30)) \
    --size 64
  out=$(ip netns exec "${CST_NS_RECV[1]}" python3 "$here/rule_apply.py" \
          --ctl "$CST_CTL" --socket "$CST_SOCK" --rounds "$rounds" \
          --in in0:239.59.1.2:5002 --out out1:239.69.1.2:6002 \
          --listen-if 10.50.1.2) || failed=1
  [[ -z ${VERBOSE:-} ]] || echo "$out" >&2
  summary[$dp]=$(grep '^summary ' <<<"$out" || echo "summary none")
  grep -q ' missed=0$' <<<"${summary[$dp]}" || failed=1
  cst_stop sender 5 || true
  cst_stop_relay >/dev/null || true
done

row() { printf '| %-8s | %12s | %10s | %14s | %15s | %11s | %6s |\n' "$@"; }
echo
echo "rule change to the data path, ms (median and max of $rounds rounds);"
echo "from castorctl's answer, and for the add also from its start"
echo
row datapath "add p50" "add max" "add p50 (sent)" "remove p50" "remove max" missed
row --- --- --- --- --- --- ---
for dp in "${datapaths[@]}"; do
  s=${summary[$dp]}
  row "$dp" "$(cst_field add_p50_ms "$s")" "$(cst_field add_max_ms "$s")" \
    "$(cst_field add_sent_p50_ms "$s")" "$(cst_field remove_p50_ms "$s")" \
    "$(cst_field remove_max_ms "$s")" "$(cst_field missed "$s")"
done
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((failed)); then
  echo "bench_rule_apply: a round saw no traffic start or stop" >&2
  exit 1
fi
