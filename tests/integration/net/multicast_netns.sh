#!/usr/bin/env bash
# Multicast through castor::net on a multi-homed sender, in network
# namespaces this script creates and always removes.
#
#   sender namespace S: s1 10.201.1.1/24, s2 10.201.2.1/24 (+ 10.201.2.11)
#   S.s1 <-veth-> R1.r1 10.201.1.2/24     S.s2 <-veth-> R2.r2 10.201.2.2/24
#   In S the route for 239.0.0.0/8 points at s1.
#
# Checks:
#   1. IP_MULTICAST_IF=s2 (by index) sends out s2, against the route.
#   2. A socket bound to the wildcard address without IP_MULTICAST_IF
#      follows the route (s1): the multi-homed sender's classic mistake.
#   3. Binding to s2's address alone, measured on Linux: the kernel steers
#      multicast out the interface owning the source address when no
#      output interface is set (route.c, ip_route_output_key_hash_rcu), so
#      this too leaves through s2. Asserted, so a kernel that differs fails
#      loudly instead of silently changing what we document.
#   4. Any-source and source-specific joins on R2 receive exactly the
#      datagrams they should from two sources on S.
#   5. One socket in S on the wildcard address, joined to 239.3.3.1 on s1
#      and 239.3.3.2 on s2: each datagram's packet info (IP_PKTINFO) names
#      its group and the interface it came in on; and with castor's
#      IP_MULTICAST_ALL = 0 it does not get 239.3.3.2 arriving on s1,
#      which a second socket on the same port joined there (and that one
#      gets nothing of the first socket's groups).
#
# Usage: multicast_netns.sh PATH/TO/net_mcast_probe
# Exit: 0 pass, 1 fail, 77 skipped (not root, or no `ip netns`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../netns.sh
source "$here/../netns.sh"

probe=${1:?usage: multicast_netns.sh PATH/TO/net_mcast_probe}
CST_NAME=multicast_netns
cst_setup mct
S=${CST_PREFIX}s
R1=${CST_PREFIX}r1
R2=${CST_PREFIX}r2

# -- topology ------------------------------------------------------------------
cst_add_ns "$S" "$R1" "$R2"
cst_veth "$S" s1 "$R1" r1 10.201.1.1/24 10.201.1.2/24
cst_veth "$S" s2 "$R2" r2 10.201.2.1/24 10.201.2.2/24
ip -n "$S" addr add 10.201.2.11/24 dev s2
cst_mroute "$S" s1 239.0.0.0/8
# Receivers accept sources they have no route back to.
cst_rp_filter_off "$R1" r1
cst_rp_filter_off "$R2" r2
cst_wait_link "$S" s1
cst_wait_link "$S" s2
cst_wait_link "$R1" r1
cst_wait_link "$R2" r2

# -- helpers -------------------------------------------------------------------
# start_recv NAME NS GROUP PORT IFNAME [--source ADDR]: a receiver that runs
# for a bounded time and writes what it got to $CST_WORK/NAME.out.
receivers=()
start_recv() {
  local name=$1 ns=$2
  shift 2
  cst_start "$name" "$ns" timeout 20 "$probe" recv "$1" "$2" "$3" 2500 "${@:4}"
  receivers+=("$name")
}

wait_ready() { # wait_ready NAME...
  local name
  for name in "$@"; do
    cst_wait_for "$name" READY 5 || exit 1
  done
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

send() { send_from "$S" "$@"; } # send ARGS... (in S)

finish() { # waits (bounded) for all receivers
  local name
  for name in "${receivers[@]}"; do cst_result "$name" 25 >/dev/null || true; done
  receivers=()
}

# Lines "<from> <tag> <i>" of a receiver, sorted, as one string.
got() { grep -E '^[0-9.]+ ' "$CST_WORK/$1.out" | sort | tr '\n' ';' || true; }
count() { sed -n 's/^COUNT //p' "$CST_WORK/$1.out"; }

# -- 1..3: which interface multicast leaves through ---------------------------
# scenario NAME SENDER-ARGS...: R1 and R2 both join 239.1.1.1 on their link;
# the sender sends 3 datagrams tagged NAME.
scenario() {
  local name=$1
  shift
  start_recv "$name.r1" "$R1" 239.1.1.1 5001 r1
  start_recv "$name.r2" "$R2" 239.1.1.1 5001 r2
  wait_ready "$name.r1" "$name.r2"
  send 239.1.1.1 5001 3 "$name" "$@"
  finish
}

scenario if_s2 --if s2
cst_expect "IP_MULTICAST_IF=s2: R2 gets all 3" 3 "$(count if_s2.r2)"
cst_expect "IP_MULTICAST_IF=s2: R1 gets none" 0 "$(count if_s2.r1)"
cst_expect "IP_MULTICAST_IF=s2: source is s2's address" \
  "10.201.2.1 if_s2 0;10.201.2.1 if_s2 1;10.201.2.1 if_s2 2;" "$(got if_s2.r2)"

scenario wildcard
cst_expect "wildcard bind, no IP_MULTICAST_IF: follows the route to R1" \
  3 "$(count wildcard.r1)"
cst_expect "wildcard bind, no IP_MULTICAST_IF: R2 (the intended link) gets none" \
  0 "$(count wildcard.r2)"

scenario bound --bind 10.201.2.1
cst_expect "bound to s2's address only: Linux sends via s2" 3 "$(count bound.r2)"
cst_expect "bound to s2's address only: R1 gets none" 0 "$(count bound.r1)"

# -- 4: any-source and source-specific joins -----------------------------------
# Two sources on s2 send to 239.2.2.2: A from 10.201.2.1, B from 10.201.2.11.
start_recv asm "$R2" 239.2.2.2 5002 r2
start_recv ssm_a "$R2" 239.2.2.2 5002 r2 --source 10.201.2.1
start_recv ssm_none "$R2" 239.2.2.2 5002 r2 --source 10.201.2.99
start_recv other_group "$R2" 239.2.2.3 5002 r2
wait_ready asm ssm_a ssm_none other_group
send 239.2.2.2 5002 4 A --if s2 --bind 10.201.2.1
send 239.2.2.2 5002 4 B --if s2 --bind 10.201.2.11
finish

cst_expect "ASM join gets both sources" 8 "$(count asm)"
cst_expect "ASM join: A from 10.201.2.1, B from 10.201.2.11" \
  "10.201.2.1 A 0;10.201.2.1 A 1;10.201.2.1 A 2;10.201.2.1 A 3;10.201.2.11 B 0;10.201.2.11 B 1;10.201.2.11 B 2;10.201.2.11 B 3;" \
  "$(got asm)"
cst_expect "SSM join (G, 10.201.2.1) gets exactly A's datagrams" \
  "10.201.2.1 A 0;10.201.2.1 A 1;10.201.2.1 A 2;10.201.2.1 A 3;" \
  "$(got ssm_a)"
cst_expect "SSM join with a silent source gets nothing" 0 "$(count ssm_none)"
cst_expect "a join of another group gets nothing" 0 "$(count other_group)"

# -- 5: one socket, two groups on two interfaces -------------------------------
cst_start multi "$S" timeout 20 "$probe" recv-multi 5003 2500 \
  239.3.3.1@s1 239.3.3.2@s2
cst_start decoy "$S" timeout 20 "$probe" recv-multi 5003 2500 239.3.3.2@s1
receivers+=(multi decoy)
wait_ready multi decoy
send_from "$R1" 239.3.3.1 5003 2 A --if r1
send_from "$R2" 239.3.3.2 5003 2 B --if r2
send_from "$R1" 239.3.3.2 5003 2 C --if r1
finish

cst_expect "two groups on two interfaces: group and interface per datagram, nothing of 239.3.3.2 from s1 (IP_MULTICAST_ALL=0)" \
  "10.201.1.2 239.3.3.1 s1 A 0;10.201.1.2 239.3.3.1 s1 A 1;10.201.2.2 239.3.3.2 s2 B 0;10.201.2.2 239.3.3.2 s2 B 1;" \
  "$(got multi)"
cst_expect "the second socket (239.3.3.2 on s1) gets exactly that, none of the first's groups" \
  "10.201.1.2 239.3.3.2 s1 C 0;10.201.1.2 239.3.3.2 s1 C 1;" "$(got decoy)"

cst_finish
