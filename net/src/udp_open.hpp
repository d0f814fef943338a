#pragma once

// open_udp with a hook (internal), for owners that must know their socket
// before any message can reach them (udp_child.cpp's scheduled owners).

#include <functional>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "castor/net/udp_socket.hpp"

namespace castor::net::detail {

/// open_udp, calling `announce` with the new socket under the shard's
/// admission lock: after the socket is linked to `owner` and before the
/// shard runs any of it, so before the socket sends `owner` anything.
caf::expected<udp_socket>
open_udp_announced(caf::actor_system& sys, io_shard& shard,
                   const caf::actor& owner, const udp_options& opts,
                   const std::function<void(const udp_socket&)>& announce);

} // namespace castor::net::detail
