#pragma once

// What both send-ring test files need: enqueue a string as one datagram.

#include <cstdint>
#include <string>

#include <arpa/inet.h>

#include "castor/packet/send_ring.hpp"
#include "castor/packet/udp_egress.hpp"

namespace castor::packet::test {

/// Queues `s` for `output`, to 239.2.2.2:`port`.
inline bool put(send_ring& r, uint32_t output, uint16_t port,
                const std::string& s) {
  auto dest = make_destination(htonl(0xef020202), port);
  return r.enqueue(output, dest, reinterpret_cast<const uint8_t*>(s.data()),
                   s.size());
}

} // namespace castor::packet::test
