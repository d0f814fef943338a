// Prepares an actor_system_config for a node: CAF's network modules are
// loaded with the config, before the actor system exists, so this cannot be
// part of node::start.

#include <fstream>

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "castor/actors/errors.hpp"
#include "castor/node/node.hpp"

namespace castor::node {

namespace {

caf::error readable(const char* what, const std::string& path) {
  if (path.empty())
    return caf::make_error(errc::invalid_options, std::string{"tls."} + what
                                                    + " is required unless "
                                                    + "insecure = true");
  std::ifstream in{path};
  if (!in)
    return caf::make_error(errc::invalid_options, std::string{"tls."} + what
                                                    + ": cannot read " + path);
  return caf::none;
}

} // namespace

caf::error configure(caf::actor_system_config& cfg, const node_options& opts) {
  register_errors();
  castor::install_error_renderers(cfg);
  if (opts.name.empty())
    return caf::make_error(errc::invalid_options, "a node needs a name");
  if (opts.ack_every == 0 || opts.ack_every > opts.max_in_flight / 2)
    return caf::make_error(errc::invalid_options,
                           "ack_every must be between 1 and max_in_flight / 2");
  for (auto& p : opts.peers)
    if (p.name.empty() || p.host.empty() || p.port == 0)
      return caf::make_error(errc::invalid_options,
                             "peer needs a name, a host and a port: " + p.name);
  if (!opts.insecure) {
    if (auto err = readable("cert", opts.tls.cert))
      return err;
    if (auto err = readable("key", opts.tls.key))
      return err;
    if (auto err = readable("ca", opts.tls.ca))
      return err;
  }
  cfg.load<caf::io::middleman>();
  // A node connects only where it is told to: no connections to third
  // nodes that a peer's messages mention.
  cfg.set("middleman.enable-automatic-connections", false);
  if (opts.heartbeat.count() > 0)
    cfg.set("middleman.heartbeat-interval", caf::timespan{opts.heartbeat});
  if (!opts.insecure) {
    cfg.load<caf::openssl::manager>();
    // The session reads the members; set the options too, so that what
    // the config shows is what is used.
    cfg.openssl_certificate = opts.tls.cert;
    cfg.openssl_key = opts.tls.key;
    cfg.openssl_cafile = opts.tls.ca;
    cfg.openssl_passphrase = opts.tls.passphrase;
    cfg.set("openssl.certificate", opts.tls.cert);
    cfg.set("openssl.key", opts.tls.key);
    cfg.set("openssl.cafile", opts.tls.ca);
    cfg.set("openssl.passphrase", opts.tls.passphrase);
  }
  return caf::none;
}

} // namespace castor::node
