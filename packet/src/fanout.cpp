#include "fanout.hpp"

#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

#include <linux/if_packet.h>
#include <sys/socket.h>

#include "castor/packet/error.hpp"

namespace castor::packet {

namespace {

// (ifindex, flags, protocol) -> the id this process's sockets share. Only read and
// written while opening sockets, never per packet.
std::mutex registry_mutex;
std::map<std::tuple<unsigned, uint32_t, uint16_t>, uint16_t> registry;

bool try_join(int fd, uint16_t id, uint32_t flags) {
  const uint32_t arg = id | (flags << 16);
  return ::setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) == 0;
}

} // namespace

uint16_t join_fanout(int fd, const fanout_settings& s) {
  const uint32_t flags =
    PACKET_FANOUT_HASH | (s.defrag ? PACKET_FANOUT_FLAG_DEFRAG : 0);
  if (s.id) {
    if (!try_join(fd, *s.id, flags))
      throw io_error("PACKET_FANOUT join of group " + std::to_string(*s.id),
                     errno,
                     errno == EINVAL ? "the id is in use with other settings "
                                       "or on another interface"
                                     : "");
    return *s.id;
  }

  std::lock_guard<std::mutex> guard{registry_mutex};
  const auto key = std::make_tuple(s.ifindex, flags, s.protocol);
  if (auto i = registry.find(key); i != registry.end()) {
    if (try_join(fd, i->second, flags))
      return i->second;
    // EINVAL: every socket of our old group closed and another group with
    // other settings took the id. Anything else is a real error.
    if (errno != EINVAL)
      throw io_error("PACKET_FANOUT join of group " + std::to_string(i->second),
                     errno);
  }
  // Id 0 with UNIQUEID: the kernel picks an id no group in this namespace
  // uses. The flag is not part of the group's settings, so later members
  // join with `flags` alone.
  if (!try_join(fd, 0, flags | PACKET_FANOUT_FLAG_UNIQUEID))
    throw io_error("PACKET_FANOUT with a fresh group id", errno,
                   errno == EINVAL ? "needs Linux >= 4.3" : "");
  uint32_t value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &value, &len) != 0)
    throw io_error("getsockopt PACKET_FANOUT", errno);
  const auto id = static_cast<uint16_t>(value & 0xffff);
  registry[key] = id;
  return id;
}

} // namespace castor::packet
