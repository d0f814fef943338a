#pragma once

// The `metrics` child of the relay's root: Prometheus text format on
// http://LISTEN/metrics ([metrics] listen, loopback by default).
//
// Every `interval` the actor gathers, all by requests, with nothing added
// to the packet path:
//   - every forwarder's worker_snapshot (forwarder_stats_atom, the same
//     copy `castorctl stats` gets), kept monotonic by a worker_ledger;
//   - the group manager's memberships, counted by state;
//   - the whole tree from the root (tree_atom): restarts per child path;
// and publishes their text (metrics_families.hpp) to a board that the
// HTTP server (metrics_http.hpp: civetweb, on threads of its own) reads: a
// scrape copies the last published text and never waits for an actor.
//
// The listening socket, the board and the ledger live outside the actor,
// held by the child spec: a restarted metrics actor neither rebinds the
// port (and so cannot lose it to a race) nor restarts the counters. The
// first start binds; if it cannot, the relay fails to start with a message
// naming the address, the option and the reason (e.g. address in use).
//
// Protocol: none; the actor only ticks.

#include <chrono>
#include <string>

#include "model/daemon_config.hpp"
#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// A permanent worker with id `id` serving `settings.listen`, gathering
/// every `interval`. Use only with settings.enabled.
child_spec
metrics_child(std::string id, relay_context_ptr ctx, metrics_settings settings,
              std::string version,
              std::chrono::milliseconds interval = std::chrono::seconds{1});

} // namespace castor::relay
