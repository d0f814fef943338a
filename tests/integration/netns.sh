# shellcheck shell=bash
# The network-namespace plumbing every integration suite shares (the group
# manager's, net's multicast, packet's, the relay's lib.sh, the relay demo,
# bench/relay). Source it; it defines functions only, and installs a cleanup
# trap once cst_setup runs.
#
# The rules it keeps for every suite:
#   - traffic only inside namespaces the script creates, named
#     "cst<TAG><pid>-<role>" so that parallel runs never collide;
#   - every namespace created is recorded and deleted on every exit path
#     (EXIT, and INT/TERM/HUP, which exit through EXIT);
#   - every background process is recorded by PID and stopped by that PID
#     only; a process seen to end is forgotten, so that cleanup never
#     signals a PID the system has since given to someone else;
#   - every wait is bounded in tries and time.
#
# Variables after cst_setup:
#   CST_NAME    the script's name in messages (set it before, or TAG is used)
#   CST_PREFIX  "cst<TAG><pid>-": prefix the namespace names with it
#   CST_WORK    scratch directory, removed on exit; cst_start writes each
#               process's output (both streams) to $CST_WORK/NAME.out
#
# Call these functions in the script's own shell, never inside $(...): the
# records of processes and namespaces are shell variables, and a subshell's
# changes to them are lost.

CST_PIDS=()
CST_NS_ALL=()
CST_ON_EXIT=()
CST_FAILURES=0
declare -A CST_PID_OF=()
declare -A CST_ENDED=()

# cst_skip WHY: ends the script as skipped (77, ctest's SKIP_RETURN_CODE).
cst_skip() {
  echo "${CST_NAME:-${0##*/}}: $1; skipped"
  exit 77
}

# cst_need CMD...: skips unless every CMD is installed.
cst_need() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || cst_skip "no $cmd"
  done
}

# cst_setup TAG: root and a usable `ip netns` (skips without), CST_PREFIX,
# CST_WORK and the cleanup trap. TAG is a short word, e.g. "grp".
cst_setup() {
  local tag=$1
  CST_NAME=${CST_NAME:-$tag}
  [[ $(id -u) -eq 0 ]] || cst_skip "needs root for network namespaces"
  cst_need ip
  ip netns list >/dev/null 2>&1 || cst_skip "no usable 'ip netns'"
  # shellcheck disable=SC2034 # for the scripts that source this
  CST_PREFIX="cst${tag}$$-"
  CST_WORK=$(mktemp -d "/tmp/cst${tag}.XXXXXX")
  trap cst_cleanup EXIT
  trap 'exit 130' INT TERM HUP
}

# cst_on_exit FUNCTION: cleanup calls FUNCTION EXIT_STATUS after it has
# stopped the processes and deleted the namespaces, before it removes
# CST_WORK.
cst_on_exit() { CST_ON_EXIT+=("$1"); }

cst_cleanup() {
  local rc=$? pid hook
  for pid in "${CST_PIDS[@]}"; do
    [[ -n ${CST_ENDED[$pid]:-} ]] || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CST_PIDS[@]}"; do
    [[ -n ${CST_ENDED[$pid]:-} ]] && continue
    cst_wait_pid "$pid" 3 || kill -KILL "$pid" 2>/dev/null || true
  done
  cst_del_all_ns
  for hook in "${CST_ON_EXIT[@]}"; do
    "$hook" "$rc" || true
  done
  [[ -z ${CST_WORK:-} ]] || rm -rf "$CST_WORK"
}

# -- namespaces and links ------------------------------------------------------

cst_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# cst_add_ns NS...: creates each namespace, records it for cleanup and sets
# its loopback up. Root without CAP_SYS_ADMIN (some containers) cannot
# create one: the first failure skips.
cst_add_ns() {
  local ns err
  for ns in "$@"; do
    if ! err=$(ip netns add "$ns" 2>&1); then
      ((${#CST_NS_ALL[@]} > 0)) || cst_skip "cannot create a network namespace ($err)"
      echo "$CST_NAME: ip netns add $ns: $err" >&2
      return 1
    fi
    CST_NS_ALL+=("$ns")
    ip -n "$ns" link set lo up
  done
}

# cst_del_all_ns: deletes every namespace recorded, and forgets them.
cst_del_all_ns() {
  local ns
  for ns in "${CST_NS_ALL[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  CST_NS_ALL=()
}

# cst_rp_filter_off NS [DEV...]: reverse-path filtering off in NS (all,
# default and each DEV), so that a receiver accepts sources it has no route
# back to.
cst_rp_filter_off() {
  local ns=$1 dev keys=(net.ipv4.conf.all.rp_filter=0
                         net.ipv4.conf.default.rp_filter=0)
  shift
  for dev in "$@"; do keys+=("net.ipv4.conf.$dev.rp_filter=0"); done
  cst_in "$ns" sysctl -qw "${keys[@]}"
}

# cst_veth NS1 DEV1 NS2 DEV2 [ADDR1 [ADDR2]]: a veth pair, DEV1 in NS1 and
# DEV2 in NS2 (which may be the same), each with its address (CIDR; "" for
# none), both set up. They report LOWER_UP a little later: cst_wait_link.
cst_veth() {
  local ns1=$1 dev1=$2 ns2=$3 dev2=$4 addr1=${5:-} addr2=${6:-}
  ip link add "$dev1" netns "$ns1" type veth peer name "$dev2" netns "$ns2"
  [[ -z $addr1 ]] || ip -n "$ns1" addr add "$addr1" dev "$dev1"
  [[ -z $addr2 ]] || ip -n "$ns2" addr add "$addr2" dev "$dev2"
  ip -n "$ns1" link set "$dev1" up
  ip -n "$ns2" link set "$dev2" up
}

# cst_mroute NS DEV [PREFIX]: routes multicast (default 224.0.0.0/4) out of
# DEV in NS, so that a socket without IP_MULTICAST_IF sends there.
cst_mroute() { ip -n "$1" route add "${3:-224.0.0.0/4}" dev "$2"; }

cst_link_up() { ip -n "$1" -o link show "$2" 2>/dev/null | grep -q LOWER_UP; }

# cst_wait_link NS DEV: until DEV in NS reports LOWER_UP (bounded 5 s).
cst_wait_link() {
  cst_until 5 cst_link_up "$1" "$2" && return 0
  echo "$CST_NAME: $2 in $1 did not come up" >&2
  return 1
}

# cst_igmp NS: the multicast memberships of every device in NS, one
# "DEV GROUP USERS" a line (USERS: how many sockets joined it).
# /proc/net/igmp prints each group as 8 hex digits of the address in host
# (little-endian) order.
cst_igmp() {
  local line dev="" h
  while IFS= read -r line; do
    if [[ $line =~ ^[0-9]+[[:space:]]+([^[:space:]:]+) ]]; then
      dev=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]+([0-9A-Fa-f]{8})[[:space:]]+([0-9]+) ]]; then
      h=${BASH_REMATCH[1]}
      printf '%s %d.%d.%d.%d %s\n' "$dev" "0x${h:6:2}" "0x${h:4:2}" \
        "0x${h:2:2}" "0x${h:0:2}" "${BASH_REMATCH[2]}"
    fi
  done < <(cst_in "$1" cat /proc/net/igmp)
}

# -- bounded waits ---------------------------------------------------------------

# cst_until SECONDS CMD...: runs CMD every 50 ms until it succeeds (true)
# or SECONDS (a whole number) have passed (false); at most 20 tries a
# second.
cst_until() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 20; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# -- background processes ----------------------------------------------------------

# cst_start NAME NS CMD...: runs CMD in NS in the background, in a session
# of its own, output (both streams) to $CST_WORK/NAME.out. Records its PID
# (`ip netns exec` execs CMD, so the PID is CMD's).
cst_start() {
  local name=$1 ns=$2
  shift 2
  setsid ip netns exec "$ns" "$@" >"$CST_WORK/$name.out" 2>&1 &
  cst_track "$name" $!
}

# cst_track NAME PID: records a process started otherwise (a coprocess).
cst_track() {
  CST_PIDS+=("$2")
  CST_PID_OF[$1]=$2
}

cst_pid() { echo "${CST_PID_OF[$1]:-}"; }
cst_out() { cat "$CST_WORK/$1.out"; }

# cst_wait_pid PID SECONDS: waits (bounded) for a process we started to
# end; true if it did, and then it is forgotten.
cst_wait_pid() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 50; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      CST_ENDED[$pid]=1
      return 0
    fi
    sleep 0.02
  done
  return 1
}

# cst_wait_for NAME PATTERN SECONDS: until NAME's output matches PATTERN;
# fails if the process ends first or time runs out.
cst_wait_for() {
  local name=$1 pattern=$2 limit=$3 i pid=${CST_PID_OF[$1]}
  for ((i = 0; i < limit * 50; i++)); do
    grep -q -- "$pattern" "$CST_WORK/$name.out" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      # It may have printed it just before it ended.
      grep -q -- "$pattern" "$CST_WORK/$name.out" 2>/dev/null && return 0
      break
    fi
    sleep 0.02
  done
  echo "$CST_NAME: $name did not print '$pattern':" >&2
  cst_out "$name" >&2
  return 1
}

# cst_stop NAME [SECONDS]: SIGTERM, then waits (bounded, default 10 s);
# returns the process's exit status (124 if it had to be killed). True for
# a NAME never started.
cst_stop() {
  local pid rc=0
  pid=$(cst_pid "$1")
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! cst_wait_pid "$pid" "${2:-10}"; then
    kill -KILL "$pid" 2>/dev/null || true
    cst_wait_pid "$pid" 3 || true
    return 124
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# cst_result NAME SECONDS: waits for NAME to end by itself, prints its
# output and returns its exit status (124, after stopping it, if it did not
# end in time).
cst_result() {
  local name=$1 limit=$2 pid=${CST_PID_OF[$1]} rc=0
  if ! cst_wait_pid "$pid" "$limit"; then
    echo "$CST_NAME: $name still running after ${limit}s" >&2
    cst_stop "$name" 3 || true
    rc=124
  else
    wait "$pid" 2>/dev/null || rc=$?
  fi
  cst_out "$name"
  return "$rc"
}

# -- verdicts ------------------------------------------------------------------

# cst_check WHAT CMD...: one check, passed when CMD succeeds.
cst_check() {
  local what=$1 rc=0
  shift
  "$@" || rc=$?
  if ((rc == 0)); then
    echo "ok: $what"
  else
    echo "FAILED: $what (exit $rc)"
    CST_FAILURES=$((CST_FAILURES + 1))
  fi
}

# cst_expect WHAT EXPECTED ACTUAL: one check, passed when they are equal.
cst_expect() {
  if [[ $2 == "$3" ]]; then
    echo "ok: $1"
  else
    echo "FAILED: $1: expected [$2], got [$3]"
    CST_FAILURES=$((CST_FAILURES + 1))
  fi
}

# cst_expect_prefix WHAT PREFIX ACTUAL: passed when ACTUAL starts with PREFIX.
cst_expect_prefix() {
  if [[ $3 == "$2"* ]]; then
    echo "ok: $1"
  else
    echo "FAILED: $1: expected [$2...], got [$3]"
    CST_FAILURES=$((CST_FAILURES + 1))
  fi
}

# cst_finish: exit 1 if any check failed.
cst_finish() {
  if ((CST_FAILURES != 0)); then
    echo "$CST_NAME: $CST_FAILURES check(s) failed"
    exit 1
  fi
  echo "$CST_NAME: all checks passed"
}
