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
#
# Usage: multicast_netns.sh PATH/TO/net_mcast_probe
# Exit: 0 pass, 1 fail, 77 skipped (not root, or no `ip netns`).
set -euo pipefail

probe=${1:?usage: multicast_netns.sh PATH/TO/net_mcast_probe}

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: no usable 'ip netns'"
  exit 77
fi

prefix="castor-nt-$$-"
S=${prefix}s
R1=${prefix}r1
R2=${prefix}r2
tmp=$(mktemp -d)
pids=()

cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in "$S" "$R1" "$R2"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failures=0
check() { # check DESCRIPTION EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2], got [$3]"
    failures=$((failures + 1))
  fi
}

# -- topology ------------------------------------------------------------------
for ns in "$S" "$R1" "$R2"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip -n "$S" link add s1 type veth peer name r1 netns "$R1"
ip -n "$S" link add s2 type veth peer name r2 netns "$R2"
ip -n "$S" addr add 10.201.1.1/24 dev s1
ip -n "$S" addr add 10.201.2.1/24 dev s2
ip -n "$S" addr add 10.201.2.11/24 dev s2
ip -n "$R1" addr add 10.201.1.2/24 dev r1
ip -n "$R2" addr add 10.201.2.2/24 dev r2
ip -n "$S" link set s1 up
ip -n "$S" link set s2 up
ip -n "$R1" link set r1 up
ip -n "$R2" link set r2 up
ip -n "$S" route add 239.0.0.0/8 dev s1
# Receivers accept sources they have no route back to.
for x in "$R1 r1" "$R2 r2"; do
  set -- $x
  ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
    "net.ipv4.conf.$2.rp_filter=0"
done

# veth links come up a few ms after creation; wait, boundedly.
for x in "$S s1" "$S s2" "$R1 r1" "$R2 r2"; do
  set -- $x
  for _ in $(seq 50); do
    ip -n "$1" link show "$2" | grep -q LOWER_UP && break
    sleep 0.1
  done
  ip -n "$1" link show "$2" | grep -q LOWER_UP || {
    echo "FAIL link $2 in $1 never came up"
    exit 1
  }
done

# -- helpers -------------------------------------------------------------------
# start_recv NAME NS GROUP PORT IFNAME [--source ADDR]: a receiver that runs
# for a bounded time and writes what it got to $tmp/NAME.
start_recv() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" timeout 20 "$probe" recv "$1" "$2" "$3" 2500 "${@:4}" \
    >"$tmp/$name" 2>&1 &
  pids+=($!)
}

wait_ready() { # wait_ready NAME...
  local name
  for name in "$@"; do
    for _ in $(seq 100); do
      grep -q READY "$tmp/$name" 2>/dev/null && break
      sleep 0.05
    done
    grep -q READY "$tmp/$name" || {
      echo "FAIL receiver $name not ready:"
      cat "$tmp/$name"
      exit 1
    }
  done
}

send() { # send ARGS... (in S)
  ip netns exec "$S" timeout 20 "$probe" send "$@" >>"$tmp/send.log" 2>&1 || {
    echo "FAIL sender: $*"
    cat "$tmp/send.log"
    exit 1
  }
}

finish() { # waits for all receivers
  local p
  for p in "${pids[@]}"; do wait "$p" || true; done
  pids=()
}

# Lines "<from> <tag> <i>" of a receiver, sorted, as one string.
got() { grep -E '^[0-9.]+ ' "$tmp/$1" | sort | tr '\n' ';' || true; }
count() { sed -n 's/^COUNT //p' "$tmp/$1"; }

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
check "IP_MULTICAST_IF=s2: R2 gets all 3" 3 "$(count if_s2.r2)"
check "IP_MULTICAST_IF=s2: R1 gets none" 0 "$(count if_s2.r1)"
check "IP_MULTICAST_IF=s2: source is s2's address" \
  "10.201.2.1 if_s2 0;10.201.2.1 if_s2 1;10.201.2.1 if_s2 2;" "$(got if_s2.r2)"

scenario wildcard
check "wildcard bind, no IP_MULTICAST_IF: follows the route to R1" \
  3 "$(count wildcard.r1)"
check "wildcard bind, no IP_MULTICAST_IF: R2 (the intended link) gets none" \
  0 "$(count wildcard.r2)"

scenario bound --bind 10.201.2.1
check "bound to s2's address only: Linux sends via s2" 3 "$(count bound.r2)"
check "bound to s2's address only: R1 gets none" 0 "$(count bound.r1)"

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

check "ASM join gets both sources" 8 "$(count asm)"
check "ASM join: A from 10.201.2.1, B from 10.201.2.11" \
  "10.201.2.1 A 0;10.201.2.1 A 1;10.201.2.1 A 2;10.201.2.1 A 3;10.201.2.11 B 0;10.201.2.11 B 1;10.201.2.11 B 2;10.201.2.11 B 3;" \
  "$(got asm)"
check "SSM join (G, 10.201.2.1) gets exactly A's datagrams" \
  "10.201.2.1 A 0;10.201.2.1 A 1;10.201.2.1 A 2;10.201.2.1 A 3;" \
  "$(got ssm_a)"
check "SSM join with a silent source gets nothing" 0 "$(count ssm_none)"
check "a join of another group gets nothing" 0 "$(count other_group)"

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all multicast namespace checks passed"
