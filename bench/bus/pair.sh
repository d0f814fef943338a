# shellcheck shell=bash
# bench/bus/pair.sh: the two namespaces run.sh and profile.sh measure in
# (sourced after tests/integration/netns.sh and cst_setup).
#
# bus_bench_pair NET: a publisher namespace P (device p0, NET.1/24) and a
# subscriber namespace S (e0, NET.2/24) on a veth pair, multicast routed
# out of both; sets P and S.
bus_bench_pair() {
  local net=$1
  P=${CST_PREFIX}p
  S=${CST_PREFIX}s
  cst_add_ns "$P" "$S"
  cst_veth "$P" p0 "$S" e0 "$net.1/24" "$net.2/24"
  cst_wait_link "$P" p0
  cst_wait_link "$S" e0
  # With GSO=1 the publisher hands runs of equal datagrams to its kernel
  # as one UDP GSO message. A veth would carry such a message to the other
  # namespace whole, which no real link does: segment it at the sender's
  # device, as a NIC without UDP segmentation offload does, so that the
  # link, the loss rule and the receiver's kernel see single datagrams.
  ip -n "$P" link set p0 gso_max_segs 1
  cst_mroute "$P" p0
  cst_mroute "$S" e0
}
