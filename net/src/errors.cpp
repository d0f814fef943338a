#include "castor/net/errors.hpp"

#include <cstring>

#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>

namespace castor::net {

std::string to_string(errc x) {
  switch (x) {
  case errc::none:
    return "none";
  case errc::socket_option:
    return "socket_option";
  case errc::open_failed:
    return "open_failed";
  case errc::no_such_interface:
    return "no_such_interface";
  case errc::active_mode:
    return "active_mode";
  case errc::timeout:
    return "timeout";
  case errc::recv_failed:
    return "recv_failed";
  case errc::send_failed:
    return "send_failed";
  case errc::send_queue_full:
    return "send_queue_full";
  case errc::not_owner:
    return "not_owner";
  case errc::shutting_down:
    return "shutting_down";
  case errc::invalid_argument:
    return "invalid_argument";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error errno_error(errc code, const std::string& what, int err) {
  return make_error(code, what, err, std::string{std::strerror(err)});
}

namespace {

// Shared by describe() and the renderer given to the actor system, so both
// print the same text.
std::string render(uint8_t code, caf::atom_value, const caf::message& ctx) {
  std::string out = "net::";
  out += to_string(static_cast<errc>(code));
  if (!ctx.empty()) {
    out += ' ';
    out += caf::deep_to_string(ctx);
  }
  return out;
}

} // namespace

std::string describe(const caf::error& x) {
  if (!x)
    return "none";
  if (x.category() == error_category)
    return render(x.code(), x.category(), x.context());
  return caf::to_string(x);
}

void register_errors(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category, render);
}

} // namespace castor::net
