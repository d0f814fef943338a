#include "actor_support.hpp"

#include <random>

namespace castor::bus::detail {

boost::asio::ip::address to_asio(const ip_address& a) {
  if (a.is_v4())
    return boost::asio::ip::address_v4{a.to_v4()};
  return boost::asio::ip::address_v6{a.bytes()};
}

net::udp_child_options socket_options(const endpoint_options& opts,
                                      const topic_endpoint& ep,
                                      bool subscriber) {
  net::udp_child_options o;
  auto& s = o.socket;
  auto port = subscriber ? ep.port : uint16_t{0};
  if (ep.group.is_v6()) {
    s.local = {boost::asio::ip::address_v6::any(), port};
    s.v6only = 1;
  } else {
    s.local = {boost::asio::ip::address_v4::any(), port};
  }
  s.reuse_address = subscriber;
  s.active = net::active_mode::counted(opts.socket_credit);
  s.read_packets = opts.read_packets;
  // Bus datagrams fit the path MTU; raw topics may carry jumbo frames. A
  // receive block is read_packets x max_datagram: keep it small.
  s.max_datagram = 9216;
  s.recv_buffer = opts.recv_buffer;
  s.send_buffer = opts.send_buffer;
  s.multicast_ttl = opts.ttl;
  s.multicast_loop = opts.loop ? 1 : 0;
  if (!opts.interface.empty())
    s.multicast_interface = net::interface_ref::by_name(opts.interface);
  if (subscriber) {
    auto itf = opts.interface.empty()
                 ? net::interface_ref{}
                 : net::interface_ref::by_name(opts.interface);
    s.memberships = {
      net::multicast_membership::any_source(to_asio(ep.group), itf)};
  }
  return o;
}

announcer::announcer(const endpoint_options& opts, const topic_endpoint& ep,
                     uint64_t origin, uint16_t flags)
    : interval_(opts.announce_interval),
      dest_(to_endpoint(opts.map.discovery_group(ep.group.family()),
                        opts.map.discovery_port(ep.group.family()))),
      due_(bus_clock::now()), last_(due_) {
  hdr_.origin = origin;
  hdr_.topic = ep.hash;
  hdr_.flags = static_cast<uint16_t>(flags | (ep.raw ? flag_raw : 0));
  body_.topic = ep.name;
  body_.group = ep.group;
  body_.port = ep.port;
}

std::vector<uint8_t> announcer::poll(time_point now, uint64_t gaps,
                                     uint64_t drops) {
  if (!enabled() || now < due_)
    return {};
  auto secs = std::chrono::duration<double>(now - last_).count();
  if (secs > 0) {
    body_.msgs_per_sec = static_cast<uint32_t>(msgs_ / secs);
    body_.bytes_per_sec = static_cast<uint64_t>(bytes_ / secs);
  }
  msgs_ = bytes_ = 0;
  last_ = now;
  due_ = now + interval_;
  body_.gaps = gaps;
  body_.drops = drops;
  return make_announce(hdr_, body_);
}

uint64_t random_origin() {
  std::random_device rd;
  uint64_t x = (uint64_t{rd()} << 32) ^ rd();
  return x == 0 ? 1 : x;
}

uint64_t raw_origin(const net::udp_endpoint& from) noexcept {
  auto a = from.address();
  if (a.is_v4())
    return (uint64_t{a.to_v4().to_uint()} << 16) | from.port();
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  for (auto b : a.to_v6().to_bytes())
    mix(b);
  auto zone = a.to_v6().scope_id();
  for (int i = 0; i < 4; ++i)
    mix(static_cast<uint8_t>(zone >> (8 * i)));
  mix(static_cast<uint8_t>(from.port() >> 8));
  mix(static_cast<uint8_t>(from.port()));
  return h;
}

} // namespace castor::bus::detail
