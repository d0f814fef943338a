#!/usr/bin/env bash
# castor-send and castor-recv across two network namespaces, no relay: the
# harness (lib.sh) and the tools that every relay test trusts. The receiver
# sits on the relay namespace's in0, one veth hop from the sender.
#
#   1. one stream, counted exactly: no loss, no duplicates
#   2. 20 streams (one socket and one membership each)
#   3. a short stream is reported as loss, with a failing exit status
#   4. source-specific join: only the chosen source's stream arrives
#   5. unicast
#   6. two sender threads over four streams
#   7. --json
#
# usage: tools_netns.sh TOOLS_DIR   (where castor-send and castor-recv are)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=tools_netns
cst_init tls "${1:?usage: tools_netns.sh TOOLS_DIR}"
cst_topology 1

ns=$CST_NS_RELAY

one_stream() {
  cst_pass one "$ns" --group 239.50.1.1:5001 --interface in0 \
    --expect-count 2000 --expect-zero-loss --expect-no-duplicates \
    --duration 20 -- --group 239.50.1.1:5001 --count 2000 --rate 20000 ||
    return 1
  [[ $(cst_field received "$(cst_summary one)") == 2000 ]]
}
cst_check "one stream, 2000 datagrams, exactly once" one_stream

twenty_streams() {
  cst_pass twenty "$ns" --group 239.50.2.1:5100 --streams 20 \
    --interface in0 --expect-count 200 --expect-zero-loss \
    --expect-no-duplicates --duration 20 -- \
    --group 239.50.2.1:5100 --streams 20 --count 200 --rate 20000 || return 1
  [[ $(cst_field streams "$(cst_summary twenty)") == 20 ]]
}
cst_check "20 streams, 200 datagrams each" twenty_streams

short_stream_fails() {
  cst_recv short "$ns" --group 239.50.3.1:5200 --interface in0 \
    --expect-count 1000 --expect-zero-loss --idle 300 --duration 20
  cst_send --group 239.50.3.1:5200 --count 900 --rate 20000 >/dev/null
  local rc=0
  cst_recv_result short 25 || rc=$?
  [[ $rc == 1 && $(cst_field lost "$(cst_summary short)") == 100 ]]
}
cst_check "a stream 100 short is 100 lost and exit 1" short_stream_fails

source_specific() {
  cst_recv ssm "$ns" --group 239.50.4.1:5300 --interface in0 \
    --source 10.50.0.1 --idle 300 --duration 20
  cst_send --group 239.50.4.1:5300 --count 500 --rate 20000 \
    --stream-base 1 --bind 10.50.0.1 >/dev/null
  cst_send --group 239.50.4.1:5300 --count 500 --rate 20000 \
    --stream-base 2 --bind 10.50.0.3 >/dev/null
  cst_recv_result ssm 25 || return 1
  local row
  row=$(cst_stream_row ssm 1)
  [[ $(awk '{ print $2 }' <<<"$row") == 500 && -z $(cst_stream_row ssm 2) ]]
}
cst_check "source-specific join passes only its source" source_specific

unicast() {
  cst_pass uni "$ns" --listen 10.50.0.2:7000 --expect-count 1000 \
    --expect-zero-loss --duration 20 -- \
    --dest 10.50.0.2:7000 --count 1000 --rate 20000
}
cst_check "unicast" unicast

threads() {
  cst_recv thr "$ns" --group 239.50.5.1:5400 --streams 4 --interface in0 \
    --expect-count 5000 --expect-zero-loss --expect-no-duplicates \
    --duration 20
  local sent
  sent=$(cst_send --group 239.50.5.1:5400 --streams 4 --count 5000 \
           --rate 40000 --threads 2)
  echo "$sent"
  cst_recv_result thr 25 || return 1
  [[ $(cst_field threads "$sent") == 2 && $(cst_field sent "$sent") == 20000 ]]
}
cst_check "two sender threads, four streams" threads

json() {
  cst_pass js "$ns" --group 239.50.6.1:5500 --interface in0 \
    --expect-count 100 --json --duration 20 -- \
    --group 239.50.6.1:5500 --count 100 --rate 10000 || return 1
  grep -q '^{"streams":\[{.*"total":{.*"received":100' "$CST_WORK/js.out"
}
cst_check "--json report" json

cst_finish
