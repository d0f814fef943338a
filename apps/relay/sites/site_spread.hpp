#pragma once

// spread = "log" (issue 17, scalesmall's Chatter): a datagram for N sites
// leaves its origin on at most ceil(log2(N+1)) links. The origin sends to
// the first site of the list and hands it the next half of the list to
// forward to, then does the same with what is left; each receiving site
// does the same with the share it was handed. Every site of the list is
// sent the datagram exactly once, and no site sends on more than
// ceil(log2(N+1)) links for it (docs/sites.md).
//
// CAF-free and pure, so that a unit test can check the plan for every N.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace castor::relay::sites {

/// One send of a plan: to `target`, which forwards to `share` (positions
/// in the list the plan was made for).
struct spread_hop {
  std::size_t target = 0;
  std::vector<std::size_t> share;
};

/// The sends of a site responsible for `n` sites (positions 0..n-1, in
/// order): ceil(log2(n+1)) hops whose targets and shares cover every
/// position exactly once.
std::vector<spread_hop> spread_plan(std::size_t n);

/// The spread block of a record: the origin site's name and the names of
/// the sites the receiver forwards to. Names are at most 255 bytes (longer
/// ones are cut).
std::string encode_spread(const std::string& origin,
                          const std::vector<std::string>& share);

/// Decodes a block; false if malformed.
bool decode_spread(const uint8_t* block, std::size_t size, std::string& origin,
                   std::vector<std::string>& share);

} // namespace castor::relay::sites
