/* The kernel data path's map layout (issue 16), shared by the tc program
 * (relay.bpf.c, C, compiled with clang -target bpf) and its loader
 * (dataplane/kernel_datapath.cpp, C++). Plain C with fixed-width kernel
 * types only, so that both compilers lay the structs out alike.
 *
 * rules       HASH   rule_key -> rule_value: one entry per rule, keyed by
 *                    (input ifindex, group, port, source or 0).
 * groups      HASH   group_key -> __u32 CASTOR_GROUP_* flags: the groups
 *                    some rule has on the interface (a malformed frame to
 *                    one is counted and dropped, as the packet path does),
 *                    and which kinds of rule they have, so that a frame
 *                    takes one rules lookup, not two, where the group has
 *                    no source-specific rule (the common case).
 * rule_stats  PERCPU_ARRAY[CASTOR_MAX_RULES] of rule_counts, by rule slot.
 * out_stats   PERCPU_ARRAY[CASTOR_MAX_OUTPUT_SLOTS] of out_counts.
 * in_stats    PERCPU_ARRAY[1] of in_counts: frames and drops by reason
 *                    (indexes as castor::packet::drop_reason).
 * Slots are the loader's; a slot is zeroed before it is reused. */
#ifndef CASTOR_RELAY_MAPS_H
#define CASTOR_RELAY_MAPS_H

#include <linux/types.h>

#define CASTOR_MAX_OUTPUTS 16
#define CASTOR_MAX_RULES 16384
#define CASTOR_MAX_OUTPUT_SLOTS 65536
#define CASTOR_DROP_REASONS 16

/* groups value: the kinds of rule (interface, group) has, on any port */
#define CASTOR_GROUP_ANY_SOURCE 1u      /* a rule with source 0 */
#define CASTOR_GROUP_SOURCE_SPECIFIC 2u /* a rule with a source */

/* output flags */
#define CASTOR_OUT_MULTICAST 1u /* destination is a group: its MAC */
#define CASTOR_OUT_TTL_DEC 2u   /* ttl = "decrement" */
#define CASTOR_OUT_TOS_KEEP 4u  /* tos = "preserve" */

/* Addresses and ports in network order, as they are in the packet. */
struct castor_rule_key {
  __u32 ifindex;
  __u32 group;
  __u32 source; /* 0: any source */
  __u16 port;
  __u16 pad;
};

struct castor_output {
  __u32 ifindex; /* 0: the interface is missing (counted as send_error) */
  __u32 slot;    /* out_stats index */
  __u32 daddr;
  __u32 saddr; /* the output interface's address, as the packet path */
  __u16 dport;
  __u16 sport; /* the relay's shared source port, or source_port */
  __u16 mtu;   /* larger IP packets count as too_big */
  __u8 ttl;
  __u8 tos;
  __u8 flags;
  __u8 smac[6];
  __u8 pad[3];
};

struct castor_rule_value {
  __u32 slot;  /* rule_stats index */
  __u32 count; /* outputs in use */
  struct castor_output outputs[CASTOR_MAX_OUTPUTS];
};

struct castor_group_key {
  __u32 ifindex;
  __u32 group;
};

struct castor_rule_counts {
  __u64 packets;
  __u64 bytes; /* UDP payload bytes */
};

struct castor_out_counts {
  __u64 packets;
  __u64 bytes;
  __u64 too_big;
  __u64 ttl_expired;
  __u64 send_error;
  __u64 qdisc_drop; /* the output's qdisc refused the clone */
};

struct castor_in_counts {
  __u64 frames;
  __u64 drops[CASTOR_DROP_REASONS];
};

/* The drop reasons the program counts, as castor::packet::drop_reason. */
#define CASTOR_DROP_TRUNCATED 0
#define CASTOR_DROP_BAD_HEADER 2
#define CASTOR_DROP_IP_OPTIONS 3
#define CASTOR_DROP_BAD_LENGTH 4
#define CASTOR_DROP_FRAGMENT 5
#define CASTOR_DROP_BAD_CHECKSUM 7

#endif
