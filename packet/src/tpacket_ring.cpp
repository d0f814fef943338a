#include "castor/packet/detail/tpacket_ring.hpp"

#include <cerrno>
#include <string>

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/error.hpp"

namespace castor::packet {

tpacket_ring::~tpacket_ring() {
  if (map_)
    ::munmap(map_, map_size_);
}

void tpacket_ring::setup(int fd, const ring_geometry& geometry,
                         unsigned ifindex) {
  const auto page = static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
  const auto bs = geometry.block_size;
  if (bs == 0 || bs % page != 0 || (bs & (bs - 1)) != 0
      || geometry.block_count == 0)
    throw io_error("TPACKET_V3 ring: block size " + std::to_string(bs)
                     + " must be a power of two multiple of the page size,"
                       " and blocks > 0",
                   EINVAL);
  int version = TPACKET_V3;
  if (::setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version)
      != 0)
    throw io_error("PACKET_VERSION TPACKET_V3", errno);

  tpacket_req3 req{};
  req.tp_block_size = bs;
  req.tp_block_nr = geometry.block_count;
  // V3 frames have variable size; tp_frame_size only has to divide the
  // block for the kernel's sanity checks. 2048 is the classic choice.
  req.tp_frame_size = 2048;
  req.tp_frame_nr = (bs / req.tp_frame_size) * geometry.block_count;
  req.tp_retire_blk_tov = geometry.retire_timeout_ms;
  req.tp_sizeof_priv = 0;
  req.tp_feature_req_word = 0;
  if (::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
    throw io_error("PACKET_RX_RING (" + std::to_string(geometry.block_count)
                     + " x " + std::to_string(bs) + " bytes)",
                   errno);

  const std::size_t size = static_cast<std::size_t>(bs) * geometry.block_count;
  void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED) {
    // MAP_LOCKED keeps the ring out of swap; RLIMIT_MEMLOCK may forbid it
    // for a non-root user, which is not worth failing for.
    m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
               fd, 0);
    if (m == MAP_FAILED)
      throw io_error("mmap of the TPACKET_V3 ring", errno);
  }
  map_ = static_cast<uint8_t*>(m);
  map_size_ = size;
  geometry_ = geometry;
  ifindex_ = ifindex;
  current_ = 0;
  walked_ = 0;
}

} // namespace castor::packet
