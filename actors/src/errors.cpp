#include "castor/actors/errors.hpp"

#include <caf/deep_to_string.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

namespace castor {

std::string to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::not_found: return "not_found";
    case errc::running: return "running";
    case errc::restarting: return "restarting";
    case errc::simple_one_for_one: return "simple_one_for_one";
    case errc::already_present: return "already_present";
    case errc::already_started: return "already_started";
    case errc::invalid_spec: return "invalid_spec";
    case errc::start_failed: return "start_failed";
    case errc::reached_max_restart_intensity:
      return "reached_max_restart_intensity";
    case errc::shutting_down: return "shutting_down";
    case errc::name_taken: return "name_taken";
    case errc::invalid_argument: return "invalid_argument";
    case errc::auto_shutdown: return "auto_shutdown";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

namespace {

// Joins the context of an error: castor errors carry strings only.
std::string context_text(const caf::error& x) {
  const auto& ctx = x.context();
  std::string out;
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (!out.empty())
      out += ": ";
    if (ctx.match_element<std::string>(i))
      out += ctx.get_as<std::string>(i);
    else
      out += ctx.stringify(i);
  }
  return out;
}

} // namespace

std::string describe(const caf::error& x) {
  if (!x)
    return "none";
  std::string name;
  if (x.category() == caf::atom("castor"))
    name = to_string(static_cast<errc>(x.code()));
  else if (x.category() == caf::atom("exit"))
    name = caf::to_string(static_cast<caf::exit_reason>(x.code()));
  else if (x.category() == caf::atom("system"))
    name = caf::to_string(static_cast<caf::sec>(x.code()));
  else
    return caf::to_string(x);
  auto ctx = context_text(x);
  return ctx.empty() ? name : name + ": " + ctx;
}

std::string describe_exit(const caf::error& reason) {
  return reason ? describe(reason) : "normal";
}

bool is_normal_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal;
}

bool is_shutdown_exit(const caf::error& reason) {
  return reason == caf::exit_reason::user_shutdown
         || (reason.category() == caf::atom("castor")
             && reason.code() == static_cast<uint8_t>(errc::auto_shutdown));
}

} // namespace castor
