#pragma once

// The `sites` child of the relay's root (issue 17): the control side of
// relaying across sites. It runs on the node layer (castor::node): it
// publishes itself as "sites" on this node, watches every peer's "sites",
// and tells each peer over that (TLS) link which groups this site wants
// from it and the key its data frames must carry. The data itself goes
// through sites/site_engine.hpp, which the child spec holds, so that a
// restarted actor keeps the sockets and the counters.
//
// Messages:
//   (site_interest_atom, std::string from, std::string key,
//    std::string groups)                from a peer's sites actor; groups:
//                                       encode_interest() (site_model.hpp)
//   (sites_reload_atom)                 the rule store after a reload:
//                                       re-read ctx->config().sites
//   (site_stats_atom) -> site_engine_stats

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor.hpp>

#include "model/relay_context.hpp"
#include "sites/site_engine.hpp"
#include "sites/sites_atoms.hpp"

#include "castor/actors/child_spec.hpp"
#include "castor/node/node.hpp"

namespace castor::relay {

/// Which of two sites opens their node link: the one whose name sorts
/// first. Two nodes that both connect would make two BASP connections for
/// one pair, which the middleman does not keep (docs/nodes.md).
bool connects_to(const std::string& self, const std::string& peer);

/// The node options [node] and [[peer]] describe: the peers this site
/// connects to (connects_to).
castor::node::node_options node_options_of(const sites_config& sites);

/// Connects peers added by a reload: node::connect blocks, so it runs on
/// threads of its own, joined before the node stops.
class peer_connector {
public:
  explicit peer_connector(castor::node::node& n) : node_(n) {}
  ~peer_connector() { join(); }
  void connect(castor::node::peer_spec peer);
  void join();

private:
  castor::node::node& node_;
  std::mutex mtx_;
  std::vector<std::thread> threads_;
};

/// The child spec. `node` returns the node's actor; `connector` may be
/// null (reloads then cannot add peers).
child_spec sites_child(std::string id, relay_context_ptr ctx,
                       std::function<caf::actor()> node,
                       std::shared_ptr<peer_connector> connector);

} // namespace castor::relay
