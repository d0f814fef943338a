#pragma once

// The rule flags of `castorctl add` (and the lines of --from): --in
// IF:GROUP:PORT[:SOURCE] and --out IF:ADDR:PORT[:ttl=..][:tos=..][:sport=..]
// into a rule, checked here so that a bad value names its flag before
// anything is sent.

#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay::castorctl {

/// A rule from the flags' values; throws usage() failures. The daemon
/// checks again.
castor::relay::rule make_rule(const std::string& name,
                              const std::string& in_spec,
                              const std::vector<std::string>& out_specs);

} // namespace castor::relay::castorctl
