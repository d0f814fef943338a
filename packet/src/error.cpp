#include "castor/packet/error.hpp"

#include <cstring>

namespace castor::packet {

namespace {

std::string compose(const std::string& context, int err,
                    const std::string& hint) {
  std::string s = context + ": " + std::strerror(err);
  if (!hint.empty())
    s += " \u2014 " + hint;
  return s;
}

} // namespace

io_error::io_error(const std::string& context, int err, const std::string& hint)
    : std::runtime_error(compose(context, err, hint)), code_(err) {}

} // namespace castor::packet
