# shellcheck shell=bash
# Network-namespace harness for castor-relay's integration tests and
# bench/relay. Source it; it defines functions only (and a cleanup trap once
# cst_init runs).
#
# Topology (cst_topology N, N = 1..3 receivers):
#
#   sender ns                relay ns                    receiver ns k
#   s0 10.50.0.1/24 --veth-- in0   10.50.0.2/24
#     (+ 10.50.0.3, a second          outk  10.50.k.1/24 --veth-- c0 10.50.k.2/24
#      source for filter tests)
#
# Namespaces are named "cst<purpose><pid>-<role>" (sender, relay, recv1..3),
# so that parallel runs and other engineers' tests never collide, and are
# removed on every exit path. 224.0.0.0/4 is routed out of s0 in the sender
# and out of c0 in every receiver; rp_filter is off everywhere (sources in
# 10.50.0.0/24 are not routable from the receivers). Every process the
# harness starts is recorded and stopped by its PID; every wait is bounded.
#
# Variables after cst_init/cst_topology:
#   CST_NS_SEND CST_NS_RELAY CST_NS_RECV[1..3]   namespace names
#   CST_WORK                                     scratch directory
#   CST_SEND CST_RECV                            castor-send / castor-recv

CST_PIDS=()
CST_NS_ALL=()
declare -A CST_PID_OF=()
declare -A CST_ENDED=()

# cst_init PURPOSE TOOLS_DIR: checks root (exit 77 without), names the
# namespaces, makes the scratch directory and installs the cleanup trap.
# PURPOSE is a short word, e.g. "str" for the streams test.
cst_init() {
  local purpose=$1 tools=$2
  CST_NAME=${CST_NAME:-relay-$purpose}
  if [[ $(id -u) -ne 0 ]]; then
    echo "$CST_NAME: needs root for network namespaces; skipped"
    exit 77
  fi
  command -v ip >/dev/null || { echo "$CST_NAME: no ip(8); skipped"; exit 77; }
  CST_SEND=$tools/castor-send
  CST_RECV=$tools/castor-recv
  for bin in "$CST_SEND" "$CST_RECV"; do
    [[ -x $bin ]] || { echo "$CST_NAME: $bin missing" >&2; exit 1; }
  done
  local prefix="cst${purpose}$$-"
  CST_NS_SEND=${prefix}sender
  CST_NS_RELAY=${prefix}relay
  CST_NS_RECV=("" "${prefix}recv1" "${prefix}recv2" "${prefix}recv3")
  CST_WORK=$(mktemp -d "/tmp/cst${purpose}.XXXXXX")
  trap cst_cleanup EXIT
  trap 'exit 130' INT TERM
}

# cst_require_relay RELAY CASTORCTL: exit 77 while the daemon is not built
# yet, so that the suite stays green until it lands.
cst_require_relay() {
  CST_RELAY=$1 CST_CTL=$2
  if [[ ! -x $CST_RELAY ]]; then
    echo "$CST_NAME: castor-relay not built ($CST_RELAY); skipped"
    exit 77
  fi
  if [[ ! -x $CST_CTL ]]; then
    echo "$CST_NAME: castorctl not built ($CST_CTL); skipped"
    exit 77
  fi
}

cst_cleanup() {
  local pid ns
  for pid in "${CST_PIDS[@]}"; do
    [[ -n ${CST_ENDED[$pid]:-} ]] || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CST_PIDS[@]}"; do
    [[ -n ${CST_ENDED[$pid]:-} ]] && continue
    cst_wait_pid "$pid" 3 || kill -KILL "$pid" 2>/dev/null || true
  done
  for ns in "${CST_NS_ALL[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  [[ -n ${CST_WORK:-} ]] && rm -rf "$CST_WORK"
}

# cst_wait_pid PID SECONDS: waits (bounded) for a process we started to
# end; true if it did. An ended process is forgotten, so that cleanup never
# signals a PID the system has since given to someone else.
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

cst_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cst_add_ns() {
  ip netns add "$1"
  CST_NS_ALL+=("$1")
  cst_in "$1" ip link set lo up
  cst_in "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0
}

# cst_wait_link NS DEV: until the veth end reports LOWER_UP (bounded 5 s).
cst_wait_link() {
  local ns=$1 dev=$2 i
  for ((i = 0; i < 100; i++)); do
    cst_in "$ns" ip -o link show "$dev" | grep -q LOWER_UP && return 0
    sleep 0.05
  done
  echo "$CST_NAME: $dev in $ns did not come up" >&2
  return 1
}

# cst_topology RECEIVERS: builds the chain with 1..3 receiver namespaces.
cst_topology() {
  local receivers=${1:-1} k
  cst_add_ns "$CST_NS_SEND"
  cst_add_ns "$CST_NS_RELAY"
  ip link add s0 netns "$CST_NS_SEND" type veth peer name in0 \
    netns "$CST_NS_RELAY"
  cst_in "$CST_NS_SEND" ip addr add 10.50.0.1/24 dev s0
  cst_in "$CST_NS_SEND" ip addr add 10.50.0.3/24 dev s0
  cst_in "$CST_NS_RELAY" ip addr add 10.50.0.2/24 dev in0
  cst_in "$CST_NS_SEND" ip link set s0 up
  cst_in "$CST_NS_RELAY" ip link set in0 up
  cst_in "$CST_NS_SEND" ip route add 224.0.0.0/4 dev s0
  for ((k = 1; k <= receivers; k++)); do
    local ns=${CST_NS_RECV[$k]}
    cst_add_ns "$ns"
    ip link add "out$k" netns "$CST_NS_RELAY" type veth peer name c0 \
      netns "$ns"
    cst_in "$CST_NS_RELAY" ip addr add "10.50.$k.1/24" dev "out$k"
    cst_in "$ns" ip addr add "10.50.$k.2/24" dev c0
    cst_in "$CST_NS_RELAY" ip link set "out$k" up
    cst_in "$ns" ip link set c0 up
    cst_in "$ns" ip route add 224.0.0.0/4 dev c0
    cst_in "$ns" ip route add 10.50.0.0/24 via "10.50.$k.1"
  done
  cst_wait_link "$CST_NS_SEND" s0
  cst_wait_link "$CST_NS_RELAY" in0
  for ((k = 1; k <= receivers; k++)); do
    cst_wait_link "$CST_NS_RELAY" "out$k"
    cst_wait_link "${CST_NS_RECV[$k]}" c0
  done
}

# cst_reset_topology RECEIVERS: deletes the namespaces and builds them anew,
# so that what one contender left in the kernel (multicast routes, socket
# and membership state) cannot affect the next. Stop their processes first.
cst_reset_topology() {
  local ns
  for ns in "${CST_NS_ALL[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  CST_NS_ALL=()
  cst_topology "$@"
}

# cst_start NAME NS CMD...: runs CMD in NS in the background, in a session
# of its own, output (both streams) to $CST_WORK/NAME.out. Records its PID.
cst_start() {
  local name=$1 ns=$2
  shift 2
  setsid ip netns exec "$ns" "$@" >"$CST_WORK/$name.out" 2>&1 &
  CST_PIDS+=($!)
  CST_PID_OF[$name]=$!
}

cst_pid() { echo "${CST_PID_OF[$1]}"; }
cst_out() { cat "$CST_WORK/$1.out"; }

# cst_wait_for NAME PATTERN SECONDS: until NAME's output matches PATTERN;
# fails if the process ends first or time runs out.
cst_wait_for() {
  local name=$1 pattern=$2 limit=$3 i pid=${CST_PID_OF[$1]}
  for ((i = 0; i < limit * 50; i++)); do
    grep -q -- "$pattern" "$CST_WORK/$name.out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "$CST_NAME: $name did not print '$pattern':" >&2
  cst_out "$name" >&2
  return 1
}

# cst_recv NAME RECEIVER_NS ARGS...: a castor-recv in the background,
# joined and ready when this returns. Bounded by its own --duration (give
# one in ARGS; default 10 s).
cst_recv() {
  local name=$1 ns=$2
  shift 2
  cst_start "$name" "$ns" "$CST_RECV" "$@"
  cst_wait_for "$name" "castor-recv: ready" 10
}

# cst_recv_result NAME SECONDS: waits for the receiver to finish, prints
# its report and returns its exit status (124 if it did not end in time).
cst_recv_result() {
  local name=$1 limit=$2 pid=${CST_PID_OF[$1]} rc=0
  if ! cst_wait_pid "$pid" "$limit"; then
    echo "$CST_NAME: $name still running after ${limit}s" >&2
    kill -TERM "$pid" 2>/dev/null || true
    cst_wait_pid "$pid" 3 || true
    cst_out "$name"
    return 124
  fi
  wait "$pid" 2>/dev/null || rc=$?
  cst_out "$name"
  return "$rc"
}

# cst_send ARGS...: castor-send in the sender namespace, in the foreground,
# bounded by its --count/--duration and by timeout(1).
cst_send() {
  timeout 60 ip netns exec "$CST_NS_SEND" "$CST_SEND" --interface s0 "$@"
}

# cst_pass NAME NS RECV_ARGS... -- SEND_ARGS...: the usual check in one
# call: a receiver NAME in NS, then the sender, then the receiver's verdict
# (its exit status; give it --expect-* flags to make it judge).
cst_pass() {
  local name=$1 ns=$2 recv_args=()
  shift 2
  while [[ $# -gt 0 && $1 != -- ]]; do
    recv_args+=("$1")
    shift
  done
  shift
  cst_recv "$name" "$ns" "${recv_args[@]}" || return 1
  cst_send "$@" || return 1
  cst_recv_result "$name" 40
}

# cst_field KEY TEXT: the value of KEY=VALUE in a line of TEXT.
cst_field() {
  sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2" | head -n1
}

# cst_summary NAME: the receiver's `summary ...` line.
cst_summary() { grep '^summary ' "$CST_WORK/$1.out" | tail -n1; }

# cst_stream_row NAME STREAM: the receiver's table row of one stream id:
# "stream received lost dup reorder p50 p99 max"; empty if never seen.
cst_stream_row() {
  awk -v s="$2" '$1 == s { print; exit }' "$CST_WORK/$1.out"
}

# -- the relay ---------------------------------------------------------------

# cst_relay_config FILE WORKERS INGRESS: the [relay] table; rules are
# appended by the caller (cst_rule). Metrics off: tests do not need the
# port.
cst_relay_config() {
  local file=$1 workers=$2 ingress=$3
  CST_SOCK=$CST_WORK/relay.sock
  cat >"$file" <<TOML
[relay]
workers = $workers
ingress = "$ingress"
control_socket = "$CST_SOCK"
log_level = "info"

[metrics]
enabled = false
TOML
}

# cst_rule FILE NAME IN_GROUP IN_PORT OUTPUT... [source=S]
# Each OUTPUT is IF:ADDR:PORT[:TTL]; input interface is in0.
cst_rule() {
  local file=$1 name=$2 group=$3 port=$4 source="" outs=() spec
  shift 4
  for spec in "$@"; do
    if [[ $spec == source=* ]]; then
      source=${spec#source=}
      continue
    fi
    local ifname addr oport ttl
    IFS=: read -r ifname addr oport ttl <<<"$spec"
    outs+=("{ interface = \"$ifname\", address = \"$addr\", port = $oport, ttl = ${ttl:-1} }")
  done
  {
    echo
    echo "[[rule]]"
    echo "name = \"$name\""
    if [[ -n $source ]]; then
      echo "input = { interface = \"in0\", group = \"$group\", port = $port, source = \"$source\" }"
    else
      echo "input = { interface = \"in0\", group = \"$group\", port = $port }"
    fi
    echo "outputs = ["
    local o
    for o in "${outs[@]}"; do echo "  $o,"; done
    echo "]"
  } >>"$file"
}

cst_ctl() { timeout 10 "$CST_CTL" -u "$CST_SOCK" "$@"; }

# cst_start_relay CONFIG: castor-relay in the relay namespace, in the
# foreground of its own session; returns once it answers ping and every
# worker is running (bounded 15 s).
cst_start_relay() {
  local config=$1 i
  cst_start relay "$CST_NS_RELAY" "$CST_RELAY" -f "$config" -n
  for ((i = 0; i < 300; i++)); do
    if cst_ctl ping >/dev/null 2>&1; then
      break
    fi
    kill -0 "$(cst_pid relay)" 2>/dev/null || {
      echo "$CST_NAME: castor-relay exited:" >&2
      cst_out relay >&2
      return 1
    }
    sleep 0.05
  done
  cst_ctl ping >/dev/null || {
    echo "$CST_NAME: castor-relay does not answer ping" >&2
    cst_out relay >&2
    return 1
  }
  cst_wait_workers_running 10 || return 1
  cst_wait_ruled_groups "$config" 10
}

# cst_wait_ruled_groups CONFIG SECONDS: until in0 in the relay namespace has
# joined every input group of CONFIG's rules: forwarding can only be
# expected once the joins are done.
cst_wait_ruled_groups() {
  local config=$1 limit=$2 want missing i
  want=$(grep -o 'interface = "in0", group = "[0-9.]*"' "$config" |
           grep -o '[0-9.]*"$' | tr -d '"' | sort -u)
  for ((i = 0; i < limit * 20; i++)); do
    missing=$(comm -23 <(echo "$want") \
                <(cst_igmp_groups "$CST_NS_RELAY" in0 | sort))
    [[ -z $missing ]] && return 0
    sleep 0.05
  done
  echo "$CST_NAME: the relay did not join these ruled groups on in0:" >&2
  head <<<"$missing" >&2
  return 1
}

# cst_workers: the worker ids, one a line (castorctl workers, first column).
cst_workers() { cst_ctl workers | awk 'NR > 1 && NF { print $1 }'; }

# cst_wait_workers_running SECONDS: until every worker's state is running.
cst_wait_workers_running() {
  local limit=$1 i table
  for ((i = 0; i < limit * 20; i++)); do
    table=$(cst_ctl workers 2>/dev/null) || true
    if [[ -n $table ]] && awk 'NR > 1 && NF { n++; if ($3 != "running") bad++ }
                               END { exit !(n > 0 && bad == 0) }' <<<"$table"
    then
      return 0
    fi
    sleep 0.05
  done
  echo "$CST_NAME: workers not all running after ${limit}s:" >&2
  echo "$table" >&2
  return 1
}

# cst_igmp_groups NS DEV: the groups joined on DEV in NS, dotted, sorted,
# without 224.0.0.1 (all-hosts, always joined). /proc/net/igmp prints each
# group as 8 hex digits of the address in host (little-endian) order.
cst_igmp_groups() {
  local ns=$1 dev=$2
  local line current="" h
  while IFS= read -r line; do
    if [[ $line =~ ^[0-9]+[[:space:]]+([^[:space:]]+) ]]; then
      current=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]+([0-9A-Fa-f]{8}) && $current == "$dev" ]]
    then
      h=${BASH_REMATCH[1]}
      printf '%d.%d.%d.%d\n' "0x${h:6:2}" "0x${h:4:2}" "0x${h:2:2}" \
        "0x${h:0:2}"
    fi
  done < <(cst_in "$ns" cat /proc/net/igmp) | { grep -v '^224\.0\.0\.1$' || true; } | sort -V
}

# cst_wait_igmp NS DEV EXPECTED SECONDS: until the joined groups on DEV are
# exactly EXPECTED (newline-separated, sorted -V).
cst_wait_igmp() {
  local ns=$1 dev=$2 expected=$3 limit=$4 i got
  for ((i = 0; i < limit * 20; i++)); do
    got=$(cst_igmp_groups "$ns" "$dev")
    [[ $got == "$expected" ]] && return 0
    sleep 0.05
  done
  echo "$CST_NAME: groups on $dev in $ns:" >&2
  echo "$got" >&2
  echo "expected:" >&2
  echo "$expected" >&2
  return 1
}

# -- verdicts ----------------------------------------------------------------

CST_FAILURES=0
cst_check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAILED: $what"
    CST_FAILURES=$((CST_FAILURES + 1))
  fi
}

cst_finish() {
  if [[ $CST_FAILURES -ne 0 ]]; then
    echo "$CST_NAME: $CST_FAILURES check(s) failed"
    exit 1
  fi
  echo "$CST_NAME: all checks passed"
}

# -- helpers for relay scripts ------------------------------------------------

# cst_ip_plus ADDR N: the IPv4 address N after ADDR.
cst_ip_plus() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  local n=$(((a << 24 | b << 16 | c << 8 | d) + $2))
  echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}

# cst_relay_main TOOLS_DIR RELAY CASTORCTL PURPOSE: the common start of a
# relay script: root and binaries (77 if missing), names, cleanup.
cst_relay_main() {
  if [[ $# -ne 4 ]]; then
    echo "usage: $CST_NAME.sh TOOLS_DIR CASTOR_RELAY CASTORCTL" >&2
    exit 2
  fi
  cst_init "$4" "$1"
  cst_require_relay "$2" "$3"
}

# cst_stop_relay: SIGTERM, then waits (bounded 10 s); returns the daemon's
# exit status (124 if it had to be killed).
cst_stop_relay() {
  local pid rc=0
  pid=$(cst_pid relay)
  kill -TERM "$pid" 2>/dev/null || true
  if ! cst_wait_pid "$pid" 10; then
    kill -KILL "$pid" 2>/dev/null || true
    return 124
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# cst_rule_packets RULE: packets counted on the rule's input (castorctl
# stats, the "in" row).
cst_rule_packets() {
  cst_ctl stats | awk -v r="$1" '$1 == r && $2 == "in" { print $3; exit }'
}

# cst_rule_listed NAME: castorctl list shows a rule of that name.
cst_rule_listed() { cst_ctl list | awk -v r="$1" '$1 == r { f = 1 } END { exit !f }'; }
