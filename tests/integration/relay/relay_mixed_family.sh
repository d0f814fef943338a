#!/usr/bin/env bash
# Mixed-family rules (issue 19), on a dual-stack topology (CST_FAMILY=dual:
# both families' addresses, IPv6 ones with nodad):
#   - IPv4 in, IPv6 out: 239.56.1.1:5001 -> [ff3e::66:1]:6001, received by
#     a source-specific (MLDv2) join whose source is out1's ULA: the relay
#     sends from the output interface's stable unique-local address, never
#     a link-local one;
#   - IPv6 in, IPv4 out: [ff1e::56:2]:5002 -> 239.66.1.2:6002;
#   - IPv6 in, IPv6 unicast out, hop limit decremented: [ff1e::56:3]:5003
#     -> [fd00:a:32:1::2]:7003.
# Every datagram arrives exactly once, and the relay counts them.
# With CST_DATAPATH=kernel (issue 19) the IPv6 -> IPv6 rule takes the
# kernel path (its hop limit decrement and ttl_expired are the tc
# program's), and the mixed-family ones stay on the packet path, which
# castorctl workers says with the reason.
#
# usage: relay_mixed_family.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_mixed_family
export CST_FAMILY=dual
cst_relay_main "$@" mix
cst_topology 1
recv_ns=${CST_NS_RECV[1]}
out1_ula=fd00:a:32:1::1 # 10.50.1.1's counterpart (lib.sh, cst_map6)

config=$CST_WORK/relay.toml
cst_relay_config "$config" 2 packet
cat >>"$config" <<'TOML'

[[rule]]
name = "v4-to-v6"
input = { interface = "in0", group = "239.56.1.1", port = 5001 }
outputs = [ { interface = "out1", address = "ff3e::66:1", port = 6001, ttl = 4 } ]

[[rule]]
name = "v6-to-v4"
input = { interface = "in0", group = "ff1e::56:2", port = 5002 }
outputs = [ { interface = "out1", address = "239.66.1.2", port = 6002 } ]

[[rule]]
name = "v6-unicast"
input = { interface = "in0", group = "ff1e::56:3", port = 5003 }
outputs = [ { interface = "out1", address = "fd00:a:32:1::2", port = 7003, ttl = "decrement", tos = "preserve" } ]
TOML
cst_start_relay "$config"

if [[ ${CST_DATAPATH:-} == kernel ]]; then
  # path_is RULE PATH [WHY]: castorctl workers' rule table says so.
  path_is() {
    local table
    table=$(cst_ctl workers) || return 1
    CST_GOT=$(awk -v r="$1" 'f && $1 == r { $1 = ""; print substr($0, 2); exit }
                             $1 == "RULE" { f = 1 }' <<<"$table")
    [[ $CST_GOT == "$2"* && $CST_GOT == *"${3:-}"* ]]
  }
  cst_check "v6-unicast (IPv6 in and out) takes the kernel path" \
    cst_until 5 path_is v6-unicast kernel
  cst_check "v4-to-v6 takes the packet path, saying why" \
    cst_until 5 path_is v4-to-v6 packet "mixed address families (IPv4 in, IPv6 out)"
  cst_check "v6-to-v4 takes the packet path, saying why" \
    cst_until 5 path_is v6-to-v4 packet "mixed address families (IPv6 in, IPv4 out)"
fi

exact=(--expect-count 1000 --expect-zero-loss --expect-no-duplicates
       --duration 20)
cst_check "IPv4 in, IPv6 out, from out1's ULA (SSM join on it)" \
  cst_pass a "$recv_ns" --group '[ff3e::66:1]:6001' --interface c0 \
  --source "$out1_ula" "${exact[@]}" \
  -- --group 239.56.1.1:5001 --count 1000 --rate 10000
cst_check "IPv6 in, IPv4 out" \
  cst_pass b "$recv_ns" --group 239.66.1.2:6002 --interface c0 "${exact[@]}" \
  -- --group '[ff1e::56:2]:5002' --count 1000 --rate 10000
cst_check "IPv6 in, IPv6 unicast out, hop limit decremented" \
  cst_pass c "$recv_ns" --listen '[::]:7003' "${exact[@]}" \
  -- --group '[ff1e::56:3]:5003' --count 1000 --rate 10000 --ttl 8

counted() {
  local rule n
  for rule in v4-to-v6 v6-to-v4 v6-unicast; do
    n=$(cst_output_counter "$rule" packets)
    echo "rule $rule: $n datagrams sent"
    [[ $n == 1000 ]] || return 1
  done
}
cst_check "output counters match the receivers" counted

# A hop limit of 1 cannot be decremented: dropped and counted as
# ttl_expired, like an IPv4 TTL.
expired_100() { [[ $(cst_output_counter v6-unicast ttl_expired) == 100 ]]; }
expired() {
  cst_send --group '[ff1e::56:3]:5003' --count 100 --rate 10000 --ttl 1 ||
    return 1
  cst_until 5 expired_100 || {
    echo "ttl_expired: $(cst_output_counter v6-unicast ttl_expired)"
    return 1
  }
}
cst_check "hop limit 1 with ttl = decrement: 100 dropped as ttl_expired" expired

cst_check "SIGTERM stops the relay with status 0" cst_stop_relay
cst_finish
