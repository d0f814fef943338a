/* The kernel data path's IPv6 maps (issue 19), next to the IPv4 ones of
 * relay_maps.h, shared by the tc program (relay6.bpf.h, C) and its loader
 * (dataplane/kernel_entries.cpp, C++). Same rules as relay_maps.h: plain C,
 * fixed-width kernel types, addresses and ports in network order.
 *
 * rules6      HASH   rule_key6 -> rule_value6: one entry per IPv6 rule
 *                    (same family in and out), keyed by (input ifindex,
 *                    group, port, source or ::).
 * groups6     HASH   group_key6 -> __u32 CASTOR_GROUP_* kinds: the IPv6
 *                    groups some rule has on the interface (a malformed
 *                    frame to one is counted and dropped), and whether a
 *                    source-specific rule, an any-source one or both have
 *                    it: a frame takes only the rule lookups that can hit.
 * The counters are the IPv4 maps' (rule_stats, out_stats, in_stats), with
 * slots from the same allocator: `castorctl stats` reads one scheme. */
#ifndef CASTOR_RELAY_MAPS6_H
#define CASTOR_RELAY_MAPS6_H

#include "relay_maps.h" /* the group flags CASTOR_GROUP_* too */

/* The IPv6 walk's bound, as castor::packet::max_ipv6_extension_headers. */
#define CASTOR_MAX_IPV6_EXT_HEADERS 8

/* Starts with a castor_group_key6: the program looks the group up with a
 * pointer to the rule key it builds. */
struct castor_rule_key6 {
  __u32 ifindex;
  __u8 group[16];
  __u8 source[16]; /* all zero: any source */
  __u16 port;
  __u16 pad;
};

/* saddr and daddr in the IPv6 header's order, so that the program sums
 * and writes them as one 32-byte block. */
struct castor_output6 {
  __u32 ifindex;  /* 0: interface missing, or no stable source address */
  __u32 slot;     /* out_stats index */
  __u8 saddr[16]; /* the output's stable global or ULA address */
  __u8 daddr[16];
  __u16 dport;
  __u16 sport;
  __u16 mtu; /* larger IPv6 packets count as too_big */
  __u8 hop_limit;
  __u8 tclass;
  __u8 flags; /* CASTOR_OUT_* */
  __u8 smac[6];
  __u8 pad;
};

struct castor_rule_value6 {
  __u32 slot;  /* rule_stats index */
  __u32 count; /* outputs in use */
  struct castor_output6 outputs[CASTOR_MAX_OUTPUTS];
};

struct castor_group_key6 {
  __u32 ifindex;
  __u8 group[16];
};

/* The drop reasons the IPv6 part adds, as castor::packet::drop_reason. */
#define CASTOR_DROP_NOT_UDP 6
#define CASTOR_DROP_HOP_BY_HOP 10
#define CASTOR_DROP_EXT_HEADERS 11
#define CASTOR_DROP_ZERO_CHECKSUM 12

#endif
