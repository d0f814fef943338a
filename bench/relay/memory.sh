#!/usr/bin/env bash
# bench/relay/memory.sh: the relay's resident memory with N output groups
# (docs/relay.md, "Send rings, and the memory they take").
#
# One rule on in0 with N outputs on out1, each with its own TTL (1..N), so
# N output groups (interface, TTL, TOS): N send rings per worker. A ring's
# pages are resident only once written, so traffic first fills them: four
# bursts of 3000 datagrams (each castor-send has its own source port, so
# that the fanout spreads them over the workers). Prints VmRSS before the
# traffic and after it, and each worker's frames.
#
# usage: memory.sh TOOLS_DIR CASTOR_RELAY CASTORCTL [N [WORKERS]]
# Needs root (exit 77 otherwise).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../tests/integration/relay/lib.sh
source "$root/tests/integration/relay/lib.sh"
CST_NAME=bench_relay_memory
n=${4:-32}
workers=${5:-2}
cst_relay_main "$1" "$2" "$3" mem
cst_topology 1

config=$CST_WORK/relay.toml
cst_relay_config "$config" "$workers" packet
specs=()
for ((k = 1; k <= n; k++)); do specs+=("out1:239.75.1.$k:6001:$k"); done
cst_rule "$config" groups 239.55.1.1 5001 "${specs[@]}"
cst_start_relay "$config"
pid=$(cst_pid relay)
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
before=$(rss_kib)
for b in 1 2 3 4; do
  cst_send --group 239.55.1.1:5001 --count 3000 --rate 20000 \
    --stream-base "$b" >/dev/null
done
sleep 0.5
after=$(rss_kib)
echo "output groups: $n, workers: $workers"
echo "VmRSS: ${before} KiB idle, ${after} KiB after traffic"
cst_ctl workers
cst_stop_relay || true
