#pragma once

// The io_shard plumbing that only net's socket actors use (internal): how a
// new socket is admitted to a shard and registers so that it is closed when
// the shard stops.

#include <functional>

#include <caf/error.hpp>

#include "castor/net/io_shards.hpp"

namespace castor::net::detail {

/// Something living on a shard that must be closed when the shard stops
/// (a socket session). Called on the shard's thread only.
class shard_resident {
public:
  virtual ~shard_resident() = default;
  /// Close now; the shard is stopping.
  virtual void shutdown() = 0;
};

/// io_shard's private admission and resident list, for net's own sources.
struct shard_access {
  /// See io_shard::admit: `prepare` here, then `on_shard` on the shard,
  /// both under the admission lock; errc::shutting_down once it stops.
  static caf::error admit(io_shard& shard, const std::function<void()>& prepare,
                          std::function<void()> on_shard) {
    return shard.admit(prepare, std::move(on_shard));
  }
  /// Shard thread only.
  static void add_resident(io_shard& shard, shard_resident* x) {
    shard.add_resident(x);
  }
  static void remove_resident(io_shard& shard, shard_resident* x) {
    shard.remove_resident(x);
  }
};

} // namespace castor::net::detail
