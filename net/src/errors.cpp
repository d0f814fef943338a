#include "castor/net/errors.hpp"

#include <cstring>

#include "castor/net/group_manager.hpp"
#include "castor/net/tcp_errors.hpp"

namespace castor::net {

// The code names of all three categories live here, next to their
// registration.

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

std::string to_string(membership_errc x) {
  switch (x) {
  case membership_errc::none:
    return "none";
  case membership_errc::unknown_interface:
    return "unknown_interface";
  case membership_errc::no_multicast:
    return "no_multicast";
  case membership_errc::not_multicast:
    return "not_multicast";
  case membership_errc::kernel_refused:
    return "kernel_refused";
  case membership_errc::not_joined:
    return "not_joined";
  case membership_errc::invalid_holder:
    return "invalid_holder";
  }
  return "?";
}

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

void register_errors() {
  static const bool once = [] {
    register_error_category(error_category, "net::", [](uint8_t code) {
      return to_string(static_cast<errc>(code));
    });
    register_error_category(tcp_error_category, "net_tcp::", [](uint8_t code) {
      return to_string(static_cast<tcp_errc>(code));
    });
    register_error_category(caf::atom("mcast"), "mcast::", [](uint8_t code) {
      return to_string(static_cast<membership_errc>(code));
    });
    return true;
  }();
  static_cast<void>(once);
}

void register_errors(caf::actor_system_config& cfg) {
  register_errors();
  install_error_renderers(cfg);
}

namespace {

// At start-up of any program that links this file.
const bool registered_at_start = (register_errors(), true);

} // namespace

} // namespace castor::net
