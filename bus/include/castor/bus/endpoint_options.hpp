#pragma once

// What the publisher and the subscriber share about their place on the
// network: the topic, the map that resolves it, the interface and the
// discovery announcements.

#include <chrono>
#include <cstdint>
#include <string>

#include "castor/bus/topic_map.hpp"

namespace castor::bus {

struct endpoint_options {
  std::string topic;
  /// Resolves the topic; the family of its group (IPv4 by default;
  /// topic_map{ip_family::v6} for IPv6's mapping) is the socket's.
  topic_map map;
  /// The interface to send and join on, by name (IP_MULTICAST_IF or
  /// IPV6_MULTICAST_IF, and the join's); empty leaves it to the routing
  /// table.
  std::string interface;
  /// IP_MULTICAST_TTL (IPv6: IPV6_MULTICAST_HOPS, the hop limit) of data
  /// and announcements; 1 keeps them in the subnet.
  int ttl = 1;
  /// IP_MULTICAST_LOOP (IPV6_MULTICAST_LOOP): subscribers on the same host
  /// receive.
  bool loop = true;
  /// Socket buffers (0: the kernel's default).
  int recv_buffer = 1 << 21;
  int send_buffer = 1 << 21;
  /// The socket's {active, N} credit in datagrams (the subscriber's
  /// socket keeps reading this far ahead of the actor: at 100k
  /// datagrams/s, 2048 is 20 ms of a descheduled actor) and the datagrams
  /// read per wake-up.
  int32_t socket_credit = 2048;
  uint32_t read_packets = 64;
  /// Discovery announcements on the map's discovery group; 0 turns them off.
  std::chrono::milliseconds announce_interval{1000};
};

} // namespace castor::bus
