#pragma once

// castor-bus's subcommands: their options and entry points (one file each).

#include <string>
#include <vector>

#include "castor/bus/subscriber.hpp"
#include "castor/bus/subscriber_core.hpp"
#include "castor/bus/topic_map.hpp"

namespace castor_bus_cli {

/// What every subcommand takes.
struct common_options {
  std::string topic;
  std::vector<std::string> map_entries; // TOPIC=GROUP:PORT[,raw]
  /// -6: IPv6's default mapping and discovery group.
  bool ipv6 = false;
  /// --base: the default mapping's range (IPv4 /16 or IPv6 /96).
  std::string base;
  /// --discovery GROUP:PORT: where announcements go.
  std::string discovery;
  std::string interface;
  /// The multicast TTL (IPv6: the hop limit).
  int ttl = 1;
  int announce_ms = 1000;
  /// Socket buffers in bytes (endpoint_options' defaults, 2 MiB).
  int rcvbuf = 1 << 21;
  int sndbuf = 1 << 21;
  /// IP_MULTICAST_LOOP: subscribers on this host receive what it sends.
  bool no_loop = false;

  /// The map of -6, --base, --discovery and the --map entries; false (and
  /// a message naming the option and the problem) if one is bad.
  bool make_map(castor::bus::topic_map& out) const;
};

struct pub_options {
  common_options common;
  /// 0: one message per line of stdin; otherwise generate this many.
  long count = 0;
  double rate = 10000;
  int size = 32;
  int linger_ms = 1000;
  int batch_us = 500;
  /// publisher_options::flush_when_idle off.
  bool no_idle_flush = false;
  int ring = 16384;
  /// The publisher's send rate limit in bytes/s (max_rate); 0: none.
  double max_rate = 0;
  /// UDP GSO on the publisher's socket (publisher_options::segmentation).
  bool gso = false;
  /// Generated messages carry their send time (steady clock, ns) after the
  /// index, for sub --latency.
  bool stamp = false;
};

struct sub_options {
  common_options common;
  long count = 0;
  double timeout = 0;
  double idle = 0;
  bool quiet = false;
  bool check = false;
  int credit = 1024;
  /// Messages waiting for credit, at most (subscriber_options::max_queue).
  size_t queue = castor::bus::subscriber_options{}.max_queue;
  /// Latency percentiles from pub --stamp's send times (same host).
  bool latency = false;
  bool gro = false;
  /// NAKs for one datagram before it is given up (subscriber_config).
  unsigned nak_attempts = castor::bus::subscriber_config{}.nak_attempts;
};

struct stat_options {
  /// The discovery group (its family is the socket's) and port.
  castor::bus::ip_address group;
  uint16_t port = 0;
  std::string interface;
  double duration = 2.5;
  bool json = false;
};

int run_pub(const pub_options& o);
int run_sub(const sub_options& o);
int run_stat(const stat_options& o);

} // namespace castor_bus_cli
