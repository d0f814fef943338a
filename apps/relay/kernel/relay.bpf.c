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
#include "relay_maps.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <stddef.h>

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
#define UDP_OFF (IP_OFF + sizeof(struct iphdr))
#define UDP_CSUM (UDP_OFF + offsetof(struct udphdr, check))
#define HEADERS (UDP_OFF + sizeof(struct udphdr))

/// What a forward rewrites, in the frame's order from its first byte:
/// Ethernet, the IPv4 header (no options) and the UDP ports. The program
/// builds each output's headers here and writes them with one
/// bpf_skb_store_bytes; `pad` puts the IP header on a 4-byte boundary, so
/// that its words are read and written aligned (the verifier requires it
/// on the stack). One store and a recomputed IP checksum instead of a
/// store and an l3/l4 checksum helper per changed field: 1-3 helper calls
/// per output where there were up to 15 (docs/relay.md, "The kernel path's
/// cost per packet").
struct headers {
  __u16 pad;
  __u8 dmac[ETH_ALEN];
  __u8 smac[ETH_ALEN];
  __be16 proto;
  struct iphdr ip;
  __be16 sport;
  __be16 dport;
};
#define HEADERS_STORED (sizeof(struct headers) - offsetof(struct headers, dmac))
_Static_assert(offsetof(struct headers, ip) % 4 == 0, "IP header aligned");
_Static_assert(HEADERS_STORED == UDP_OFF + 4, "Ethernet, IP, UDP ports");

/// What the frame's UDP checksum covers now (each output rewrites the
/// checksum from what the previous one left).
struct udp_fields {
  __u32 saddr, daddr;
  __u16 sport, dport;
};

/// The 16-bit one's complement sum of an IP header (a copy on the stack).
static __always_inline __u16 ip_sum(const struct iphdr* ip) {
  const __u32* w = (const __u32*)ip;
  __u64 s = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (__u16)s;
}

/// Writes output `o`'s headers (`h`, MACs already set) into the frame and
/// brings the UDP checksum along. The IP checksum is the header's own;
/// the UDP one goes through bpf_l4_csum_replace, which alone knows the
/// skb's checksum state (a CHECKSUM_PARTIAL frame, as veth hands on,
/// carries only the pseudo-header's sum there; a CHECKSUM_COMPLETE one
/// needs skb->csum kept), and which leaves a zero checksum (none) zero.
static __always_inline void rewrite(struct __sk_buff* skb, struct headers* h,
                                    struct udp_fields* cur,
                                    const struct castor_output* o, __u8 ttl,
                                    __u8 tos) {
  h->ip.daddr = o->daddr;
  h->ip.saddr = o->saddr;
  h->ip.ttl = ttl;
  h->ip.tos = tos;
  h->ip.check = 0;
  h->ip.check = (__u16)~ip_sum(&h->ip);
  h->dport = o->dport;
  h->sport = o->sport;
  bpf_skb_store_bytes(skb, 0, h->dmac, HEADERS_STORED, 0);
  if (cur->saddr != o->saddr || cur->daddr != o->daddr) {
    __u32 diff = fold64((__u64)(__u32)~cur->saddr + (__u32)~cur->daddr
                        + o->saddr + o->daddr);
    bpf_l4_csum_replace(skb, UDP_CSUM, 0, diff,
                        BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
    cur->saddr = o->saddr;
    cur->daddr = o->daddr;
  }
  if (cur->sport != o->sport || cur->dport != o->dport) {
    __u32 diff =
      (__u32)(__u16)~cur->sport + (__u16)~cur->dport + o->sport + o->dport;
    bpf_l4_csum_replace(skb, UDP_CSUM, 0, diff, BPF_F_MARK_MANGLED_0);
    cur->sport = o->sport;
    cur->dport = o->dport;
  }
}

/// The rule for this datagram: the source-specific one if there is one,
/// else the any-source one. The group's flags say which kinds exist, so
/// that a group without source-specific rules costs one lookup.
static __always_inline struct castor_rule_value*
find_rule(struct castor_rule_key* key, __u32 kinds) {
  struct castor_rule_value* r = 0;
  if (kinds & CASTOR_GROUP_SOURCE_SPECIFIC)
    r = bpf_map_lookup_elem(&rules, key);
  if (!r && (kinds & CASTOR_GROUP_ANY_SOURCE)) {
    key->source = 0;
    r = bpf_map_lookup_elem(&rules, key);
  }
  return r;
}

/// The group's multicast MAC (01:00:5e and its low 23 bits).
static __always_inline void group_mac(__u8* mac, __u32 group_be) {
  const __u8* g = (const __u8*)&group_be;
  mac[0] = 0x01;
  mac[1] = 0x00;
  mac[2] = 0x5e;
  mac[3] = g[1] & 0x7f;
  mac[4] = g[2];
  mac[5] = g[3];
}

/// An IPv4 frame (or any but IPv6).
static __noinline int castor_relay4(struct __sk_buff* skb) {
  if ((long)skb->data + HEADERS > (long)skb->data_end
      && bpf_skb_pull_data(skb, HEADERS) != 0)
    return TC_ACT_OK;
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
    return TC_ACT_OK;
  struct iphdr* ip = (void*)(eth + 1);
  if ((void*)(ip + 1) > end)
    return TC_ACT_OK;
  struct castor_group_key gk = {.ifindex = skb->ifindex, .group = ip->daddr};
  __u32* kinds = bpf_map_lookup_elem(&groups, &gk);
  if (!kinds)
    return TC_ACT_OK;

  // To a ruled group: from here on what is refused is counted, as the
  // packet path counts it (frame_parser.cpp).
  __u32 zero = 0;
  struct castor_in_counts* in = bpf_map_lookup_elem(&in_stats, &zero);
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
  // The headers every output starts from, copied once; the IP checksum is
  // checked on the copy (aligned words, no helper).
  struct headers h;
  h.pad = 0;
  __builtin_memcpy(h.dmac, eth, ETH_HLEN);
  h.ip = *ip;
  if (ip_sum(&h.ip) != 0xffff)
    return drop(in, CASTOR_DROP_BAD_CHECKSUM);
  if (ip->frag_off & bpf_htons(0x3fff))
    return drop(in, CASTOR_DROP_FRAGMENT);
  if (ip->protocol != IPPROTO_UDP)
    return TC_ACT_OK;
  struct udphdr* udp = (void*)(ip + 1);
  if ((void*)(udp + 1) > end)
    return TC_ACT_OK;
  __u32 ulen = bpf_ntohs(udp->len);
  if (ulen < sizeof(struct udphdr) || ulen > tot - sizeof(struct iphdr))
    return drop(in, CASTOR_DROP_BAD_LENGTH);

  struct castor_rule_key key = {.ifindex = skb->ifindex,
                                .group = ip->daddr,
                                .source = ip->saddr,
                                .port = udp->dest};
  struct castor_rule_value* r = find_rule(&key, *kinds);
  if (!r)
    return TC_ACT_OK; // no rule for this port: the stack's

  in->frames++;
  const __u64 payload = ulen - sizeof(struct udphdr);
  __u32 rslot = r->slot;
  struct castor_rule_counts* rc = bpf_map_lookup_elem(&rule_stats, &rslot);
  if (rc) {
    rc->packets++;
    rc->bytes += payload;
  }
  h.sport = udp->source;
  h.dport = udp->dest;
  struct udp_fields cur = {.saddr = ip->saddr,
                           .daddr = ip->daddr,
                           .sport = udp->source,
                           .dport = udp->dest};
  const __u8 in_ttl = h.ip.ttl;
  const __u8 in_tos = h.ip.tos;

  int pending = -1; // the output that leaves through bpf_redirect_neigh
  __u32 n = r->count;
  for (__u32 i = 0; i < CASTOR_MAX_OUTPUTS; i++) {
    if (i >= n)
      break;
    const struct castor_output* o = &r->outputs[i];
    __u32 oslot = o->slot;
    struct castor_out_counts* oc = bpf_map_lookup_elem(&out_stats, &oslot);
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
    if (o->flags & CASTOR_OUT_MULTICAST) {
      group_mac(h.dmac, o->daddr);
      __builtin_memcpy(h.smac, o->smac, ETH_ALEN);
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
      __builtin_memcpy(h.dmac, fib.dmac, ETH_ALEN);
      __builtin_memcpy(h.smac, fib.smac, ETH_ALEN);
    }
    rewrite(skb, &h, &cur, o, ttl, tos);
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
    const struct castor_output* o = &r->outputs[pending];
    __u32 oslot = o->slot;
    struct castor_out_counts* oc = bpf_map_lookup_elem(&out_stats, &oslot);
    __u8 ttl = (o->flags & CASTOR_OUT_TTL_DEC) ? in_ttl - 1 : o->ttl;
    __u8 tos = (o->flags & CASTOR_OUT_TOS_KEEP) ? in_tos : o->tos;
    // bpf_redirect_neigh refuses a frame whose destination MAC is a
    // multicast one (the input's): any unicast one will do, it writes both.
    __builtin_memcpy(h.dmac, o->smac, ETH_ALEN);
    __builtin_memcpy(h.smac, o->smac, ETH_ALEN);
    rewrite(skb, &h, &cur, o, ttl, tos);
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
int castor_relay(struct __sk_buff* skb) {
  // What the packet path's filter never passes, in either family: a
  // VLAN-tagged frame, another host's (bpf_filter.hpp's link checks).
  // relay_vlan_kernel checks that neither is relayed.
  if (skb->vlan_present || skb->pkt_type == PACKET_OTHERHOST)
    return TC_ACT_OK;
  if (skb->protocol == bpf_htons(ETH_P_IPV6))
    return castor_relay6(skb);
  return castor_relay4(skb);
}

char LICENSE[] SEC("license") = "GPL";
