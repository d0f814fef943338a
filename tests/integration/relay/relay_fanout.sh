#!/usr/bin/env bash
# Fan-out 1 -> 3: one input group re-sent on out1, out2 and out3, each into
# a receiver namespace of its own (not three sockets on one host, where
# the kernel would deliver locally). Every receiver gets every datagram
# exactly once.
#
# usage: relay_fanout.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_fanout
cst_relay_main "$@" fan
cst_topology 3

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cst_rule "$config" fanout 239.52.1.1 5001 out1:239.62.1.1:6001 \
  out2:239.62.1.1:6001 out3:239.62.1.1:6001
cst_start_relay "$config"

for k in 1 2 3; do
  cst_recv "r$k" "${CST_NS_RECV[$k]}" --group 239.62.1.1:6001 --interface c0 \
    --expect-count 3000 --expect-zero-loss --expect-no-duplicates \
    --duration 30
done
cst_send --group 239.52.1.1:5001 --count 3000 --rate 10000
for k in 1 2 3; do
  cst_check "receiver $k of 3: 3000 datagrams exactly once" \
    cst_recv_result "r$k" 35
done
cst_finish
