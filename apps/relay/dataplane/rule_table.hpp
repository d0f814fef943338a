#pragma once

// The forwarding table one forwarder runs: the rules of its input interface,
// compiled for the per-packet lookup. It is immutable once built. A rule
// change builds a new table and hands it to every forwarder, whose loop swaps
// its pointer between two batches; the loop never sees a half-changed table
// and never takes a lock to read it.
//
// Lookup is a binary search over (group, port) keys sorted once at build
// time, then a scan of the few entries with that key: a source-specific
// entry whose source matches wins over an any-source one (the more specific
// rule), so an (S,G) rule can divert one sender of a group that another rule
// relays. No allocation, no hashing, no string compare per packet. IPv6
// inputs have entries of their own, looked up by find6(): the lookup is
// keyed by family, and a rule's outputs may be of either. Their 16-byte
// addresses are kept as two 64-bit words in host order, whose integer
// order is the addresses' byte order: the search compares two words, not
// 16 bytes one by one (a lexicographic compare of std::array took ~590
// instructions per packet over 151 groups, 3x IPv4's lookup; callgrind).
//
// CAF-free (like castor::packet) so that it is tested with GoogleTest and
// could be benchmarked alone.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "model/rule.hpp"
#include <netinet/in.h>

#include "castor/packet/bpf_filter.hpp"
#include "castor/packet/send_ring.hpp"

namespace castor::relay {

/// The socket options an output needs (see udp_egress.hpp): outputs that
/// agree on them share one egress socket and its send ring. Outputs whose
/// TTL or TOS comes from each input datagram (ttl = "decrement", tos =
/// "preserve") share a socket that sends them per datagram (`marks`);
/// their `ttl` or `tos` here is the socket's unused default.
struct egress_key {
  unsigned ifindex = 0;
  uint8_t ttl = 1;
  uint8_t tos = 0;
  bool marks = false;
  /// The configured source port; 0: the relay's shared one.
  uint16_t source_port = 0;
  /// An AF_INET6 socket, for IPv6 outputs.
  bool ipv6 = false;

  auto tie() const {
    return std::tie(ifindex, ttl, tos, marks, source_port, ipv6);
  }
  friend bool operator==(const egress_key& x, const egress_key& y) {
    return x.tie() == y.tie();
  }
  friend bool operator<(const egress_key& x, const egress_key& y) {
    return x.tie() < y.tie();
  }
};

/// The egress an output needs on interface `ifindex`.
egress_key egress_for(const relay::rule_output& o, unsigned ifindex);

/// One output of one rule, ready for sendmmsg.
struct table_output {
  relay::rule_output spec;
  packet::destination destination{};
  /// Index into rule_table::egresses(); meaningless when !usable.
  uint32_t egress = 0;
  /// False when the output interface does not exist (now): the output's
  /// datagrams are dropped and counted as send errors, the others go on.
  bool usable = true;
  /// "RULE|ADDRESS:PORT@INTERFACE": identifies the output across table
  /// swaps, so that its counters survive unrelated rule changes.
  std::string key;
};

struct table_rule {
  relay::rule spec;
  /// The rule's outputs are outputs()[first_output, first_output + count).
  uint32_t first_output = 0;
  uint32_t output_count = 0;
};

/// Maps an interface name to its index; 0 when there is none.
using interface_resolver = std::function<unsigned(const std::string&)>;

/// if_nametoindex(3).
unsigned resolve_interface_index(const std::string& name);

class rule_table {
public:
  /// What find() returns when no rule matches.
  static constexpr uint32_t no_rule = UINT32_MAX;

  /// Compiles the rules whose input is on `interface` (others are ignored;
  /// their interface has forwarders of its own). `epoch` is the rule
  /// store's version of `rules`, kept for the stats and logs.
  static std::shared_ptr<const rule_table>
  build(const std::vector<relay::rule>& rules, const std::string& interface,
        uint64_t epoch, const interface_resolver& resolve);

  /// The same rules, epoch and interface, with the output interfaces looked
  /// up again through `resolve`: for an output interface that was deleted
  /// or re-created under a new index (output_links.hpp).
  std::shared_ptr<const rule_table>
  rebuilt(const interface_resolver& resolve) const;

  /// The rule for a datagram to (dst_be, dst_port) from src_be (addresses
  /// in network order, port in host order), or no_rule.
  uint32_t find(uint32_t dst_be, uint16_t dst_port,
                uint32_t src_be) const noexcept;

  /// The same for an IPv6 datagram (16-byte addresses).
  uint32_t find6(const std::array<uint8_t, 16>& dst, uint16_t dst_port,
                 const std::array<uint8_t, 16>& src) const noexcept;

  const std::vector<table_rule>& rules() const noexcept { return rules_; }
  const std::vector<table_output>& outputs() const noexcept { return outputs_; }
  /// Distinct egress sockets the outputs need, in a stable order.
  const std::vector<egress_key>& egresses() const noexcept { return egresses_; }
  /// What the kernel filter must pass: one match per IPv4 rule.
  std::vector<packet::filter_match> filter_matches() const;
  /// The same for the IPv6 rules (build_filter6).
  std::vector<packet::filter_match6> filter_matches6() const;
  bool has_ipv4_inputs() const noexcept { return !entries_.empty(); }
  bool has_ipv6_inputs() const noexcept { return !entries6_.empty(); }

  const std::string& interface() const noexcept { return interface_; }
  uint64_t epoch() const noexcept { return epoch_; }

private:
  struct entry {
    uint32_t group_be;
    uint16_t port;
    bool source_specific;
    uint32_t source_be;
    uint32_t rule;
  };

  std::string interface_;
  uint64_t epoch_ = 0;
  /// An IPv6 address as two words in host order (see above).
  struct words6 {
    uint64_t hi = 0;
    uint64_t lo = 0;
    friend bool operator==(words6 x, words6 y) noexcept {
      return x.hi == y.hi && x.lo == y.lo;
    }
  };
  static words6 to_words(const std::array<uint8_t, 16>& a) noexcept;
  static std::array<uint8_t, 16> to_bytes(words6 w) noexcept;
  struct entry6 {
    words6 group;
    uint16_t port;
    bool source_specific;
    words6 source;
    uint32_t rule;
  };

  std::vector<entry> entries_;   ///< sorted by (group, port), SSM first
  std::vector<entry6> entries6_; ///< the same for IPv6 inputs
  std::vector<table_rule> rules_;
  std::vector<table_output> outputs_;
  std::vector<egress_key> egresses_;
};

} // namespace castor::relay
