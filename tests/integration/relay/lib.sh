# shellcheck shell=bash
# Network-namespace harness for castor-relay's integration tests and
# bench/relay: the relay's topology, the tools, the daemon and castorctl.
# Source it; it defines functions only (and a cleanup trap once cst_init
# runs). The generic pieces (namespaces, veths, processes by PID, bounded
# waits, the cleanup trap, cst_check/cst_finish) are tests/integration/
# netns.sh's, which this sources.
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
# IPv6 (issue 19): with CST_FAMILY=6 the same scripts run over IPv6. The
# topology gets IPv6 addresses instead (with `nodad`: no DAD wait in fresh
# namespaces), and every IPv4 address a script gives to cst_rule, cst_send,
# cst_recv, cst_pass or cst_wait_igmp is mapped to its IPv6 counterpart
# (cst_map6): a group a.b.c.d to ff1e::/16 plus its low 24 bits (232/8, the
# IPv4 SSM range, to ff3e::/32), so that castor-send --streams counts up
# alike; a unicast a.b.c.d to fd00:a:b:c::d (a /24 to a /64); 0.0.0.0 to
# ::; ADDR:PORT to [ADDR]:PORT. Memberships are then read from
# /proc/net/igmp6. CST_FAMILY=dual builds both families' addresses and
# maps nothing, for scripts that mix them (relay_mixed_family).
#
# Variables after cst_init/cst_topology:
#   CST_NS_SEND CST_NS_RELAY CST_NS_RECV[1..3]   namespace names
#   CST_WORK                                     scratch directory
#   CST_SEND CST_RECV                            castor-send / castor-recv

# shellcheck source=../netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"

# cst_init PURPOSE TOOLS_DIR: checks root (exit 77 without), names the
# namespaces, makes the scratch directory and installs the cleanup trap.
# PURPOSE is a short word, e.g. "str" for the streams test.
cst_init() {
  local purpose=$1 tools=$2
  CST_NAME=${CST_NAME:-relay-$purpose}
  cst_setup "$purpose"
  CST_SEND=$tools/castor-send
  CST_RECV=$tools/castor-recv
  for bin in "$CST_SEND" "$CST_RECV"; do
    [[ -x $bin ]] || { echo "$CST_NAME: $bin missing" >&2; exit 1; }
  done
  CST_NS_SEND=${CST_PREFIX}sender
  CST_NS_RELAY=${CST_PREFIX}relay
  CST_NS_RECV=("" "${CST_PREFIX}recv1" "${CST_PREFIX}recv2" "${CST_PREFIX}recv3")
}

# cst_require_relay RELAY CASTORCTL: exit 77 while the daemon is not built
# yet, so that the suite stays green until it lands.
cst_require_relay() {
  CST_RELAY=$1 CST_CTL=$2
  [[ -x $CST_RELAY ]] || cst_skip "castor-relay not built ($CST_RELAY)"
  [[ -x $CST_CTL ]] || cst_skip "castorctl not built ($CST_CTL)"
}

# -- address families (see above) ----------------------------------------------

cst_family() { echo "${CST_FAMILY:-4}"; }

# cst_map6 ARGS...: each argument, NUL-terminated, with an IPv4 address
# (alone, ADDR:PORT or ADDR/LEN) mapped to IPv6 when CST_FAMILY=6; as it is
# otherwise.
cst_map6() {
  if [[ $(cst_family) != 6 ]]; then
    [[ $# -eq 0 ]] || printf '%s\0' "$@"
    return
  fi
  local arg addr tail
  for arg in "$@"; do
    if [[ $arg =~ ^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)(:[0-9]+|/[0-9]+)?$ ]]; then
      addr=$(cst_v6_of "${BASH_REMATCH[1]}") tail=${BASH_REMATCH[2]}
      case $tail in
        :*) arg="[$addr]$tail" ;;
        /*) arg="$addr/$(((${tail#/} >= 24) ? 64 : 48))" ;;
        *) arg=$addr ;;
      esac
    fi
    printf '%s\0' "$arg"
  done
}

# cst_v6_of A.B.C.D: the IPv6 counterpart (see above), in RFC 5952 text.
# Pure bash: a config of 200 rules maps 600 addresses.
cst_v6_of() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  if ((a == 0 && b == 0 && c == 0 && d == 0)); then
    echo "::"
  elif ((a >= 224 && a <= 239)); then
    cst_v6_text $((a == 232 ? 0xff3e : 0xff1e)) 0 0 0 0 0 "$b" $((c << 8 | d))
  else
    cst_v6_text 0xfd00 "$a" "$b" "$c" 0 0 0 "$d"
  fi
}

# cst_v6_text G1..G8: eight 16-bit groups as RFC 5952 text (lower-case hex,
# the longest run of two or more zero groups, the first such, as "::").
cst_v6_text() {
  local g=("$@") i best=-1 best_len=1 run=0 out=""
  for ((i = 0; i < 8; i++)); do
    if ((g[i] == 0)); then
      run=$((run + 1))
      ((run > best_len)) && best=$((i - run + 1)) best_len=$run
    else
      run=0
    fi
  done
  for ((i = 0; i < 8; i++)); do
    if ((i == best)); then
      out+="::"
      i=$((i + best_len - 1))
      continue
    fi
    [[ -z $out || $out == *: ]] || out+=":"
    out+=$(printf '%x' "${g[i]}")
  done
  echo "$out"
}

# cst_a ADDR: one address (or ADDR:PORT, ADDR/LEN) as the family wants it.
cst_a() { cst_map6 "$1" | tr -d '\0'; }

# cst_addr_add NS DEV CIDR: an address of the test's family (IPv6 with
# nodad); with CST_FAMILY=dual, the IPv4 one and its IPv6 counterpart.
cst_addr_add() {
  case $(cst_family) in
    6) ip -n "$1" addr add "$(cst_a "$3")" dev "$2" nodad ;;
    dual)
      ip -n "$1" addr add "$3" dev "$2"
      ip -n "$1" addr add "$(CST_FAMILY=6 cst_a "$3")" dev "$2" nodad
      ;;
    *) ip -n "$1" addr add "$3" dev "$2" ;;
  esac
}

# cst_route_add NS PREFIX VIA: a unicast route of the family (both: dual).
cst_route_add() {
  case $(cst_family) in
    6) ip -n "$1" -6 route add "$(cst_a "$2")" via "$(cst_a "$3")" ;;
    dual)
      ip -n "$1" route add "$2" via "$3"
      ip -n "$1" -6 route add "$(CST_FAMILY=6 cst_a "$2")" \
        via "$(CST_FAMILY=6 cst_a "$3")"
      ;;
    *) ip -n "$1" route add "$2" via "$3" ;;
  esac
}

# cst_input_link: the sender's link into the relay, s0 -- in0, with the
# sender's two addresses and its multicast route (bounded wait for both
# ends). relay_interface_flap re-creates it after deleting it.
cst_input_link() {
  cst_veth "$CST_NS_SEND" s0 "$CST_NS_RELAY" in0
  cst_addr_add "$CST_NS_SEND" s0 10.50.0.1/24
  cst_addr_add "$CST_NS_RELAY" in0 10.50.0.2/24
  cst_addr_add "$CST_NS_SEND" s0 10.50.0.3/24
  cst_mroute "$CST_NS_SEND" s0
  cst_wait_link "$CST_NS_SEND" s0
  cst_wait_link "$CST_NS_RELAY" in0
}

# cst_topology RECEIVERS: builds the chain with 1..3 receiver namespaces.
cst_topology() {
  local receivers=${1:-1} k ns
  for ns in "$CST_NS_SEND" "$CST_NS_RELAY" "${CST_NS_RECV[@]:1:receivers}"; do
    cst_add_ns "$ns"
    cst_rp_filter_off "$ns"
  done
  cst_input_link
  for ((k = 1; k <= receivers; k++)); do
    ns=${CST_NS_RECV[$k]}
    cst_veth "$CST_NS_RELAY" "out$k" "$ns" c0
    cst_addr_add "$CST_NS_RELAY" "out$k" "10.50.$k.1/24"
    cst_addr_add "$ns" c0 "10.50.$k.2/24"
    cst_mroute "$ns" c0
    cst_route_add "$ns" 10.50.0.0/24 "10.50.$k.1"
  done
  for ((k = 1; k <= receivers; k++)); do
    cst_wait_link "$CST_NS_RELAY" "out$k"
    cst_wait_link "${CST_NS_RECV[$k]}" c0
  done
}

# cst_reset_topology RECEIVERS: deletes the namespaces and builds them anew,
# so that what one contender left in the kernel (multicast routes, socket
# and membership state) cannot affect the next. Stop their processes first.
cst_reset_topology() {
  cst_del_all_ns
  cst_topology "$@"
}

# cst_recv NAME RECEIVER_NS ARGS...: a castor-recv in the background,
# joined and ready when this returns. Bounded by its own --duration (give
# one in ARGS; default 10 s).
cst_recv() {
  local name=$1 ns=$2 args=()
  shift 2
  mapfile -d '' args < <(cst_map6 "$@")
  cst_start "$name" "$ns" "$CST_RECV" "${args[@]}"
  cst_wait_for "$name" "castor-recv: ready" 10
}

# cst_recv_result NAME SECONDS: waits for the receiver to finish, prints
# its report and returns its exit status (124 if it did not end in time).
cst_recv_result() { cst_result "$@"; }

# cst_send ARGS...: castor-send in the sender namespace, in the foreground,
# bounded by its --count/--duration and by timeout(1).
cst_send() {
  local args=()
  mapfile -d '' args < <(cst_map6 "$@")
  timeout 60 ip netns exec "$CST_NS_SEND" "$CST_SEND" --interface s0 \
    "${args[@]}"
}

# cst_start_sender NAME ARGS...: castor-send on s0 in the background (its
# addresses mapped like cst_send's), for cst_result or cst_stop.
cst_start_sender() {
  local name=$1 args=()
  shift
  mapfile -d '' args < <(cst_map6 "$@")
  cst_start "$name" "$CST_NS_SEND" "$CST_SEND" --interface s0 "${args[@]}"
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
# port. CST_INGRESS, when set, replaces INGRESS: ctest runs a script
# written for ingress = "packet" once more over the UDP sockets
# (CST_INGRESS=socket).
cst_relay_config() {
  local file=$1 workers=$2 ingress=${CST_INGRESS:-$3}
  CST_SOCK=$CST_WORK/relay.sock
  cat >"$file" <<TOML
[relay]
workers = $workers
ingress = "$ingress"
control_socket = "$CST_SOCK"
log_level = "info"
TOML
  # The data path under test (issue 16): ctest runs the scripts that take
  # it once per data path, with CST_DATAPATH=kernel the second time.
  if [[ -n ${CST_DATAPATH:-} ]]; then
    echo "datapath = \"$CST_DATAPATH\"" >>"$file"
  fi
  printf '\n[metrics]\nenabled = false\n' >>"$file"
}

# cst_rule FILE NAME IN_GROUP IN_PORT OUTPUT... [source=S]
# Each OUTPUT is IF:ADDR:PORT[:TTL]; input interface is in0.
cst_rule() {
  local file=$1 name=$2 group=$3 port=$4 source="" outs=() spec
  group=$(cst_a "$group")
  shift 4
  for spec in "$@"; do
    if [[ $spec == source=* ]]; then
      source=$(cst_a "${spec#source=}")
      continue
    fi
    local ifname addr oport ttl
    IFS=: read -r ifname addr oport ttl <<<"$spec"
    addr=$(cst_a "$addr")
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
  local config=$1
  cst_start relay "$CST_NS_RELAY" "$CST_RELAY" -f "$config" -n
  cst_until 15 cst_relay_answers_or_ended || true
  if ! kill -0 "$(cst_pid relay)" 2>/dev/null; then
    echo "$CST_NAME: castor-relay exited:" >&2
    cst_out relay >&2
    return 1
  fi
  cst_ctl ping >/dev/null || {
    echo "$CST_NAME: castor-relay does not answer ping" >&2
    cst_out relay >&2
    return 1
  }
  cst_wait_workers_running 10 || return 1
  # The kernel data path must really be the one forwarding, not a fallback.
  if [[ ${CST_DATAPATH:-} == kernel ]] && ! grep -qx 'kdp-in0' <<<"$(cst_workers)"; then
    echo "$CST_NAME: datapath = kernel but no kdp-in0 worker:" >&2
    cst_ctl workers >&2 || true
    return 1
  fi
  # CST_KERNEL_ONLY=1 (scripts whose every rule the kernel can serve):
  # every rule must be on the kernel path, none left to the forwarders.
  if [[ ${CST_DATAPATH:-} == kernel && ${CST_KERNEL_ONLY:-} == 1 ]] &&
    ! cst_until 10 cst_all_rules_kernel; then
    echo "$CST_NAME: CST_KERNEL_ONLY=1 but not every rule takes the kernel path:" >&2
    cst_ctl workers >&2 || true
    return 1
  fi
  cst_wait_ruled_groups "$config" 10
}

# cst_all_rules_kernel: castorctl workers' rule table (after the blank
# line) lists every rule on the kernel path.
cst_all_rules_kernel() {
  local table
  table=$(cst_ctl workers 2>/dev/null) || return 1
  awk 'f && NF { n++; if ($2 != "kernel") bad++ } $1 == "RULE" { f = 1 }
       END { exit !(n > 0 && bad == 0) }' <<<"$table"
}

cst_relay_answers_or_ended() {
  cst_ctl ping >/dev/null 2>&1 || ! kill -0 "$(cst_pid relay)" 2>/dev/null
}

# cst_wait_ruled_groups CONFIG SECONDS: until in0 in the relay namespace has
# joined every input group of CONFIG's rules: forwarding can only be
# expected once the joins are done.
cst_wait_ruled_groups() {
  local config=$1 limit=$2
  CST_WANT=$(grep -o 'interface = "in0", group = "[0-9a-f.:]*"' "$config" |
               grep -o '[0-9a-f.:]*"$' | tr -d '"' | sort -u)
  cst_until "$limit" cst_ruled_groups_joined && return 0
  echo "$CST_NAME: the relay did not join these ruled groups on in0:" >&2
  head <<<"$CST_MISSING" >&2
  return 1
}

cst_ruled_groups_joined() {
  CST_MISSING=$(comm -23 <(echo "$CST_WANT") \
                  <(cst_igmp_groups "$CST_NS_RELAY" in0 | sort -u))
  [[ -z $CST_MISSING ]]
}

# cst_workers: the worker ids, one a line (castorctl workers, first column).
# The table ends at the first blank line (the kernel data path's rule
# paths follow it). castorctl's output is read whole first: a reader that
# stops early would end it with SIGPIPE, which pipefail takes for a failure.
cst_workers() {
  local table
  table=$(cst_ctl workers) || return 1
  awk 'NR > 1 && !NF { exit } NR > 1 { print $1 }' <<<"$table"
}

# cst_wait_workers_running SECONDS: until every worker's state is running.
cst_wait_workers_running() {
  cst_until "$1" cst_workers_running && return 0
  echo "$CST_NAME: workers not all running after ${1}s:" >&2
  echo "$CST_TABLE" >&2
  return 1
}

cst_workers_running() {
  CST_TABLE=$(cst_ctl workers 2>/dev/null) || true
  [[ -n $CST_TABLE ]] &&
    awk 'NR > 1 && !NF { exit } NR > 1 { n++; if ($3 != "running") bad++ }
         END { exit !(n > 0 && bad == 0) }' <<<"$CST_TABLE"
}

# cst_igmp_groups NS DEV: the groups joined on DEV in NS, dotted, sorted,
# without 224.0.0.1 (all-hosts, always joined).
# Both families' memberships with CST_FAMILY=dual; IPv6 ones without the
# link-local groups (all-nodes, solicited-node) with 6 or dual.
cst_igmp_groups() {
  {
    [[ $(cst_family) == 6 ]] ||
      cst_igmp "$1" | awk -v d="$2" '$1 == d && $2 != "224.0.0.1" { print $2 }'
    [[ $(cst_family) == 4 ]] || cst_mld_groups "$1" "$2"
  } | sort -V
}

# cst_mld_groups NS DEV: the IPv6 groups joined on DEV (/proc/net/igmp6),
# in RFC 5952 text, without ff01::/16 and ff02::/16.
cst_mld_groups() {
  cst_in "$1" cat /proc/net/igmp6 | python3 -c '
import ipaddress, sys
for line in sys.stdin:
    f = line.split()
    if len(f) >= 3 and f[1] == sys.argv[1]:
        if not (f[2][:2] == "ff" and f[2][3] in "12"):
            print(ipaddress.IPv6Address(int(f[2], 16)))' "$2"
}

# cst_wait_igmp NS DEV EXPECTED SECONDS: until the joined groups on DEV are
# exactly EXPECTED (newline-separated, sorted -V).
cst_wait_igmp() {
  local ns=$1 dev=$2 expected=$3 limit=$4 mapped=()
  if [[ $(cst_family) == 6 ]]; then
    # shellcheck disable=SC2086 # one address a word
    mapfile -d '' mapped < <(cst_map6 $expected)
    expected=$(printf '%s\n' "${mapped[@]}" | sort -V)
  fi
  cst_until "$limit" cst_igmp_is "$ns" "$dev" "$expected" && return 0
  echo "$CST_NAME: groups on $dev in $ns:" >&2
  echo "$CST_GOT" >&2
  echo "expected:" >&2
  echo "$expected" >&2
  return 1
}

cst_igmp_is() {
  CST_GOT=$(cst_igmp_groups "$1" "$2")
  [[ $CST_GOT == "$3" ]]
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
cst_stop_relay() { cst_stop relay 10; }

# cst_rule_packets RULE: packets counted on the rule's input (castorctl
# stats, the "in" row).
cst_rule_packets() {
  cst_ctl stats | awk -v r="$1" '$1 == r && $2 == "in" { print $3; exit }'
}

# cst_rule_listed NAME: castorctl list shows a rule of that name.
cst_rule_listed() { cst_ctl list | awk -v r="$1" '$1 == r { f = 1 } END { exit !f }'; }

# cst_ingress_drops REASON: what every worker dropped before any rule for
# REASON (no_rule, kernel_drops, or a malformed frame's reason such as
# truncated or fragment), from castorctl --json stats; 0 if none.
cst_ingress_drops() {
  cst_ctl --json stats | python3 -c '
import json, sys
i = json.load(sys.stdin)["ingress"]
r = sys.argv[1]
print(i[r] if r in i else i["malformed"].get(r, 0))' "$1"
}

# cst_output_counter RULE FIELD: the sum over the rule's outputs of FIELD
# (packets, bytes, or a drop reason such as too_big), castorctl --json stats.
cst_output_counter() {
  cst_ctl --json stats | python3 -c '
import json, sys
rule, field = sys.argv[1], sys.argv[2]
r = next(x for x in json.load(sys.stdin)["rules"] if x["name"] == rule)
print(sum(o[field] if field in o else o.get("drops", {}).get(field, 0)
          for o in r["outputs"]))' "$1" "$2"
}

# cst_mtu NS DEV MTU: sets a link's MTU.
cst_mtu() { ip -n "$1" link set dev "$2" mtu "$3"; }
