#pragma once

// Atoms and message types of the bus's actor protocols (publisher.hpp,
// subscriber.hpp). CAF 0.17 atoms are at most 10 characters. Credits reuse
// castor::net's active_atom, with the socket layer's semantics.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "castor/bus/delivery_queue.hpp"
#include "castor/bus/message_pack.hpp"
#include "castor/bus/publisher_core.hpp"
#include "castor/bus/subscriber_core.hpp"

namespace castor::bus {

/// -> publisher: (publish_atom, std::string | std::vector<std::string> |
/// message_pack).
using publish_atom = caf::atom_constant<caf::atom("bus_pub")>;
/// -> publisher: (flush_atom), seal the open datagram now.
using flush_atom = caf::atom_constant<caf::atom("bus_flush")>;
/// -> publisher or subscriber: (bus_stats_atom) -> publisher_report or
/// subscriber_report.
using bus_stats_atom = caf::atom_constant<caf::atom("bus_stats")>;

/// Subscriber -> user: (bus_atom, bus_delivery), messages under credit.
using bus_atom = caf::atom_constant<caf::atom("bus")>;
/// Subscriber -> user: (bus_passive_atom), the credit reached 0.
using bus_passive_atom = caf::atom_constant<caf::atom("bus_pasv")>;
/// Subscriber -> user: (bus_gap_atom, bus_gap), datagrams that will never
/// come. Not counted against the credit, never dropped.
using bus_gap_atom = caf::atom_constant<caf::atom("bus_gap")>;

/// Internal: the actors' timers.
using bus_tick_atom = caf::atom_constant<caf::atom("bus_tick")>;

/// Messages of one topic, in order per publisher. Their payloads point
/// into `storage` (shared, read-only): valid as long as this delivery or a
/// copy of it exists. Keep a std::string of a payload to hold it longer.
struct bus_delivery {
  std::string topic;
  std::vector<bus_message> messages;
  payload_storage storage;
};

/// An unrecoverable gap of one topic.
struct bus_gap {
  std::string topic;
  gap_notice gap;
};

struct publisher_report {
  std::string topic;
  uint64_t origin = 0;
  uint32_t session = 0;
  publisher_stats core;
  /// Raw mode: datagrams sent (no core).
  uint64_t raw_sent = 0;
  /// Flow control (publisher.hpp): datagrams waiting for the socket window
  /// now, handed to the socket and not yet seen leave, publish requests
  /// waiting for room, and messages dropped because the backlog was full.
  uint64_t backlog = 0;
  uint64_t in_flight = 0;
  uint64_t waiting_requests = 0;
  uint64_t refused = 0;
  /// How often the send rate limit (publisher_options::max_rate) held the
  /// backlog back.
  uint64_t rate_waits = 0;
};

struct subscriber_report {
  std::string topic;
  subscriber_stats core;
  /// Messages handed to the user, waiting for credit now, and dropped
  /// because the queue was full.
  uint64_t delivered = 0;
  uint64_t queued = 0;
  uint64_t dropped = 0;
  uint64_t gaps_reported = 0;
};

} // namespace castor::bus

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::bus::bus_delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::bus::bus_gap)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::bus::message_pack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::bus::publisher_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::bus::subscriber_report)
