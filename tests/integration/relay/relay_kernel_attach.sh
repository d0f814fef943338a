#!/usr/bin/env bash
# The kernel data path's attachment across process lifetimes (issue 16):
#   1. datapath = "kernel" attaches one castor filter to in0's ingress;
#   2. after a SIGKILL of the relay the program is still attached and still
#      forwards, from its maps, with no process behind it;
#   3. a new relay finds that leftover and replaces it in place (it says
#      so): one filter, every datagram exactly once;
#   4. SIGTERM detaches it: no castor filter is left on in0;
#   5. a leftover found by a relay that runs datapath = "packet" is
#      detached (it says so), so the orphan does not forward next to the
#      forwarders: every datagram exactly once.
#
# usage: relay_kernel_attach.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_kernel_attach
cst_relay_main "$@" kat
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
CST_DATAPATH=kernel

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
cst_rule "$config" feed 239.57.1.1 5001 out1:239.67.1.1:6001
cst_start_relay "$config"

# castor filters (program castor_relay) on in0's ingress.
castor_filters() {
  tc -n "$CST_NS_RELAY" filter show dev in0 ingress 2>/dev/null |
    grep -c 'name castor_relay' || true
}
whole() {
  cst_pass "$1" "$recv_ns" --group 239.67.1.1:6001 --interface c0 \
    --expect-count 1000 --expect-zero-loss --expect-no-duplicates \
    --duration 20 -- \
    --group 239.57.1.1:5001 --count 1000 --rate 10000 --stream-base "$2"
}

cst_check "one castor filter on in0" test "$(castor_filters)" -eq 1
cst_check "forwards 1000 exactly once" whole first 1

killed() {
  kill -KILL "$(cst_pid relay)"
  cst_wait_pid "$(cst_pid relay)" 5
}
cst_check "SIGKILL ends the relay" killed
cst_check "its filter stays attached" test "$(castor_filters)" -eq 1
cst_check "and forwards with no process behind it" whole orphan 2

mv "$CST_WORK/relay.out" "$CST_WORK/relay-first.out"
cst_start_relay "$config"
cst_check "a new relay says it replaced the leftover" \
  grep -q 'replaced the tc program a previous castor-relay left attached' \
  "$CST_WORK/relay.out"
cst_check "still one castor filter" test "$(castor_filters)" -eq 1
cst_check "forwards 1000 exactly once after the takeover" whole second 3
cst_check "SIGTERM stops it with status 0" cst_stop_relay
cst_check "and detaches: no castor filter left" test "$(castor_filters)" -eq 0

mv "$CST_WORK/relay.out" "$CST_WORK/relay-second.out"
cst_start_relay "$config"
cst_check "SIGKILL again" killed
cst_check "a leftover again" test "$(castor_filters)" -eq 1
mv "$CST_WORK/relay.out" "$CST_WORK/relay-third.out"
sed -i 's|^datapath = "kernel"$|datapath = "packet"|' "$config"
CST_DATAPATH=packet
cst_start_relay "$config"
cst_check "a packet-path relay detaches the leftover, saying so" \
  grep -q 'detached the tc program a previous castor-relay left on in0' \
  "$CST_WORK/relay.out"
cst_check "no castor filter left" test "$(castor_filters)" -eq 0
cst_check "the packet path forwards 1000 exactly once" whole packet 4
cst_check "SIGTERM stops it with status 0" cst_stop_relay
cst_finish
