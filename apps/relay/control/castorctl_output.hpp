#pragma once

// castorctl's human-readable output: each successful reply printed the way
// its command reads best (tables for list, stats and workers, an indented
// tree, one line for the rest). --json prints the reply instead.

#include <ostream>

#include "control/control_protocol.hpp"
#include <nlohmann/json.hpp>

namespace castor::relay::control {

/// Prints the successful reply `data` to `req` on stdout.
void print_ok(const request& req, const nlohmann::json& data);

/// Plain output for scripts (castorctl --plain): tables without their
/// heading row, columns separated by one tab. Off by default.
void set_plain_output(bool plain);

/// The tables of `list`, `workers` and `tree` replies written to `out`, as
/// print_ok prints them; the daemon's SIGUSR1 dump logs the same text.
void print_rules(std::ostream& out, const nlohmann::json& data);
void print_workers(std::ostream& out, const nlohmann::json& data);
void print_peers(std::ostream& out, const nlohmann::json& data);
void print_tree(std::ostream& out, const nlohmann::json& data);

} // namespace castor::relay::control
