#!/usr/bin/env bash
# What the capture socket on an input sees besides the input's own frames
# (issue 15, docs/relay.md "VLANs and what the capture sees"), and that
# castor-relay relays none of it with a rule on the input in0:
#   - VLAN 100's frames, tagged on the wire. The kernel hands them to the
#     socket bound to in0 too, untagged: moved to in0.100 when in0 has that
#     sub-interface, else marked PACKET_OTHERHOST. A rule on in0.100 relays
#     them (when the kernel has VLAN sub-interfaces, CONFIG_VLAN_8021Q);
#   - frames to another host's MAC, on a promiscuous in0;
#   - frames for an upper device of in0 (a macvlan), which the kernel hands
#     the socket on in0 as well, moved to the macvlan: what it does with a
#     VLAN sub-interface's, on every kernel;
#   - the relay's own output on in0, to another rule's group and port on
#     in0: not captured again, so not relayed again (no loop).
# Traffic: hand-built frames (raw_frames.py), 20 per case, all in one flow
# of the parent rule's group and port. One worker, so one socket on in0
# that sees them in order: each case is followed by a marker of 20
# untagged frames, and once the marker is counted, the case's frames were
# relayed or dropped.
#
# usage: relay_vlan.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_vlan
cst_relay_main "$@" vln
cst_need python3
cst_topology 1
relay_ns=$CST_NS_RELAY
group=239.54.1.1
port=5001
n=20

ip -n "$relay_ns" link set in0 promisc on
have_vlan=0
if ip -n "$relay_ns" link add link in0 name in0.100 type vlan id 100 \
     2>/dev/null; then
  have_vlan=1
  ip -n "$relay_ns" addr add 10.51.0.2/24 dev in0.100
  ip -n "$relay_ns" link set in0.100 up
  cst_wait_link "$relay_ns" in0.100
else
  echo "$CST_NAME: this kernel has no VLAN sub-interfaces" \
       "(CONFIG_VLAN_8021Q): the in0.100 rule is not tested, tagged frames" \
       "on in0 still are"
fi
ip -n "$relay_ns" link add link in0 name mv0 type macvlan mode bridge
ip -n "$relay_ns" link set mv0 up
cst_wait_link "$relay_ns" mv0
mv0_mac=$(ip netns exec "$relay_ns" cat /sys/class/net/mv0/address)

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
cst_rule "$config" parent "$group" "$port" out1:239.64.1.1:6001
# Out of in0 (the relay refuses an output equal to the rule's own input),
# to what another rule takes in on in0: relayed again if captured again.
cst_rule "$config" to_in0 239.54.1.2 5002 in0:239.54.1.3:5003:4
cst_rule "$config" own 239.54.1.3 5003 out1:239.64.1.3:6003
if ((have_vlan)); then
  cat >>"$config" <<TOML

[[rule]]
name = "vlan100"
input = { interface = "in0.100", group = "$group", port = $port }
outputs = [ { interface = "out1", address = "239.64.1.2", port = 6002, ttl = 1 } ]
TOML
fi
cst_start_relay "$config"
if ((have_vlan)); then
  cst_wait_igmp "$relay_ns" in0.100 "$group" 10
fi

# frames ARGS...: raw_frames.py from the sender, n frames to the parent
# rule's group and port unless ARGS say otherwise.
frames() {
  timeout 30 ip netns exec "$CST_NS_SEND" python3 "$here/raw_frames.py" \
    --interface s0 --source 10.50.0.1 --group "$group" --port "$port" \
    --count "$n" "$@"
}

packets_at_least() { (($(cst_rule_packets "$1") >= $2)); }

# relayed_after_marker RULE EXPECTED: sends the marker, waits (bounded)
# until RULE has counted EXPECTED packets, and prints its count then.
relayed_after_marker() {
  frames
  cst_until 10 packets_at_least "$1" "$2" || true
  cst_rule_packets "$1"
}

frames
cst_until 10 packets_at_least parent "$n" || true
cst_expect "untagged frames on in0 are relayed" "$n" \
  "$(cst_rule_packets parent)"
relayed=$n

frames --vlan 100
relayed=$((relayed + n))
cst_expect "VLAN 100's frames are not relayed by the in0 rule" "$relayed" \
  "$(relayed_after_marker parent "$relayed")"
if ((have_vlan)); then
  cst_until 10 packets_at_least vlan100 "$n" || true
  cst_expect "VLAN 100's frames are relayed by the in0.100 rule" "$n" \
    "$(cst_rule_packets vlan100)"
fi

frames --dst-mac 02:00:5e:00:00:09
relayed=$((relayed + n))
cst_expect "frames to another host's MAC are not relayed" "$relayed" \
  "$(relayed_after_marker parent "$relayed")"

frames --dst-mac "$mv0_mac"
relayed=$((relayed + n))
cst_expect "frames for the macvlan on in0 are not relayed by the in0 rule" \
  "$relayed" "$(relayed_after_marker parent "$relayed")"

frames --group 239.54.1.2 --port 5002
cst_until 10 packets_at_least to_in0 "$n" || true
cst_expect "frames for an output on in0 are relayed" "$n" \
  "$(cst_rule_packets to_in0)"
relayed=$((relayed + n))
relayed_after_marker parent "$relayed" >/dev/null
cst_expect "the relay's own output on in0 is not captured again" 0 \
  "$(cst_rule_packets own)"

cst_ctl stats || true
cst_stop_relay || true
cst_finish
