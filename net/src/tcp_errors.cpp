#include "castor/net/tcp_errors.hpp"

#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>

#include "castor/net/errors.hpp"

namespace castor::net {

std::string to_string(tcp_errc x) {
  switch (x) {
  case tcp_errc::none:
    return "none";
  case tcp_errc::frame_too_large:
    return "frame_too_large";
  case tcp_errc::closed:
    return "closed";
  case tcp_errc::accept_failed:
    return "accept_failed";
  }
  return "tcp_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

namespace {

std::string render(uint8_t code, caf::atom_value, const caf::message& ctx) {
  std::string out = "net_tcp::";
  out += to_string(static_cast<tcp_errc>(code));
  if (!ctx.empty()) {
    out += ' ';
    out += caf::deep_to_string(ctx);
  }
  return out;
}

} // namespace

std::string describe_tcp(const caf::error& x) {
  if (x && x.category() == tcp_error_category)
    return render(x.code(), x.category(), x.context());
  return describe(x);
}

void register_tcp_errors(caf::actor_system_config& cfg) {
  cfg.add_error_category(tcp_error_category, render);
}

} // namespace castor::net
