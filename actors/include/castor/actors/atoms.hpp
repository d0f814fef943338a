#pragma once

// Atoms of castor's actor protocols. The C++ names mirror OTP's function
// names where one exists (start_child_atom); the atom values abbreviate them
// ("start_ch"), because CAF 0.17 atoms are at most 10 characters.

#include <caf/atom.hpp>

namespace castor {

// -- supervisor management (see supervisor.hpp for the full protocol) --------
using start_child_atom = caf::atom_constant<caf::atom("start_ch")>;
using terminate_child_atom = caf::atom_constant<caf::atom("term_ch")>;
using restart_child_atom = caf::atom_constant<caf::atom("restart_ch")>;
using delete_child_atom = caf::atom_constant<caf::atom("delete_ch")>;
using which_children_atom = caf::atom_constant<caf::atom("which_ch")>;
using count_children_atom = caf::atom_constant<caf::atom("count_ch")>;
using tree_atom = caf::atom_constant<caf::atom("tree")>;

/// Asked of a freshly started child that declared `await_ready`; the answer
/// (ok_atom or an error) ends its start. Supervisors answer it once all their
/// own children have started.
using ready_atom = caf::atom_constant<caf::atom("ready")>;

// -- registry ------------------------------------------------------------------
using register_atom = caf::atom_constant<caf::atom("register")>;
using unregister_atom = caf::atom_constant<caf::atom("unregister")>;
using whereis_atom = caf::atom_constant<caf::atom("whereis")>;
using registered_atom = caf::atom_constant<caf::atom("registered")>;

} // namespace castor
