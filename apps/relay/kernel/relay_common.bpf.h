// What the kernel data path's IPv4 part (relay.bpf.c) and IPv6 part
// (relay6.bpf.h) share: the counters, indexed by the loader's rule and
// output slots (one slot scheme for both families, so that `castorctl
// stats` reads one set of maps), the max_frame setting and the drop count.
// Included once, by relay.bpf.c (one program, one object: relay6.bpf.h
// says why).
#ifndef CASTOR_RELAY_COMMON_BPF_H
#define CASTOR_RELAY_COMMON_BPF_H

#include "relay_maps.h"
#include <bpf/bpf_helpers.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CASTOR_MAX_RULES);
  __type(key, __u32);
  __type(value, struct castor_rule_counts);
} rule_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CASTOR_MAX_OUTPUT_SLOTS);
  __type(key, __u32);
  __type(value, struct castor_out_counts);
} out_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct castor_in_counts);
} in_stats SEC(".maps");

/// [relay] max_frame: longer IP packets count as truncated.
__u32 max_frame = 2048;

/// A 64-bit sum of 32-bit words folded to a 32-bit partial checksum (what
/// bpf_l4_csum_replace and bpf_csum_update take). A word is taken out of a
/// one's complement sum by adding its complement.
static __always_inline __u32 fold64(__u64 s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  return (__u32)s;
}

static __always_inline int drop(struct castor_in_counts* in, int reason) {
  in->frames++;
  if (reason >= 0 && reason < CASTOR_DROP_REASONS)
    in->drops[reason]++;
  return TC_ACT_SHOT;
}

#endif
