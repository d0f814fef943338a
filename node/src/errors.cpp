#include "castor/node/errors.hpp"

#include "castor/actors/errors.hpp"

namespace castor::node {

std::string to_string(errc x) {
  switch (x) {
  case errc::none:
    return "none";
  case errc::invalid_options:
    return "invalid_options";
  case errc::not_connected:
    return "not_connected";
  case errc::name_mismatch:
    return "name_mismatch";
  case errc::peer_lost:
    return "peer_lost";
  case errc::connect_failed:
    return "connect_failed";
  case errc::not_allowed:
    return "not_allowed";
  case errc::not_running:
    return "not_running";
  case errc::duplicate_peer:
    return "duplicate_peer";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

void register_errors() {
  static const bool once = [] {
    return register_error_category(error_category, "node::", [](uint8_t code) {
      return to_string(static_cast<errc>(code));
    });
  }();
  static_cast<void>(once);
}

} // namespace castor::node
