#pragma once

// Runs a test body in a forked child inside a fresh network namespace whose
// only interface is its own loopback, so tests that need AF_PACKET traffic
// touch nothing on the host and cannot see anyone else's packets.

#include <functional>
#include <string>

namespace castor::packet::test {

struct netns_outcome {
  bool skipped = false; ///< no privilege for unshare(CLONE_NEWNET)
  std::string failure;  ///< empty when the body succeeded
};

/// `body` returns "" on success or a description of what went wrong.
/// `lo_mtu` (0: keep) is set on the namespace's loopback first.
netns_outcome in_private_netns(const std::function<std::string()>& body,
                               int lo_mtu = 0);

} // namespace castor::packet::test
