#!/usr/bin/env bash
# The group manager against the real kernel, in network namespaces this
# script creates and always removes. No traffic is sent: the checks compare
# what the manager says with what the kernel holds, in /proc/net/igmp (groups
# per device, and how many sockets joined each) and /proc/net/mcfilter
# (sources of source-specific joins).
#
#   namespace A: g0 <-veth-> g0p in namespace B; g1 <-veth-> g1p (g1 has
#   multicast switched off). The probe runs in A, so its helper sockets, its
#   rtnetlink watch and the igmp_max_memberships it reads (20, per
#   namespace) are A's.
#
# Checks: 1, 2, 20, 21, 150 and 1000 groups on one interface (crossing the
# 20-per-socket limit), source-specific joins incl. more sources than
# igmp_max_msf, reference counting over two holders, leave on the last
# release, holder death, interface down/up and delete/re-create with rejoin,
# interfaces that appear later, a manager restart that keeps everything, the
# error answers, and no helper socket leaked at the end.
#
# Usage: group_netns.sh PATH/TO/group_probe
# Exit: 0 pass, 1 fail, 77 skipped (not root, or no `ip netns`).
set -euo pipefail

probe=${1:?usage: group_netns.sh PATH/TO/group_probe}

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: no usable 'ip netns'"
  exit 77
fi

prefix="cstgrp$$-"
A=${prefix}a
B=${prefix}b
tmp=$(mktemp -d)
probe_pid=""

cleanup() {
  local rc=$?
  [[ -n "$probe_pid" ]] && kill "$probe_pid" 2>/dev/null || true
  for ns in "$A" "$B"; do ip netns del "$ns" 2>/dev/null || true; done
  if ((rc != 0)) && [[ -s "$tmp/probe.err" ]]; then
    echo "--- probe stderr (last 20 lines)"
    tail -n 20 "$tmp/probe.err"
  fi
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
# check_prefix DESCRIPTION EXPECTED-PREFIX ACTUAL
check_prefix() {
  if [[ "$3" == "$2"* ]]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2...], got [$3]"
    failures=$((failures + 1))
  fi
}

# -- topology ------------------------------------------------------------------
# Root without CAP_SYS_ADMIN (some containers) cannot do this: skip there.
if ! ip netns add "$A" 2>/dev/null; then
  echo "SKIP: cannot create a network namespace"
  exit 77
fi
ip netns add "$B"
ip -n "$A" link set lo up

# make_veth NAME: NAME in A, its peer NAMEp in B, both up.
make_veth() {
  ip -n "$A" link add "$1" type veth peer name "$1p" netns "$B"
  ip -n "$A" link set "$1" up
  ip -n "$B" link set "$1p" up
}
make_veth g0
make_veth g1
ip -n "$A" link set g1 multicast off

per_socket=$(ip netns exec "$A" cat /proc/sys/net/ipv4/igmp_max_memberships)
max_msf=$(ip netns exec "$A" cat /proc/sys/net/ipv4/igmp_max_msf)
echo "namespace $A: igmp_max_memberships=$per_socket igmp_max_msf=$max_msf"

# -- the kernel's view -----------------------------------------------------------
# igmp DEV: "GROUP USERS" per line, sorted, for the groups in 239.0.0.0/8 on
# DEV (USERS = how many sockets joined it). /proc/net/igmp prints the group
# as the raw __be32 in hex, i.e. byte-reversed on this little-endian host.
igmp() {
  local dev="" line h users
  while IFS= read -r line; do
    if [[ "$line" =~ ^[0-9]+[[:space:]]+([^[:space:]:]+) ]]; then
      dev=${BASH_REMATCH[1]}
    elif [[ "$dev" == "$1" && "$line" =~ ^[[:space:]]+([0-9A-F]{8})[[:space:]]+([0-9]+) ]]; then
      h=${BASH_REMATCH[1]}
      users=${BASH_REMATCH[2]}
      [[ "${h:6:2}" == EF ]] || continue
      printf '%d.%d.%d.%d %s\n' "0x${h:6:2}" "0x${h:4:2}" "0x${h:2:2}" \
        "0x${h:0:2}" "$users"
    fi
  done < <(ip netns exec "$A" cat /proc/net/igmp) | sort -V
}
igmp_groups() { igmp "$1" | cut -d' ' -f1; }
igmp_count() { igmp "$1" | wc -l; }
igmp_has() { igmp_groups "$1" | grep -qx "$2" && echo yes || echo no; }

# mcfilter DEV GROUP: the sources of GROUP on DEV as "SOURCE INC EXC", sorted.
# Printed in host order here (ntohl), so the hex reads as the address.
mcfilter() {
  local idx dev mca src inc exc
  local want
  want=$(printf '0x%02x%02x%02x%02x' ${2//./ })
  ip netns exec "$A" cat /proc/net/mcfilter | tail -n +2 |
    while read -r idx dev mca src inc exc; do
      [[ "$dev" == "$1" && "$mca" == "$want" ]] || continue
      printf '%d.%d.%d.%d %s %s\n' "0x${src:2:2}" "0x${src:4:2}" \
        "0x${src:6:2}" "0x${src:8:2}" "$inc" "$exc"
    done | sort -V
}

# -- the probe -------------------------------------------------------------------
# It runs as a coprocess: one command line in, exactly one answer line out.
coproc PROBE { exec ip netns exec "$A" "$probe" 2>"$tmp/probe.err"; }
probe_pid=$PROBE_PID
exec {to_probe}>&"${PROBE[1]}" {from_probe}<&"${PROBE[0]}"

reply=""
ask() { # ask COMMAND...: sets $reply; a probe that stops answering fails
  printf '%s\n' "$*" >&"$to_probe"
  if ! IFS= read -r -t 60 reply <&"$from_probe"; then
    echo "FAIL probe gave no answer to: $*"
    exit 1
  fi
}

IFS= read -r -t 30 reply <&"$from_probe" || true
if [[ "$reply" != ready ]]; then
  echo "FAIL probe did not start: [$reply]"
  exit 1
fi

# Sockets the probe has before it holds any membership (rtnetlink watch,
# CAF's own); helper sockets come and go on top of these.
sockets_open() { find "/proc/$probe_pid/fd" -lname 'socket:*' | wc -l; }
base_sockets=$(sockets_open)

json_field() { # json_field JSON KEY: a top-level number
  sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"
}
active_on() { # active_on JSON DEV
  sed -n "s/.*\"active\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"
}

# -- 1: many groups on one interface -------------------------------------------
declare -A join_ms
for n in 1 2 20 21 150 1000; do
  ask join-range "c$n" g0 239.1.0.0 "$n"
  join_ms[$n]=$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$reply")
  check_prefix "$n groups: all joined" \
    "ok joined=$n pending=0 failed=0 errors=0" "$reply"
  want=$(for ((i = 0; i < n; i++)); do
    echo "239.$((1 + i / 65536)).$((i / 256 % 256)).$((i % 256)) 1"
  done | sort -V)
  got=$(igmp g0)
  check "$n groups: exactly these in /proc/net/igmp on g0, one socket each" \
    "$(md5sum <<<"$want")" "$(md5sum <<<"$got")"
  ask stats
  check "$n groups: stats count them active on g0" "$n" \
    "$(active_on "$reply" g0)"
  check "$n groups: spread over ceil($n/$per_socket) helper sockets" \
    "$(((n + per_socket - 1) / per_socket))" "$(json_field "$reply" sockets)"
  check "$n groups: the probe holds that many more sockets" \
    "$((base_sockets + (n + per_socket - 1) / per_socket))" "$(sockets_open)"
  ask leave-range "c$n" g0 239.1.0.0 "$n"
  check_prefix "$n groups: all left" "ok left=$n errors=0" "$reply"
  check "$n groups: none left in /proc/net/igmp" 0 "$(igmp_count g0)"
  ask stats
  check "$n groups: no helper socket left open" 0 \
    "$(json_field "$reply" sockets)"
done

# -- 2: source-specific joins --------------------------------------------------
ask join s g0 239.2.0.1 10.77.0.1
check "SSM join answers joined" "ok joined 1" "$reply"
ask join s g0 239.2.0.1 10.77.0.2
check "second source of the group answers joined" "ok joined 1" "$reply"
check "SSM: /proc/net/mcfilter lists both sources, INCLUDE" \
  "10.77.0.1 1 0;10.77.0.2 1 0;" "$(mcfilter g0 239.2.0.1 | tr '\n' ';')"
check "SSM: the group is in /proc/net/igmp" yes "$(igmp_has g0 239.2.0.1)"
ask leave s g0 239.2.0.1 10.77.0.1
check "SSM: leaving one source drops only that source" \
  "10.77.0.2 1 0;" "$(mcfilter g0 239.2.0.1 | tr '\n' ';')"
ask leave s g0 239.2.0.1 10.77.0.2
check "SSM: leaving the last source leaves the group" \
  "no" "$(igmp_has g0 239.2.0.1)"
check "SSM: no sources left in mcfilter" "" "$(mcfilter g0 239.2.0.1)"

# More sources of one group than one socket may hold (igmp_max_msf).
nsrc=$((max_msf + 2))
all_ok=yes
want_src=""
for ((i = 1; i <= nsrc; i++)); do
  ask join m g0 239.2.0.2 "10.78.0.$i"
  [[ "$reply" == "ok joined 1" ]] || all_ok="$reply"
  want_src+="10.78.0.$i 1 0;"
done
check "$nsrc sources of one group (igmp_max_msf=$max_msf): all joined" \
  yes "$all_ok"
check "$nsrc sources: all in /proc/net/mcfilter" \
  "$want_src" "$(mcfilter g0 239.2.0.2 | tr '\n' ';')"
check "$nsrc sources: the group is joined by 2 sockets" \
  "239.2.0.2 2" "$(igmp g0 | grep '^239.2.0.2 ')"
ask join m g0 239.2.0.2
check "any-source join of a group that has source-specific joins" \
  "ok joined 1" "$reply"
check "any-source next to source-specific: a third socket joined it" \
  "239.2.0.2 3" "$(igmp g0 | grep '^239.2.0.2 ')"
ask kill m
ask await-count joined 0 5000
check_prefix "the holder of all sources dies: everything released" ok "$reply"
check "after the death: the group is gone from /proc/net/igmp" \
  no "$(igmp_has g0 239.2.0.2)"
check "after the death: no sources left in mcfilter" \
  "" "$(mcfilter g0 239.2.0.2)"

# -- 3: reference counting -----------------------------------------------------
ask join a g0 239.3.0.1
check "holder a joins" "ok joined 1" "$reply"
ask join b g0 239.3.0.1
check "holder b joins the same group: 2 holders" "ok joined 2" "$reply"
check "two holders: joined once in the kernel" "239.3.0.1 1" \
  "$(igmp g0 | grep '^239.3.0.1 ')"
ask leave a g0 239.3.0.1
check "a leaves" ok "$reply"
check "after a leaves, b still holds it: still in /proc/net/igmp" \
  yes "$(igmp_has g0 239.3.0.1)"
ask leave a g0 239.3.0.1
check_prefix "a leaving again is refused" "error not_joined" "$reply"
ask join b g0 239.3.0.1
check "b joins again: b holds 2 references" "ok joined 2" "$reply"
ask leave b g0 239.3.0.1
check "b leaves once: still joined" yes "$(igmp_has g0 239.3.0.1)"
ask leave b g0 239.3.0.1
check "b leaves its last reference: the group is left" \
  no "$(igmp_has g0 239.3.0.1)"
ask list
check "nothing listed after the last release" "[]" "$reply"

# -- 4: holder death -----------------------------------------------------------
ask join d1 g0 239.4.0.1
ask join d1 g0 239.4.0.2
ask join d2 g0 239.4.0.2
ask kill d1
ask await g0 239.4.0.1 gone 5000
check_prefix "d1 dies: its sole membership is released" ok "$reply"
ask await g0 239.4.0.2 joined 1000
check_prefix "d1 dies: the group d2 shares stays joined" ok "$reply"
check "after d1's death: 239.4.0.1 left in the kernel" \
  no "$(igmp_has g0 239.4.0.1)"
check "after d1's death: 239.4.0.2 still in the kernel" \
  yes "$(igmp_has g0 239.4.0.2)"
ask kill d2
ask await g0 239.4.0.2 gone 5000
check_prefix "d2 dies too: the shared group is released" ok "$reply"
check "after both deaths: 239.4.0.2 left in the kernel" \
  no "$(igmp_has g0 239.4.0.2)"

# -- 5: interface down/up, delete/re-create ------------------------------------
nflap=150
ask join-range f g0 239.5.0.0 "$nflap"
check_prefix "$nflap groups for the flap tests joined" \
  "ok joined=$nflap pending=0" "$reply"
ask join f g0 239.6.0.1 10.79.0.1
check "plus one source-specific join" "ok joined 1" "$reply"
total=$((nflap + 1))

ip -n "$A" link set g0 down
ask await-count pending "$total" 5000
check_prefix "g0 down: all $total memberships pending" ok "$reply"
ask await g0 239.5.0.0 pending 1000
ask list
check "g0 down: the reason says so" yes \
  "$(grep -q '"reason":"interface down"' <<<"$reply" && echo yes || echo no)"
check "g0 down: no 239/8 group held in the kernel" 0 "$(igmp_count g0)"
ask stats
check "g0 down: helper sockets closed" 0 "$(json_field "$reply" sockets)"

t0=$(date +%s%N)
ip -n "$A" link set g0 up
ask await-count joined "$total" 10000
check_prefix "g0 up: all $total rejoined" ok "$reply"
rejoin_ms=$((($(date +%s%N) - t0) / 1000000))
check "g0 up: all $nflap groups back in /proc/net/igmp" \
  "$((nflap + 1))" "$(igmp_count g0)"
# Only the source and its INCLUDE mode: the count may read 2. Linux (seen on
# 6.18) restores a group's sources from the IGMPv3 leave "tomb" left when a
# socket drops it while the link is down, then adds our rejoin on top. The
# same happens with a bare socket (join, link down, close, link up, join)
# and the extra count goes with the group when it is left.
check "g0 up: the source-specific join is back in mcfilter" \
  "10.79.0.1 include" \
  "$(mcfilter g0 239.6.0.1 | awk '$2 > 0 && $3 == 0 { print $1, "include" }')"

old_index=$(ip -n "$A" -o link show g0 | cut -d: -f1)
ip -n "$A" link del g0
ask await-count pending "$total" 5000
check_prefix "g0 deleted: all $total pending" ok "$reply"
ask list
check "g0 deleted: the reason says absent" yes \
  "$(grep -q '"reason":"interface absent"' <<<"$reply" && echo yes || echo no)"
make_veth g0
new_index=$(ip -n "$A" -o link show g0 | cut -d: -f1)
check "g0 re-created with a new index" yes \
  "$([[ "$old_index" != "$new_index" ]] && echo yes || echo no)"
ask await-count joined "$total" 10000
check_prefix "g0 re-created: all $total rejoined" ok "$reply"
check "g0 re-created: all groups in /proc/net/igmp on the new g0" \
  "$total" "$(igmp_count g0)"
check "g0 re-created: the source-specific join is in mcfilter" \
  "10.79.0.1 1 0" "$(mcfilter g0 239.6.0.1)"
ask stats
check "g0 re-created: as many helper sockets as before" \
  "$(((total + per_socket - 1) / per_socket))" \
  "$(json_field "$reply" sockets)"

# Linux renames links that are up, and reports it under the new name only.
ask join r g0 239.10.0.1
check "a membership on g0 before a rename" "ok joined 1" "$reply"
ip -n "$A" link set g0 name g9
ask await g0 239.10.0.1 pending 5000
check_prefix "g0 renamed to g9: the membership on g0 is pending" ok "$reply"
check "g0 renamed: nothing of ours stays joined on g9" \
  no "$(igmp_has g9 239.10.0.1)"
ip -n "$A" link set g9 name g0
ask await g0 239.10.0.1 joined 5000
check_prefix "renamed back to g0: rejoined" ok "$reply"
check "renamed back: in /proc/net/igmp on g0" yes "$(igmp_has g0 239.10.0.1)"
ask leave r g0 239.10.0.1
ask await-count joined "$total" 5000
check_prefix "the rename left the other memberships joined" ok "$reply"

# -- 6: a manager restart keeps everything ------------------------------------
before=$(igmp g0)
ask list
list_before=$reply
ask restart
check_prefix "the supervisor restarts a killed manager" "ok ms=" "$reply"
restart_ms=${reply#ok ms=}
ask list
check "after the restart the manager lists the same memberships" \
  "$list_before" "$reply"
check "after the restart the kernel holds the same groups" \
  "$(md5sum <<<"$before")" "$(md5sum <<<"$(igmp g0)")"
# The new manager watches links and holders again.
ip -n "$A" link set g0 down
ask await-count pending "$total" 5000
check_prefix "after the restart, g0 down is noticed" ok "$reply"
ip -n "$A" link set g0 up
ask await-count joined "$total" 10000
check_prefix "after the restart, g0 up rejoins" ok "$reply"
ask kill f
ask await-count joined 0 5000
check_prefix "after the restart, the holder's death releases all" ok "$reply"
check "after the restart and the death, the kernel holds nothing" \
  0 "$(igmp_count g0)"

# -- 7: interfaces that come later, interfaces by index --------------------------
ask join w g2 239.7.0.1
check_prefix "an unknown interface is refused" "error unknown_interface" \
  "$reply"
ask join w g2 239.7.0.1 --wait
check "with --wait it is accepted as pending" \
  "ok pending 1 interface absent" "$reply"
make_veth g2
ask await g2 239.7.0.1 joined 5000
check_prefix "g2 appears: the waiting membership joins" ok "$reply"
check "g2 appears: the group is in /proc/net/igmp" \
  yes "$(igmp_has g2 239.7.0.1)"
g0_index=$(ip -n "$A" -o link show g0 | cut -d: -f1)
ask join w "$g0_index" 239.7.0.2
check "join by interface index" "ok joined 1" "$reply"
check "join by index: in /proc/net/igmp on g0" yes "$(igmp_has g0 239.7.0.2)"
ask leave w g0 239.7.0.2
check "leave by name of a join by index" ok "$reply"
check "left by name: gone from g0" no "$(igmp_has g0 239.7.0.2)"
ask leave w g2 239.7.0.1
ask join w 99999 239.7.0.3
check_prefix "an unknown index is refused" "error unknown_interface" "$reply"

# -- 8: error answers, and errors leave other groups alone ---------------------
ask join e g0 239.8.0.1
check "a bystander membership" "ok joined 1" "$reply"
ask join e g0 10.1.2.3
check_prefix "a unicast group is refused" "error not_multicast" "$reply"
ask join e g0 239.8.0.2 239.8.0.3
check_prefix "a multicast source is refused" "error not_multicast" "$reply"
ask join e g1 239.8.0.4
check_prefix "an interface without multicast is refused" \
  "error no_multicast" "$reply"
check "the refused join left nothing on g1" 0 "$(igmp_count g1)"
# The kernel's own refusal: with igmp_max_memberships at 0 (this namespace
# only) every join fails with ENOBUFS.
ip netns exec "$A" sysctl -qw net.ipv4.igmp_max_memberships=0
ask join e g0 239.8.0.5
ip netns exec "$A" sysctl -qw "net.ipv4.igmp_max_memberships=$per_socket"
check_prefix "the kernel's refusal is answered with its errno text" \
  "error kernel_refused" "$reply"
check "  ... which names ENOBUFS' text" yes \
  "$(grep -qi 'no buffer space' <<<"$reply" && echo yes || echo no)"
check "a refused join is not in the kernel" no "$(igmp_has g0 239.8.0.5)"
ask list
check "a refused join is not kept as a membership" no \
  "$(grep -q '239.8.0.5' <<<"$reply" && echo yes || echo no)"
check "after all the errors the bystander is still joined" \
  yes "$(igmp_has g0 239.8.0.1)"
ask stats
check "stats count the kernel's refusal" 1 "$(json_field "$reply" joins_failed)"
ask leave e g0 239.8.0.1

# A refusal on a rejoin cannot be answered to anyone: the membership turns
# failed, says why, and is retried on the next link change.
ask join k g0 239.8.1.1
check "a membership to be refused on its rejoin" "ok joined 1" "$reply"
ip -n "$A" link set g0 down
ask await g0 239.8.1.1 pending 5000
ip netns exec "$A" sysctl -qw net.ipv4.igmp_max_memberships=0
ip -n "$A" link set g0 up
ask await g0 239.8.1.1 failed 5000
ip netns exec "$A" sysctl -qw "net.ipv4.igmp_max_memberships=$per_socket"
check_prefix "the kernel refuses the rejoin: failed" ok "$reply"
ask list
check "failed says why" yes \
  "$(grep -qi '"reason":"[^"]*no buffer space' <<<"$reply" && echo yes || echo no)"
ask stats
check "stats count it failed" 1 "$(json_field "$reply" failed)"
ip -n "$A" link set g0 down
ask await g0 239.8.1.1 pending 5000
ip -n "$A" link set g0 up
ask await g0 239.8.1.1 joined 5000
check_prefix "the next link change retries it: joined" ok "$reply"
check "retried: in /proc/net/igmp" yes "$(igmp_has g0 239.8.1.1)"
ask kill k
ask await g0 239.8.1.1 gone 5000

# -- the end: nothing leaked ---------------------------------------------------
ask list
check "no membership left at the end" "[]" "$reply"
ask stats
check "no helper socket left at the end" 0 "$(json_field "$reply" sockets)"
check "the probe holds as many sockets as when it started" \
  "$base_sockets" "$(sockets_open)"

# -- 9: removing the manager drops what it still holds -------------------------
ask join-range z g0 239.9.0.0 30
check_prefix "30 groups held when the manager is removed" \
  "ok joined=30" "$reply"
ask stop
check "the supervisor stops the manager and deletes its spec" ok "$reply"
check "the manager removed: the kernel holds none of its groups" \
  0 "$(igmp_count g0)"
# Its rtnetlink watch is gone too, hence one socket fewer than at the start.
check "the manager removed: its helper and netlink sockets are closed" \
  "$((base_sockets - 1))" "$(sockets_open)"
ask quit

echo "figures: join-range 1000 groups ${join_ms[1000]} ms (150: ${join_ms[150]} ms);" \
  "link up to all $total rejoined <= ${rejoin_ms} ms (20 ms polls);" \
  "manager restart ${restart_ms} ms"
if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all group manager namespace checks passed"
