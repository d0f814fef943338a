#!/usr/bin/env bash
# IPv6 multicast through castor::net and through castor-send/castor-recv,
# in network namespaces this script creates and always removes. Groups in
# ff3e::/16 only, fd00::/8 addresses only on the veths (nodad: no wait for
# duplicate address detection), bounded traffic.
#
#   sender namespace S: s1 fd00:c1::1/64, s2 fd00:c2::1/64 (+ fd00:c2::11)
#   S.s1 <-veth-> R1.r1 fd00:c1::2/64     S.s2 <-veth-> R2.r2 fd00:c2::2/64
#
# Checks (castor::net, with net_mcast_probe):
#   1. IPV6_MULTICAST_IF by index picks the link, either way, and the
#      source is that link's address.
#   2. MLD any-source and source-specific joins receive exactly what they
#      should from two sources.
#   3. One socket in S joined to a group on s1 and another on s2: each
#      datagram's IPV6_PKTINFO names its group and interface.
# Checks (the tools):
#   4. castor-send -> castor-recv, one stream and four, no loss, no
#      duplicates; the interface given by name and by index.
#   5. castor-recv --source: a source-specific join passes only its source.
#
# Usage: ipv6_netns.sh PATH/TO/net_mcast_probe TOOLS_DIR
# Exit: 0 pass, 1 fail, 77 skipped (not root, no `ip netns`, no IPv6).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../netns.sh
source "$here/../netns.sh"

probe=${1:?usage: ipv6_netns.sh PATH/TO/net_mcast_probe TOOLS_DIR}
tools=${2:?usage: ipv6_netns.sh PATH/TO/net_mcast_probe TOOLS_DIR}
CST_NAME=ipv6_netns
[[ -e /proc/sys/net/ipv6 ]] || cst_skip "no IPv6 in this kernel"
cst_setup v6n
S=${CST_PREFIX}s
R1=${CST_PREFIX}r1
R2=${CST_PREFIX}r2

# -- topology ------------------------------------------------------------------
cst_add_ns "$S" "$R1" "$R2"
for ns in "$S" "$R1" "$R2"; do
  cst_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
    net.ipv6.conf.default.disable_ipv6=0
done
cst_veth "$S" s1 "$R1" r1
cst_veth "$S" s2 "$R2" r2
addr6() { ip -n "$1" -6 addr add "$3" dev "$2" nodad; }
addr6 "$S" s1 fd00:c1::1/64
addr6 "$S" s2 fd00:c2::1/64
addr6 "$S" s2 fd00:c2::11/64
addr6 "$R1" r1 fd00:c1::2/64
addr6 "$R2" r2 fd00:c2::2/64
cst_wait_link "$S" s1
cst_wait_link "$S" s2
cst_wait_link "$R1" r1
cst_wait_link "$R2" r2
# Until its link-local address leaves tentative state, an interface sends
# no MLD report and no multicast: wait (bounded) for it.
v6_ready() { ! ip -n "$1" -6 addr show dev "$2" | grep -q tentative; }
for pair in "$S s1" "$S s2" "$R1 r1" "$R2 r2"; do
  # shellcheck disable=SC2086 # two words on purpose
  cst_until 10 v6_ready $pair || cst_skip "IPv6 addresses stay tentative"
done

# -- castor::net ---------------------------------------------------------------
receivers=()
start_recv() { # start_recv NAME NS GROUP PORT IFNAME [--source ADDR]
  local name=$1 ns=$2
  shift 2
  cst_start "$name" "$ns" timeout 20 "$probe" recv "$1" "$2" "$3" 2000 "${@:4}"
  receivers+=("$name")
}
wait_ready() {
  local name
  for name in "$@"; do cst_wait_for "$name" READY 5 || exit 1; done
}
send_from() { # send_from NS ARGS...
  local ns=$1
  shift
  cst_in "$ns" timeout 20 "$probe" send "$@" >>"$CST_WORK/send.log" 2>&1 || {
    echo "FAILED: sender in $ns: $*"
    cat "$CST_WORK/send.log"
    exit 1
  }
}
finish() {
  local name
  for name in "${receivers[@]}"; do cst_result "$name" 25 >/dev/null || true; done
  receivers=()
}
got() { grep -E '^[0-9a-f:]+ ' "$CST_WORK/$1.out" | LC_ALL=C sort | tr '\n' ';' || true; }
count() { sed -n 's/^COUNT //p' "$CST_WORK/$1.out"; }

for link in s1 s2; do
  start_recv "if_$link.r1" "$R1" ff3e::1:1 5001 r1
  start_recv "if_$link.r2" "$R2" ff3e::1:1 5001 r2
  wait_ready "if_$link.r1" "if_$link.r2"
  send_from "$S" ff3e::1:1 5001 3 "if_$link" --if "$link"
  finish
done
cst_expect "IPV6_MULTICAST_IF=s1: R1 gets all 3" 3 "$(count if_s1.r1)"
cst_expect "IPV6_MULTICAST_IF=s1: R2 gets none" 0 "$(count if_s1.r2)"
cst_expect "IPV6_MULTICAST_IF=s2: R2 gets all 3" 3 "$(count if_s2.r2)"
cst_expect "IPV6_MULTICAST_IF=s2: R1 gets none" 0 "$(count if_s2.r1)"
# s2 has two addresses; the kernel picks one of them (not s1's).
cst_expect "IPV6_MULTICAST_IF=s2: the source is an address of s2" 3 \
  "$(grep -cE '^fd00:c2::(1|11) if_s2 ' "$CST_WORK/if_s2.r2.out" || true)"

start_recv asm "$R2" ff3e::2:2 5002 r2
start_recv ssm_a "$R2" ff3e::2:2 5002 r2 --source fd00:c2::1
start_recv ssm_none "$R2" ff3e::2:2 5002 r2 --source fd00:c2::99
wait_ready asm ssm_a ssm_none
send_from "$S" ff3e::2:2 5002 2 A --if s2 --bind fd00:c2::1
send_from "$S" ff3e::2:2 5002 2 B --if s2 --bind fd00:c2::11
finish
cst_expect "MLD any-source join gets both sources" \
  "fd00:c2::1 A 0;fd00:c2::1 A 1;fd00:c2::11 B 0;fd00:c2::11 B 1;" \
  "$(got asm)"
cst_expect "MLD source-specific join gets exactly its source" \
  "fd00:c2::1 A 0;fd00:c2::1 A 1;" "$(got ssm_a)"
cst_expect "MLD source-specific join of another source gets nothing" \
  0 "$(count ssm_none)"

cst_start multi "$S" timeout 20 "$probe" recv-multi 5003 2000 \
  ff3e::3:1@s1 ff3e::3:2@s2
receivers+=(multi)
wait_ready multi
send_from "$R1" ff3e::3:1 5003 1 one --if r1
send_from "$R2" ff3e::3:2 5003 1 two --if r2
finish
cst_expect "IPV6_PKTINFO names each datagram's group and interface" \
  "fd00:c1::2 ff3e::3:1 s1 one 0;fd00:c2::2 ff3e::3:2 s2 two 0;" \
  "$(got multi)"

# -- the tools -----------------------------------------------------------------
# pass NAME RECV-ARGS... -- SEND-ARGS...: castor-recv in R2, castor-send in
# S; passes when castor-recv's own expectations hold.
pass() {
  local name=$1 recv=() arg
  shift
  while (($#)); do
    arg=$1
    shift
    [[ $arg == -- ]] && break
    recv+=("$arg")
  done
  cst_start "$name" "$R2" timeout 25 "$tools/castor-recv" "${recv[@]}" \
    --duration 20
  cst_wait_for "$name" "castor-recv: ready" 5 || return 1
  cst_in "$S" timeout 20 "$tools/castor-send" "$@" >>"$CST_WORK/tools.log" 2>&1 ||
    return 1
  cst_result "$name" 25
}

one_stream() {
  pass one --group '[ff3e::50:1]:5101' --interface r2 --expect-count 1000 \
    --expect-zero-loss --expect-no-duplicates -- \
    --group '[ff3e::50:1]:5101' --interface s2 --count 1000 --rate 20000
}
cst_check "castor-send -> castor-recv over IPv6: 1000, exactly once" one_stream

four_streams() {
  local r2_index s2_index
  r2_index=$(cst_in "$R2" cat /sys/class/net/r2/ifindex)
  s2_index=$(cst_in "$S" cat /sys/class/net/s2/ifindex)
  pass four --group '[ff3e::51:1]:5201' --streams 4 --interface "$r2_index" \
    --expect-count 500 --expect-zero-loss --expect-no-duplicates -- \
    --group '[ff3e::51:1]:5201' --streams 4 --interface "$s2_index" \
    --count 500 --rate 20000
}
cst_check "four IPv6 streams, interfaces by index" four_streams

source_specific() {
  cst_start ssm "$R2" timeout 25 "$tools/castor-recv" \
    --group '[ff3e::52:1]:5301' --interface r2 --source fd00:c2::1 \
    --idle 300 --duration 20
  cst_wait_for ssm "castor-recv: ready" 5 || return 1
  local from
  for from in "1 fd00:c2::1" "2 fd00:c2::11"; do
    # shellcheck disable=SC2086 # two words on purpose
    set -- $from
    cst_in "$S" timeout 20 "$tools/castor-send" --group '[ff3e::52:1]:5301' \
      --interface s2 --bind "$2" --stream-base "$1" --count 300 \
      --rate 20000 --json >>"$CST_WORK/tools.log" 2>&1 || return 1
  done
  cst_result ssm 25 >"$CST_WORK/ssm.report" || true
  # Stream 1 (from fd00:c2::1) complete, stream 2 absent.
  [[ $(awk '$1 == 1 { print $2; exit }' "$CST_WORK/ssm.report") == 300 &&
    -z $(awk '$1 == 2' "$CST_WORK/ssm.report") ]]
}
cst_check "castor-recv --source over IPv6 passes only its source" \
  source_specific

cst_finish
