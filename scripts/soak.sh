#!/usr/bin/env bash
# Soak: castor-relay forwarding a moderate stream for a long time (default
# 10 minutes) in network namespaces (tests/integration/relay/lib.sh). It
# passes when every datagram arrives exactly once and castor-relay's RSS is
# flat: the last sample within SOAK_RSS_MIB (default 4) of the first one
# taken after the warm-up. Not a ctest (it takes too long for CI); run it by
# hand or from a nightly job. Needs root; exits 77 without it.
#
#   scripts/soak.sh [BUILD_DIR]        default BUILD_DIR: build
#
# Environment: SOAK_SECONDS (600), SOAK_RATE datagrams/s (5000),
# SOAK_STREAMS (4), SOAK_SIZE payload bytes (512), SOAK_RSS_MIB (4),
# SOAK_SAMPLE_SECONDS between RSS samples (10). The RSS samples are printed
# as they are taken, so a leak shows as it grows.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
[[ $build == /* ]] || build=$PWD/$build
seconds=${SOAK_SECONDS:-600}
rate=${SOAK_RATE:-5000}
streams=${SOAK_STREAMS:-4}
size=${SOAK_SIZE:-512}
rss_bound_mib=${SOAK_RSS_MIB:-4}
sample_every=${SOAK_SAMPLE_SECONDS:-10}

# shellcheck source=../tests/integration/relay/lib.sh
source "$root/tests/integration/relay/lib.sh"
CST_NAME=soak
cst_relay_main "$build/apps/tools" "$build/apps/relay/castor-relay" \
  "$build/apps/relay/castorctl" sok
cst_topology 1
recv_ns=${CST_NS_RECV[1]}

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
for ((i = 0; i < streams; i++)); do
  cst_rule "$config" "soak-$i" "239.62.1.$((i + 1))" 5001 \
    "out1:239.72.1.$((i + 1)):6001"
done
cst_start_relay "$config"
relay_pid=$(cst_pid relay)

per_stream=$((rate * seconds / streams))
echo "soak: ${seconds} s, ${rate} datagrams/s of ${size} B over ${streams}" \
     "streams (${per_stream} each), RSS every ${sample_every} s"
cst_recv soak "$recv_ns" --group 239.72.1.1:6001 --streams "$streams" \
  --keep-port --interface c0 --expect-count "$per_stream" --expect-zero-loss \
  --expect-no-duplicates --duration $((seconds + 60)) --idle 5000
cst_start sender "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.62.1.1:5001 --streams "$streams" --keep-port \
  --count "$per_stream" --rate "$rate" --size "$size"
sender_pid=$(cst_pid sender)

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$relay_pid/status"; }
samples=()
start=$SECONDS
# The first sample comes after one interval: the rings and the first
# tables are allocated by then.
while kill -0 "$sender_pid" 2>/dev/null &&
      ((SECONDS - start < seconds + 30)); do
  sleep "$sample_every"
  kill -0 "$relay_pid" 2>/dev/null || { echo "castor-relay exited"; break; }
  rss=$(rss_kib)
  samples+=("$rss")
  echo "t=$((SECONDS - start))s VmRSS=${rss} KiB"
done

cst_check "castor-relay still running" kill -0 "$relay_pid"
flat() {
  ((${#samples[@]} >= 2)) || { echo "too few RSS samples"; return 1; }
  local first=${samples[0]} last=${samples[-1]} max=0 s
  for s in "${samples[@]}"; do ((s > max)) && max=$s; done
  echo "VmRSS: first ${first} KiB, last ${last} KiB, peak ${max} KiB" \
       "over ${#samples[@]} samples (bound ${rss_bound_mib} MiB)"
  ((last - first <= rss_bound_mib * 1024))
}
cst_check "RSS flat: last sample within ${rss_bound_mib} MiB of the first" flat
cst_check "every datagram exactly once" cst_recv_result soak 90
cst_out sender
cst_ctl stats || true
cst_finish
