#pragma once

// The atoms of the sites actor (sites/sites_actor.hpp), apart so that the
// rule store can tell it about a reload without including the node layer.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "sites/site_engine.hpp"

namespace castor::relay {

using site_interest_atom = caf::atom_constant<caf::atom("st_intrst")>;
using sites_reload_atom = caf::atom_constant<caf::atom("st_reload")>;
using site_stats_atom = caf::atom_constant<caf::atom("st_stats")>;

} // namespace castor::relay

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::relay::sites::site_engine_stats)
