// castor-relay's kernel data path (issue 16): a tc (clsact ingress) program
// per input interface that forwards what the rule maps say, with no
// per-packet work in userspace. The maps' layout is relay_maps.h; the
// loader and the owner of the maps is dataplane/kernel_datapath.cpp, under
// the datapath actor (dataplane/datapath_actor.hpp).
//
// For an IPv4 frame to a group some rule has on this interface:
//   - malformed, fragmented or longer than max_frame: counted under the
//     packet path's drop reason and dropped;
//   - a UDP datagram to a rule's (group, port), from the rule's source if
//     it has one (a source-specific rule wins): for each output, rewrite
//     destination, source address and port, TTL, TOS and MACs, fix both
//     checksums, and clone it to the output's interface; then drop it;
//   - anything else goes on to the stack.
// A unicast output takes its MACs from a FIB lookup. If that finds no
// neighbour (or forwarding is off), one such output per datagram leaves
// last through bpf_redirect_neigh, which resolves the neighbour; any other
// counts as send_error.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <stddef.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "relay_maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif

// The IPv6 part, and the counters and helpers both parts share.
#include "relay6.bpf.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CASTOR_MAX_RULES);
  __type(key, struct castor_rule_key);
  __type(value, struct castor_rule_value);
} rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CASTOR_MAX_RULES);
  __type(key, struct castor_group_key);
  __type(value, __u32);
} groups SEC(".maps");

#define IP_OFF ETH_HLEN
#define IP_CSUM (IP_OFF + offsetof(struct iphdr, check))
#define IP_TOS_WORD IP_OFF /* version/IHL and TOS */
#define IP_TTL_WORD (IP_OFF + offsetof(struct iphdr, ttl)) /* TTL, protocol */
#define IP_SADDR (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DADDR (IP_OFF + offsetof(struct iphdr, daddr))
#define UDP_OFF (IP_OFF + sizeof(struct iphdr))
#define UDP_SPORT (UDP_OFF + offsetof(struct udphdr, source))
#define UDP_DPORT (UDP_OFF + offsetof(struct udphdr, dest))
#define UDP_CSUM (UDP_OFF + offsetof(struct udphdr, check))
#define HEADERS (UDP_OFF + sizeof(struct udphdr))

/// The header fields as the frame has them now (each output rewrites them
/// from what the previous one left).
struct fields {
  __u32 daddr, saddr;
  __u16 dport, sport;
  __u16 ttl_word, tos_word;
};

union word {
  __u8 b[2];
  __u16 w;
};

static __always_inline void set_addr(struct __sk_buff *skb, __u32 off,
                                     __u32 *cur, __u32 next) {
  if (*cur == next)
    return;
  bpf_l3_csum_replace(skb, IP_CSUM, *cur, next, 4);
  // A zero UDP checksum (none) stays zero.
  bpf_l4_csum_replace(skb, UDP_CSUM, *cur, next,
                      BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
  bpf_skb_store_bytes(skb, off, &next, 4, 0);
  *cur = next;
}

static __always_inline void set_port(struct __sk_buff *skb, __u32 off,
                                     __u16 *cur, __u16 next) {
  if (*cur == next)
    return;
  bpf_l4_csum_replace(skb, UDP_CSUM, *cur, next, BPF_F_MARK_MANGLED_0 | 2);
  bpf_skb_store_bytes(skb, off, &next, 2, 0);
  *cur = next;
}

static __always_inline void set_ip_word(struct __sk_buff *skb, __u32 off,
                                        __u16 *cur, __u16 next) {
  if (*cur == next)
    return;
  bpf_l3_csum_replace(skb, IP_CSUM, *cur, next, 2);
  bpf_skb_store_bytes(skb, off, &next, 2, 0);
  *cur = next;
}

/// Rewrites L3 and L4 for output `o`.
static __always_inline void rewrite(struct __sk_buff *skb, struct fields *f,
                                    const struct castor_output *o, __u8 ttl,
                                    __u8 tos) {
  union word t = {.b = {ttl, IPPROTO_UDP}};
  union word s = {.b = {0x45, tos}};
  set_addr(skb, IP_DADDR, &f->daddr, o->daddr);
  set_addr(skb, IP_SADDR, &f->saddr, o->saddr);
  set_port(skb, UDP_DPORT, &f->dport, o->dport);
  set_port(skb, UDP_SPORT, &f->sport, o->sport);
  set_ip_word(skb, IP_TTL_WORD, &f->ttl_word, t.w);
  set_ip_word(skb, IP_TOS_WORD, &f->tos_word, s.w);
}

/// An IPv4 frame (or any but IPv6).
static __noinline int castor_relay4(struct __sk_buff *skb) {
  if ((long)skb->data + HEADERS > (long)skb->data_end &&
      bpf_skb_pull_data(skb, HEADERS) != 0)
    return TC_ACT_OK;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
    return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end)
    return TC_ACT_OK;
  struct castor_group_key gk = {.ifindex = skb->ifindex, .group = ip->daddr};
  if (!bpf_map_lookup_elem(&groups, &gk))
    return TC_ACT_OK;

  // To a ruled group: from here on what is refused is counted, as the
  // packet path counts it (frame_parser.cpp).
  __u32 zero = 0;
  struct castor_in_counts *in = bpf_map_lookup_elem(&in_stats, &zero);
  if (!in)
    return TC_ACT_OK;
  if (ip->ihl < 5)
    return drop(in, CASTOR_DROP_BAD_HEADER);
  if (ip->ihl > 5)
    return drop(in, CASTOR_DROP_IP_OPTIONS);
  __u32 tot = bpf_ntohs(ip->tot_len);
  if (tot < sizeof(struct iphdr))
    return drop(in, CASTOR_DROP_BAD_LENGTH);
  if (tot > skb->len - ETH_HLEN)
    return drop(in, CASTOR_DROP_TRUNCATED);
  if (tot > max_frame)
    return drop(in, CASTOR_DROP_TRUNCATED);
  __s64 sum = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(struct iphdr), 0);
  __u32 folded = (__u32)sum;
  folded = (folded & 0xffff) + (folded >> 16);
  folded = (folded & 0xffff) + (folded >> 16);
  if (folded != 0xffff)
    return drop(in, CASTOR_DROP_BAD_CHECKSUM);
  if (ip->frag_off & bpf_htons(0x3fff))
    return drop(in, CASTOR_DROP_FRAGMENT);
  if (ip->protocol != IPPROTO_UDP)
    return TC_ACT_OK;
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end)
    return TC_ACT_OK;
  __u32 ulen = bpf_ntohs(udp->len);
  if (ulen < sizeof(struct udphdr) || ulen > tot - sizeof(struct iphdr))
    return drop(in, CASTOR_DROP_BAD_LENGTH);

  struct castor_rule_key key = {.ifindex = skb->ifindex,
                                .group = ip->daddr,
                                .source = ip->saddr,
                                .port = udp->dest};
  struct castor_rule_value *r = bpf_map_lookup_elem(&rules, &key);
  if (!r) {
    key.source = 0;
    r = bpf_map_lookup_elem(&rules, &key);
  }
  if (!r)
    return TC_ACT_OK; // no rule for this port: the stack's

  in->frames++;
  const __u64 payload = ulen - sizeof(struct udphdr);
  __u32 rslot = r->slot;
  struct castor_rule_counts *rc = bpf_map_lookup_elem(&rule_stats, &rslot);
  if (rc) {
    rc->packets++;
    rc->bytes += payload;
  }
  const __u8 in_ttl = ip->ttl;
  const __u8 in_tos = ip->tos;
  struct fields f = {.daddr = ip->daddr,
                     .saddr = ip->saddr,
                     .dport = udp->dest,
                     .sport = udp->source};
  __builtin_memcpy(&f.ttl_word, &ip->ttl, 2);
  __builtin_memcpy(&f.tos_word, ip, 2);

  int pending = -1; // the output that leaves through bpf_redirect_neigh
  __u32 n = r->count;
  for (__u32 i = 0; i < CASTOR_MAX_OUTPUTS; i++) {
    if (i >= n)
      break;
    const struct castor_output *o = &r->outputs[i];
    __u32 oslot = o->slot;
    struct castor_out_counts *oc = bpf_map_lookup_elem(&out_stats, &oslot);
    if (!oc)
      continue;
    if (o->ifindex == 0) {
      oc->send_error++;
      continue;
    }
    if (tot > o->mtu) {
      oc->too_big++;
      continue;
    }
    __u8 ttl = o->ttl;
    if (o->flags & CASTOR_OUT_TTL_DEC) {
      if (in_ttl <= 1) {
        oc->ttl_expired++;
        continue;
      }
      ttl = in_ttl - 1;
    }
    __u8 tos = (o->flags & CASTOR_OUT_TOS_KEEP) ? in_tos : o->tos;
    __u8 macs[12];
    if (o->flags & CASTOR_OUT_MULTICAST) {
      const __u8 *g = (const __u8 *)&o->daddr;
      macs[0] = 0x01;
      macs[1] = 0x00;
      macs[2] = 0x5e;
      macs[3] = g[1] & 0x7f;
      macs[4] = g[2];
      macs[5] = g[3];
      __builtin_memcpy(&macs[6], o->smac, 6);
    } else {
      struct bpf_fib_lookup fib = {};
      fib.family = AF_INET;
      fib.tos = tos;
      fib.l4_protocol = IPPROTO_UDP;
      fib.tot_len = tot;
      fib.ifindex = o->ifindex;
      fib.ipv4_src = o->saddr;
      fib.ipv4_dst = o->daddr;
      long rc2 = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
      if (rc2 != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != o->ifindex) {
        if (pending < 0)
          pending = i;
        else
          oc->send_error++;
        continue;
      }
      __builtin_memcpy(macs, fib.dmac, 6);
      __builtin_memcpy(&macs[6], fib.smac, 6);
    }
    rewrite(skb, &f, o, ttl, tos);
    bpf_skb_store_bytes(skb, 0, macs, 12, 0);
    long sent = bpf_clone_redirect(skb, o->ifindex, 0);
    if (sent < 0) {
      oc->send_error++;
    } else if (sent > 0) {
      oc->qdisc_drop++; // NET_XMIT_DROP or _CN from dev_queue_xmit
    } else {
      oc->packets++;
      oc->bytes += payload;
    }
  }
  if (pending >= 0 && pending < CASTOR_MAX_OUTPUTS) {
    const struct castor_output *o = &r->outputs[pending];
    __u32 oslot = o->slot;
    struct castor_out_counts *oc = bpf_map_lookup_elem(&out_stats, &oslot);
    __u8 ttl = (o->flags & CASTOR_OUT_TTL_DEC) ? in_ttl - 1 : o->ttl;
    __u8 tos = (o->flags & CASTOR_OUT_TOS_KEEP) ? in_tos : o->tos;
    rewrite(skb, &f, o, ttl, tos);
    // bpf_redirect_neigh refuses a frame whose destination MAC is a
    // multicast one (the input's): any unicast one will do, it writes both.
    __u8 macs[12];
    __builtin_memcpy(macs, o->smac, 6);
    __builtin_memcpy(&macs[6], o->smac, 6);
    bpf_skb_store_bytes(skb, 0, macs, 12, 0);
    if (oc) {
      oc->packets++;
      oc->bytes += payload;
    }
    return bpf_redirect_neigh(o->ifindex, 0, 0, 0);
  }
  return TC_ACT_SHOT;
}

/// The program: each family's part is a function of its own, so that the
/// verifier's stack bound (512 bytes for a call chain) holds either's
/// frame, not both (relay6.bpf.h).
SEC("tc")
int castor_relay(struct __sk_buff *skb) {
  if (skb->protocol == bpf_htons(ETH_P_IPV6))
    return castor_relay6(skb);
  return castor_relay4(skb);
}

char LICENSE[] SEC("license") = "GPL";
