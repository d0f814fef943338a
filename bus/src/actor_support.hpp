#pragma once

// What the publisher and subscriber actors share: their socket's options,
// endpoints, one re-armable timer, and the discovery announcements.

#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>

#include "castor/bus/atoms.hpp"
#include "castor/bus/endpoint_options.hpp"
#include "castor/bus/wire.hpp"
#include "castor/net/atoms.hpp"
#include "castor/net/udp_child.hpp"

namespace castor::bus::detail {

/// The core's address as Asio's.
boost::asio::ip::address to_asio(const ip_address& a);

inline net::udp_endpoint to_endpoint(const ip_address& group, uint16_t port) {
  return {to_asio(group), port};
}

/// The socket of a publisher (bound to an ephemeral port, NAKs arrive
/// there) or a subscriber (bound to the topic's port and joined to its
/// group), of the family of the topic's group: an IPv6 topic gets an
/// AF_INET6 socket (IPV6_V6ONLY: an IPv4 topic on the same port is
/// another socket's) whose ttl, loop and interface options are the IPv6
/// ones (hop limit, IPV6_MULTICAST_LOOP, IPV6_MULTICAST_IF) and whose join
/// is an MLD join (castor::net does both by the socket's family).
net::udp_child_options socket_options(const endpoint_options& opts,
                                      const topic_endpoint& ep,
                                      bool subscriber);

/// One timer whose deadline may only move earlier until it fires; stale
/// firings (CAF 0.17 cannot cancel a delayed_send) are told apart by a
/// generation number.
class wakeup {
public:
  /// `self`: the actor, scheduled or on a shard (anything with
  /// delayed_send).
  template <class Self>
  void arm(Self* self, time_point at, time_point now) {
    if (at >= armed_)
      return;
    armed_ = at;
    auto delay = at > now ? at - now : duration::zero();
    self->delayed_send(
      caf::actor_cast<caf::actor>(self),
      std::chrono::duration_cast<std::chrono::microseconds>(delay),
      bus_tick_atom::value, ++gen_);
  }
  /// True if `gen` is the current timer; then it is spent.
  bool fired(uint64_t gen) {
    if (gen != gen_)
      return false;
    armed_ = time_point::max();
    return true;
  }

private:
  uint64_t gen_ = 0;
  time_point armed_ = time_point::max();
};

/// Counts what went through for the announcements' rates.
class announcer {
public:
  announcer(const endpoint_options& opts, const topic_endpoint& ep,
            uint64_t origin, uint16_t flags);
  bool enabled() const noexcept { return interval_.count() > 0; }
  time_point due() const noexcept { return due_; }
  void count(uint64_t msgs, uint64_t bytes) {
    msgs_ += msgs;
    bytes_ += bytes;
  }
  /// The announcement if one is due (and schedules the next one).
  std::vector<uint8_t> poll(time_point now, uint64_t gaps, uint64_t drops);
  const net::udp_endpoint& destination() const noexcept { return dest_; }

private:
  std::chrono::milliseconds interval_;
  net::udp_endpoint dest_;
  header hdr_;
  announce_body body_;
  time_point due_;
  time_point last_;
  uint64_t msgs_ = 0;
  uint64_t bytes_ = 0;
};

/// A random 64-bit id.
uint64_t random_origin();

/// A raw datagram's origin: its sender. IPv4: the address and port
/// ((address << 16) | port). IPv6: a 64-bit hash (FNV-1a) of the address,
/// its zone (a link-local sender is named per interface) and the port.
uint64_t raw_origin(const net::udp_endpoint& from) noexcept;

} // namespace castor::bus::detail
