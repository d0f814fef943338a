// The kernel data path's IPv6 part (issue 19): castor_relay6(), which the
// tc program (relay.bpf.c) runs for every frame of ethertype 0x86DD. Rules
// of one family in and out (IPv6 -> IPv6); mixed-family rules stay on the
// packet path (model/datapath.cpp).
//
// One program for both families, not a second tc filter:
//   - libbpf's bpf_tc_attach() installs a filter for every protocol
//     (ETH_P_ALL), so a second filter would only run where the IPv4
//     program handed a frame on (TC_ACT_UNSPEC), a change to every frame
//     the IPv4 program passes today;
//   - one attachment is replaced atomically for both families at once: a
//     takeover (a crashed process's filter, a restarted datapath actor)
//     has no state where one family is old and the other new, and the
//     loader's attach, adopt and leftover code serves both unchanged;
//   - an IPv6 frame costs one program run; an IPv4 frame one test of
//     skb->protocol and a BPF-to-BPF call (castor_relay dispatches to
//     castor_relay4 or castor_relay6, functions of their own so that the
//     verifier's 512-byte stack bound holds either frame, not both);
//   - a tail call into a separately loaded program would stop IPv6 after
//     a process crash: a program array is emptied when its last
//     user-space reference closes.
//
// For a frame to an IPv6 group some rule has on this interface, exactly as
// the packet path's kernel filter (build_filter6) and parse_udp6_frame()
// classify it:
//   - what the filter never passes goes on to the stack, uncounted: not
//     version 6; a fixed header followed by neither UDP nor an extension
//     header the parser walks (ICMPv6, ESP, ...); MLD (hop-by-hop, then
//     ICMPv6);
//   - a payload length that the frame does not hold, or zero without a
//     hop-by-hop header: bad_length; longer than max_frame: truncated;
//   - the extension headers, in a bounded walk (at most 8): hop-by-hop:
//     hop_by_hop; a fragment header: fragment; ESP, a routing header with
//     segments left, more than 8: ext_headers; a header past the payload:
//     bad_length; a chain that ends in something else than UDP: not_udp;
//   - UDP length inconsistent: bad_length; checksum 0: zero_checksum
//     (mandatory in IPv6, RFC 8200 section 8.1);
//   - a datagram to a rule's (group, port), from its source if it has one
//     (a source-specific rule wins): the extension headers the walk passed
//     (destination options, a spent routing header) are removed and the
//     payload cut to the UDP length, so that each output sends what the
//     packet path's socket would: IPv6 and UDP headers, then the payload.
//     Then for each output: destination and source address (the output's
//     stable global or ULA address), ports, hop limit (set, or decremented:
//     1 counts as ttl_expired), traffic class (set or preserved; the flow
//     label is kept), MACs (33:33 and the group's low 32 bits, or the
//     neighbour's from a FIB lookup, else bpf_redirect_neigh as for IPv4),
//     the UDP checksum brought along incrementally; too_big over the
//     output's MTU; cloned to the output's interface. Then dropped.
#ifndef CASTOR_RELAY6_BPF_H
#define CASTOR_RELAY6_BPF_H

#include "relay_common.bpf.h"
#include "relay_maps6.h"
#include <bpf/bpf_endian.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <stddef.h>

#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef EINVAL
#define EINVAL 22
#endif

// Hash maps without preallocation: a relay with no IPv6 rule pays nothing
// for them (preallocated, 16384 entries of ~900 bytes would take 15 MB per
// input interface). Entries are allocated by the loader's updates, never
// per packet.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CASTOR_MAX_RULES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct castor_rule_key6);
  __type(value, struct castor_rule_value6);
} rules6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CASTOR_MAX_RULES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct castor_group_key6);
  __type(value, __u32);
} groups6 SEC(".maps");

/// What an IPv6 frame's classification fills in besides the headers: on
/// the stack it would not fit the verifier's 512 bytes. Per CPU, and only
/// read before the first clone leaves: a clone to a device that delivers
/// synchronously (a bridge's own port) can run this program again on the
/// same CPU before bpf_clone_redirect returns.
struct relay6_scratch {
  struct castor_rule_key6 key; /* its first bytes: the group key */
  struct udphdr udp;
};
_Static_assert(offsetof(struct castor_rule_key6, group)
                 == offsetof(struct castor_group_key6, group),
               "a rule key starts with its group key");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct relay6_scratch);
} scratch6 SEC(".maps");

#define IP6_OFF ETH_HLEN
#define IP6_HLEN 40
#define UDP6_OFF (IP6_OFF + IP6_HLEN)
#define UDP6_CSUM (UDP6_OFF + offsetof(struct udphdr, check))
#define HEADERS6 (UDP6_OFF + sizeof(struct udphdr))

// Next-header values the walk knows (frame_parser.cpp's).
#define NH_HOP_BY_HOP 0
#define NH_UDP 17
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_ESP 50
#define NH_AH 51
#define NH_DEST_OPTIONS 60
#define NH_MOBILITY 135
#define NH_HIP 139
#define NH_SHIM6 140
#define NH_EXP1 253
#define NH_EXP2 254

/// What an output rewrites, in the frame's order from its first byte:
/// Ethernet, the IPv6 header, the UDP ports; written with one
/// bpf_skb_store_bytes. `pad` puts the IPv6 header on a 4-byte boundary so
/// that its words are read aligned. Between outputs it holds what the
/// frame holds now, which the next output's checksum update starts from.
struct headers6 {
  __u16 pad;
  __u8 dmac[ETH_ALEN];
  __u8 smac[ETH_ALEN];
  __be16 proto;
  __be32 word0; /* version, traffic class, flow label */
  __be16 payload_len;
  __u8 nexthdr;
  __u8 hop_limit;
  __u32 addrs[8]; /* source, then destination */
  __be16 sport;
  __be16 dport;
};
#define HEADERS6_STORED                                                        \
  (sizeof(struct headers6) - offsetof(struct headers6, dmac))
_Static_assert(offsetof(struct headers6, word0) % 4 == 0, "IPv6 aligned");
_Static_assert(HEADERS6_STORED == UDP6_OFF + 4, "Ethernet, IPv6, UDP ports");

/// What the packet path's filter never hands its parser: castor_walk6's
/// verdict for a frame that goes on to the stack, uncounted.
#define WALK_STACK -100

/// Whether a fixed header's next header starts a chain the packet path's
/// kernel filter hands its parser (bpf_filter.cpp's walked_headers; not
/// ESP, not an upper layer): what it never passes is never counted there,
/// so here it goes on to the stack uncounted too.
static __always_inline int walked_first(__u32 next) {
  return next == NH_ROUTING || next == NH_FRAGMENT || next == NH_AH
         || next == NH_DEST_OPTIONS || next == NH_MOBILITY || next == NH_HIP
         || next == NH_SHIM6;
}

/// Follows the extension headers from `next` (the fixed header's next
/// header, not UDP), as the packet path's filter and parse_udp6_frame() do:
/// the UDP header's offset from the IPv6 header (>= 40), WALK_STACK, or
/// -1 - a drop reason. A global function: the verifier checks it once, on
/// its own, instead of the rest of the program once per way through the
/// walk (which took it past its million instructions).
__noinline int castor_walk6(struct __sk_buff* skb, __u32 total, __u32 next) {
  if (!skb)
    return WALK_STACK;
  if (next == NH_HOP_BY_HOP) {
    // MLD (ICMPv6 behind hop-by-hop, router alert): never the relay's.
    __u8 after = 0;
    if (bpf_skb_load_bytes(skb, IP6_OFF + IP6_HLEN, &after, 1) != 0
        || after == IPPROTO_ICMPV6)
      return WALK_STACK;
    return -1 - CASTOR_DROP_HOP_BY_HOP;
  }
  if (!walked_first(next))
    return WALK_STACK;
  __u32 off = IP6_HLEN;
  for (int steps = 0; steps <= CASTOR_MAX_IPV6_EXT_HEADERS; steps++) {
    if (next == NH_UDP)
      return off;
    if (next == NH_HOP_BY_HOP)
      return -1 - CASTOR_DROP_HOP_BY_HOP;
    if (next == NH_FRAGMENT)
      return -1 - CASTOR_DROP_FRAGMENT;
    if (next == NH_ESP) // encrypted: nothing to walk
      return -1 - CASTOR_DROP_EXT_HEADERS;
    if (next != NH_AH && next != NH_ROUTING && next != NH_DEST_OPTIONS
        && next != NH_MOBILITY && next != NH_HIP && next != NH_SHIM6
        && next != NH_EXP1 && next != NH_EXP2)
      return -1 - CASTOR_DROP_NOT_UDP; // ICMPv6, no next header, TCP, ...
    if (off + 2 > total)
      return -1 - CASTOR_DROP_BAD_LENGTH;
    __u8 hdr[2];
    if (bpf_skb_load_bytes(skb, IP6_OFF + off, hdr, 2) != 0)
      return -1 - CASTOR_DROP_BAD_LENGTH;
    const __u32 length =
      next == NH_AH ? ((__u32)hdr[1] + 2) * 4 : ((__u32)hdr[1] + 1) * 8;
    if (steps == CASTOR_MAX_IPV6_EXT_HEADERS)
      return -1 - CASTOR_DROP_EXT_HEADERS;
    if (off + length > total)
      return -1 - CASTOR_DROP_BAD_LENGTH;
    if (next == NH_ROUTING) {
      // Segments left: this node would forward the packet to the next
      // segment, not take delivery of it.
      __u8 left = 0;
      if (bpf_skb_load_bytes(skb, IP6_OFF + off + 3, &left, 1) != 0
          || left != 0)
        return -1 - CASTOR_DROP_EXT_HEADERS;
    }
    next = hdr[0];
    off += length;
  }
  return -1 - CASTOR_DROP_EXT_HEADERS; // not reached: the last step returns
}

/// Writes output `o`'s headers (`h`'s MACs already set, and its first 8
/// bytes, `first8`, as this output sends them) into the frame, and brings
/// the UDP checksum along from what `h` held: the addresses through the
/// pseudo-header, the ports as UDP's own words. bpf_l4_csum_replace alone
/// knows the skb's checksum state (CHECKSUM_PARTIAL, as veth hands on
/// local senders' datagrams, carries only the pseudo-header's sum there).
/// A CHECKSUM_COMPLETE skb->csum must follow the bytes that change without
/// a checksum of their own in the packet (the first 8: there is no IPv6
/// header checksum): bpf_csum_update.
static __always_inline void rewrite6(struct __sk_buff* skb, struct headers6* h,
                                     const struct castor_output6* o,
                                     __u64 first8) {
  const __u32* next = (const __u32*)o->saddr; /* saddr, daddr: 8 words */
  __u64 pseudo = 0;
  __u32 changed = 0;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    changed |= h->addrs[i] ^ next[i];
    pseudo += (__u32)~h->addrs[i] + (__u64)next[i];
  }
  __u32 old_words[2], new_words[2];
  __builtin_memcpy(old_words, &h->word0, 8);
  __builtin_memcpy(new_words, &first8, 8);
  __u64 csum = 0;
  if (old_words[0] != new_words[0] || old_words[1] != new_words[1])
    csum = (__u32)~old_words[0] + (__u64)new_words[0] + (__u32)~old_words[1]
           + new_words[1];
  const __u32 old_ports = (__u32)h->sport | (__u32)h->dport << 16;
  const __u32 new_ports = (__u32)o->sport | (__u32)o->dport << 16;
  __builtin_memcpy(&h->word0, &first8, 8);
  __builtin_memcpy(h->addrs, o->saddr, sizeof h->addrs);
  h->sport = o->sport;
  h->dport = o->dport;
  bpf_skb_store_bytes(skb, 0, h->dmac, HEADERS6_STORED, 0);
  if (changed) {
    const __u32 diff = fold64(pseudo);
    // BPF_F_IPV6 (Linux 6.16, and stable backports) keeps skb->csum as it
    // is: with no IPv6 header checksum, the addresses' change and the UDP
    // checksum's cancel out. A kernel without it refuses the flag; there
    // the helper subtracts `diff` from skb->csum, which is added back.
    if (bpf_l4_csum_replace(skb, UDP6_CSUM, 0, diff,
                            BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0
                              | BPF_F_IPV6)
        == -EINVAL) {
      bpf_l4_csum_replace(skb, UDP6_CSUM, 0, diff,
                          BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
      csum += diff;
    }
  }
  if (old_ports != new_ports)
    bpf_l4_csum_replace(skb, UDP6_CSUM, 0,
                        fold64((__u32)~old_ports + (__u64)new_ports),
                        BPF_F_MARK_MANGLED_0);
  if (csum != 0)
    bpf_csum_update(skb, fold64(csum)); // a no-op unless CHECKSUM_COMPLETE
}

/// The first 8 bytes of an output's IPv6 header: version, traffic class,
/// flow label, payload length, next header (UDP, extension headers gone),
/// hop limit; as they lie in the packet.
static __always_inline __u64 first8(__u8 tclass, __u32 flow, __be16 payload_len,
                                    __u8 hop_limit) {
  struct {
    __be32 word0;
    __be16 payload_len;
    __u8 nexthdr;
    __u8 hop_limit;
  } f = {bpf_htonl(6u << 28 | (__u32)tclass << 20 | flow), payload_len, NH_UDP,
         hop_limit};
  __u64 v;
  __builtin_memcpy(&v, &f, 8);
  return v;
}

/// castor_out6's `frame`: the datagram's UDP length, hop limit, traffic
/// class and flow label, and two flags.
#define OUT6_HOP_SHIFT 16
#define OUT6_TCLASS_SHIFT 24
#define OUT6_FLOW_SHIFT 32
#define OUT6_NEIGH_TAKEN                                                       \
  (1ull << 56) /* another output waits for the neighbour */
#define OUT6_VIA_NEIGH                                                         \
  (1ull << 57) /* send this one with bpf_redirect_neigh   \
                                     */
/// castor_out6's verdicts besides its TC_ACT_* with OUT6_VIA_NEIGH.
#define OUT6_DONE 0
#define OUT6_NEIGH 1 /* unicast, no neighbour from the FIB: send it last */

/// One output of a datagram: counted as a drop (send_error, too_big,
/// ttl_expired), or rewritten (`h`, the frame's headers now) and cloned
/// to its interface (packets, or send_error, qdisc_drop); OUT6_NEIGH for a
/// unicast output the FIB lookup gave no neighbour for, when no other
/// output waits for one. With OUT6_VIA_NEIGH: rewritten and sent with
/// bpf_redirect_neigh, whose verdict it returns. A global function: the
/// verifier checks it once, not once per output and way through the
/// caller's loop (which took it past its million instructions).
__noinline int castor_out6(struct __sk_buff* skb, struct headers6* h,
                           const struct castor_output6* o, __u64 frame) {
  if (!skb || !h || !o)
    return OUT6_DONE;
  __u32 oslot = o->slot;
  struct castor_out_counts* oc = bpf_map_lookup_elem(&out_stats, &oslot);
  if (!oc)
    return OUT6_DONE;
  const __u32 ulen = frame & 0xffff;
  const __u8 in_hop = (frame >> OUT6_HOP_SHIFT) & 0xff;
  const __u8 in_tclass = (frame >> OUT6_TCLASS_SHIFT) & 0xff;
  const __u32 flow = (frame >> OUT6_FLOW_SHIFT) & 0xfffff;
  const __u32 out_total = IP6_HLEN + ulen;
  const __u64 bytes = ulen - sizeof(struct udphdr);
  __u8 hop = o->hop_limit;
  if (o->flags & CASTOR_OUT_TTL_DEC)
    hop = in_hop - 1; // in_hop <= 1 was counted before OUT6_VIA_NEIGH
  const __u8 tclass = (o->flags & CASTOR_OUT_TOS_KEEP) ? in_tclass : o->tclass;
  const __u64 f8 = first8(tclass, flow, bpf_htons(ulen), hop);
  if (frame & OUT6_VIA_NEIGH) {
    // bpf_redirect_neigh refuses a frame whose destination MAC is a
    // multicast one (the input's): any unicast one will do, it writes both.
    __builtin_memcpy(h->dmac, o->smac, ETH_ALEN);
    __builtin_memcpy(h->smac, o->smac, ETH_ALEN);
    rewrite6(skb, h, o, f8);
    oc->packets++;
    oc->bytes += bytes;
    return bpf_redirect_neigh(o->ifindex, 0, 0, 0);
  }
  if (o->ifindex == 0) {
    oc->send_error++;
    return OUT6_DONE;
  }
  if (out_total > o->mtu) {
    oc->too_big++; // routers never fragment IPv6
    return OUT6_DONE;
  }
  if ((o->flags & CASTOR_OUT_TTL_DEC) && in_hop <= 1) {
    oc->ttl_expired++;
    return OUT6_DONE;
  }
  if (o->flags & CASTOR_OUT_MULTICAST) {
    h->dmac[0] = 0x33;
    h->dmac[1] = 0x33;
    __builtin_memcpy(&h->dmac[2], &o->daddr[12], 4);
    __builtin_memcpy(h->smac, o->smac, ETH_ALEN);
  } else {
    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET6;
    fib.l4_protocol = IPPROTO_UDP;
    fib.tot_len = out_total;
    fib.ifindex = o->ifindex;
    fib.flowinfo = bpf_htonl((__u32)tclass << 20 | flow);
    __builtin_memcpy(fib.ipv6_src, o->saddr, 16);
    __builtin_memcpy(fib.ipv6_dst, o->daddr, 16);
    long found = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
    if (found != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != o->ifindex) {
      if (!(frame & OUT6_NEIGH_TAKEN))
        return OUT6_NEIGH;
      oc->send_error++;
      return OUT6_DONE;
    }
    __builtin_memcpy(h->dmac, fib.dmac, ETH_ALEN);
    __builtin_memcpy(h->smac, fib.smac, ETH_ALEN);
  }
  rewrite6(skb, h, o, f8);
  long sent = bpf_clone_redirect(skb, o->ifindex, 0);
  if (sent < 0) {
    oc->send_error++;
  } else if (sent > 0) {
    oc->qdisc_drop++; // NET_XMIT_DROP or _CN from dev_queue_xmit
  } else {
    oc->packets++;
    oc->bytes += bytes;
  }
  return OUT6_DONE;
}

/// The IPv6 frame in `skb` (ethertype 0x86DD): forwarded by its rule and
/// dropped, counted and dropped, or handed on to the stack (TC_ACT_OK). A
/// function of its own (not inlined into the program's entry), with its
/// larger structs in scratch6, so that its frame fits the stack.
static __noinline int castor_relay6(struct __sk_buff* skb) {
  const __u32 want = skb->len < HEADERS6 ? skb->len : HEADERS6;
  if ((long)skb->data + want > (long)skb->data_end
      && bpf_skb_pull_data(skb, want) != 0)
    return TC_ACT_OK;
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  struct ipv6hdr* ip6 = data + IP6_OFF;
  if ((void*)(ip6 + 1) > end || eth->h_proto != bpf_htons(ETH_P_IPV6))
    return TC_ACT_OK;
  __u32 zero = 0;
  struct relay6_scratch* s = bpf_map_lookup_elem(&scratch6, &zero);
  if (!s)
    return TC_ACT_OK;
  s->key.ifindex = skb->ifindex;
  __builtin_memcpy(s->key.group, &ip6->daddr, 16);
  __u32* kinds = bpf_map_lookup_elem(&groups6, &s->key);
  if (!kinds)
    return TC_ACT_OK;

  // To a ruled group: from here on what is refused is counted, as
  // parse_udp6_frame() counts it.
  struct castor_in_counts* in = bpf_map_lookup_elem(&in_stats, &zero);
  if (!in)
    return TC_ACT_OK;
  // Not version 6: the packet path's filter never passes it (uncounted).
  if (ip6->version != 6)
    return TC_ACT_OK;
  const __u32 payload = bpf_ntohs(ip6->payload_len);
  if (payload == 0 && ip6->nexthdr != NH_HOP_BY_HOP)
    return drop(in, CASTOR_DROP_BAD_LENGTH); // a jumbogram needs one
  const __u32 total = IP6_HLEN + payload;
  if (total > skb->len - IP6_OFF)
    return drop(in, CASTOR_DROP_BAD_LENGTH);
  if (total > max_frame)
    return drop(in, CASTOR_DROP_TRUNCATED);
  // The headers every output starts from, copied once.
  struct headers6 h;
  h.pad = 0;
  __builtin_memcpy(h.dmac, data, ETH_HLEN);
  __builtin_memcpy(&h.word0, ip6, IP6_HLEN);
  __u32 at = IP6_HLEN;
  if (h.nexthdr != NH_UDP) {
    const int walked = castor_walk6(skb, total, h.nexthdr);
    if (walked == WALK_STACK)
      return TC_ACT_OK;
    if (walked < 0) // masked for the verifier: every reason is below 16
      return drop(in, (-1 - walked) & (CASTOR_DROP_REASONS - 1));
    at = (__u32)walked & 0xffff; // bounded for the verifier: <= total
  }
  const __u32 ip_payload = total - at;
  if (ip_payload < sizeof(struct udphdr))
    return drop(in, CASTOR_DROP_BAD_LENGTH);
  if (bpf_skb_load_bytes(skb, IP6_OFF + at, &s->udp, sizeof s->udp) != 0)
    return drop(in, CASTOR_DROP_BAD_LENGTH);
  const __u32 ulen = bpf_ntohs(s->udp.len);
  if (ulen < sizeof(struct udphdr) || ulen > ip_payload)
    return drop(in, CASTOR_DROP_BAD_LENGTH);
  if (s->udp.check == 0)
    return drop(in, CASTOR_DROP_ZERO_CHECKSUM);

  __builtin_memcpy(s->key.source, &h.addrs[0], 16);
  s->key.port = s->udp.dest;
  s->key.pad = 0;
  struct castor_rule_value6* r = 0;
  if (*kinds & CASTOR_GROUP_SOURCE_SPECIFIC)
    r = bpf_map_lookup_elem(&rules6, &s->key);
  if (!r && (*kinds & CASTOR_GROUP_ANY_SOURCE)) {
    __builtin_memset(s->key.source, 0, 16);
    r = bpf_map_lookup_elem(&rules6, &s->key);
  }
  if (!r)
    return TC_ACT_OK; // no rule for this port: the stack's

  // What the packet path's socket would send: no extension headers, no
  // bytes past the UDP length. Both are rare (a sender's destination
  // options, link padding); the common frame changes size here never.
  if (at != IP6_HLEN
      && bpf_skb_adjust_room(skb, -(__s32)(at - IP6_HLEN), BPF_ADJ_ROOM_NET, 0))
    return drop(in, CASTOR_DROP_EXT_HEADERS); // the kernel would not
  if (ulen < ip_payload && bpf_skb_change_tail(skb, UDP6_OFF + ulen, 0) != 0)
    return drop(in, CASTOR_DROP_BAD_LENGTH);

  in->frames++;
  const __u64 bytes = ulen - sizeof(struct udphdr);
  __u32 rslot = r->slot;
  struct castor_rule_counts* rc = bpf_map_lookup_elem(&rule_stats, &rslot);
  if (rc) {
    rc->packets++;
    rc->bytes += bytes;
  }
  h.sport = s->udp.source;
  h.dport = s->udp.dest;
  const __u32 first = bpf_ntohl(h.word0);

  // The frame's fields each output's rewrite starts from, as one scalar
  // for castor_out6 (a global function takes at most five arguments).
  const __u64 frame = (__u64)ulen | (__u64)h.hop_limit << OUT6_HOP_SHIFT
                      | (__u64)((first >> 20) & 0xff) << OUT6_TCLASS_SHIFT
                      | (__u64)(first & 0xfffff) << OUT6_FLOW_SHIFT;
  int pending = -1; // the output that leaves through bpf_redirect_neigh
  __u32 n = r->count;
  for (__u32 i = 0; i < CASTOR_MAX_OUTPUTS; i++) {
    if (i >= n)
      break;
    if (castor_out6(skb, &h, &r->outputs[i],
                    frame | (pending >= 0 ? OUT6_NEIGH_TAKEN : 0))
        == OUT6_NEIGH)
      pending = i;
  }
  if (pending >= 0 && pending < CASTOR_MAX_OUTPUTS)
    return castor_out6(skb, &h, &r->outputs[pending], frame | OUT6_VIA_NEIGH);
  return TC_ACT_SHOT;
}

#endif
