#!/usr/bin/env bash
# Which rules the kernel data path leaves to the packet path (issue 16,
# model/datapath.hpp), with datapath = "kernel":
#   1. a source-specific rule the kernel could serve, next to an any-source
#      rule of the same group and port it cannot (17 outputs): both take
#      the packet path (castorctl workers says why); a datagram from the
#      rule's source goes by the (S,G) rule only, one from another source
#      by the (*,G) rule only;
#   1b. the other way round, an (S,G) rule the kernel cannot serve next to
#      a (*,G) rule it could: on two paths the tc program, which sees a
#      frame before the forwarders' (ETH_P_IP) sockets do, would take the
#      source's datagrams by its (*,G) rule, and the (S,G) rule would
#      never see them. One path: the source-specific rule wins, as in the
#      packet path;
#   2. a rule with two unicast outputs, which the tc program cannot serve
#      where IP forwarding is off (it resolves one neighbour per datagram),
#      takes the packet path, saying so, and both receivers get every
#      datagram exactly once;
#   3. a plain rule next to them stays on the kernel path.
#
# usage: relay_kernel_split.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_kernel_split
cst_relay_main "$@" ksp
cst_topology 2
CST_DATAPATH=kernel
ip netns exec "$CST_NS_RELAY" sysctl -qw net.ipv4.conf.all.forwarding=0

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
cst_rule "$config" plain 239.58.1.1 5001 out1:239.68.1.1:6001
cst_rule "$config" ssm 239.58.2.1 5002 out1:239.68.2.1:6002 source=10.50.0.1
# 17 outputs: more than the program serves (the receiver listens to one).
wide=()
for ((p = 6002; p <= 6018; p++)); do wide+=("out2:239.68.2.2:$p"); done
cst_rule "$config" any 239.58.2.1 5002 "${wide[@]}"
wide=()
for ((p = 6004; p <= 6020; p++)); do wide+=("out1:239.68.4.1:$p"); done
cst_rule "$config" ssm_wide 239.58.4.1 5004 "${wide[@]}" source=10.50.0.1
cst_rule "$config" any_narrow 239.58.4.1 5004 out2:239.68.4.2:6004
cst_rule "$config" unicast 239.58.3.1 5003 out1:10.50.1.2:6003 \
  out2:10.50.2.2:6003
cst_start_relay "$config"

# path_of RULE: "PATH WHY..." from castorctl workers' rule table.
path_of() {
  cst_ctl workers | awk -v r="$1" 'f && $1 == r { $1 = ""; print substr($0, 2); exit }
                                   $1 == "RULE" { f = 1 }'
}
path_is() { # RULE PATH [WHY]
  local got
  got=$(path_of "$1")
  echo "$1: $got"
  [[ $got == "$2"* && $got == *"${3:-}"* ]]
}
cst_check "plain stays on the kernel path" path_is plain kernel
cst_check "ssm takes the packet path with its (*,G) neighbour, saying why" \
  path_is ssm packet "shares its input group and port with rule any"
cst_check "any takes the packet path (17 outputs)" \
  path_is any packet "more than 16 outputs"
cst_check "two unicast outputs take the packet path, saying why" \
  path_is unicast packet "more than one unicast output"

exact=(--expect-count 1000 --expect-zero-loss --expect-no-duplicates
       --duration 20)
cst_check "the kernel path forwards plain" \
  cst_pass pl "${CST_NS_RECV[1]}" --group 239.68.1.1:6001 --interface c0 \
  "${exact[@]}" -- --group 239.58.1.1:5001 --count 1000 --rate 10000

# one_rule_each IN_GROUP:PORT SSM_OUT ANY_OUT: one datagram, one rule:
# from 10.50.0.1 the (S,G) rule's output (on out1) only, from 10.50.0.3
# the (*,G) rule's (on out2) only.
one_rule_each() {
  cst_recv s1 "${CST_NS_RECV[1]}" --group "$2" --interface c0 \
    --idle 500 --duration 20
  cst_recv s2 "${CST_NS_RECV[2]}" --group "$3" --interface c0 \
    --idle 500 --duration 20
  cst_send --group "$1" --count 1000 --rate 10000 \
    --bind 10.50.0.1 --stream-base 1 || return 1
  cst_send --group "$1" --count 1000 --rate 10000 \
    --bind 10.50.0.3 --stream-base 2 || return 1
  cst_recv_result s1 25 >/dev/null || true
  cst_recv_result s2 25 >/dev/null || true
  local ok=0
  echo "ssm's receiver: stream 1 '$(cst_stream_row s1 1)', stream 2 '$(cst_stream_row s1 2)'"
  echo "any's receiver: stream 1 '$(cst_stream_row s2 1)', stream 2 '$(cst_stream_row s2 2)'"
  [[ $(cst_stream_row s1 1 | awk '{ print $2, $3, $4 }') == "1000 0 0" ]] || ok=1
  [[ -z $(cst_stream_row s1 2) ]] || ok=1
  [[ $(cst_stream_row s2 2 | awk '{ print $2, $3, $4 }') == "1000 0 0" ]] || ok=1
  [[ -z $(cst_stream_row s2 1) ]] || ok=1
  return "$ok"
}
cst_check "each datagram goes by one rule only, the source-specific first" \
  one_rule_each 239.58.2.1:5002 239.68.2.1:6002 239.68.2.2:6002
cst_check "ssm_wide (S,G) and any_narrow (*,G) both take the packet path" \
  path_is any_narrow packet "shares its input group and port with rule ssm_wide"
cst_check "the same when the kernel could serve the (*,G) rule only" \
  one_rule_each 239.58.4.1:5004 239.68.4.1:6004 239.68.4.2:6004

both_unicast() {
  cst_recv u1 "${CST_NS_RECV[1]}" --listen 0.0.0.0:6003 "${exact[@]}"
  cst_recv u2 "${CST_NS_RECV[2]}" --listen 0.0.0.0:6003 "${exact[@]}"
  cst_send --group 239.58.3.1:5003 --count 1000 --rate 10000 || return 1
  local rc=0
  cst_recv_result u1 25 || rc=1
  cst_recv_result u2 25 || rc=1
  return "$rc"
}
cst_check "both unicast receivers get every datagram exactly once" both_unicast
cst_check "SIGTERM stops it with status 0" cst_stop_relay
cst_finish
