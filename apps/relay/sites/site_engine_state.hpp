#pragma once

// What the control side of site_engine (site_engine.cpp) hands its thread
// (site_loop.hpp): per-peer counters that outlive reconfigurations, and
// the immutable plan the thread copies when the version changes.

#include <array>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sites/site_engine.hpp"
#include "sites/site_frame.hpp"
#include "sites/site_sockets.hpp"

namespace castor::relay::sites {

struct site_engine::peer_counters {
  std::atomic<uint64_t> tx_frames{0}, tx_datagrams{0}, tx_bytes{0};
  std::atomic<uint64_t> rx_frames{0}, rx_datagrams{0}, rx_bytes{0};
  std::atomic<uint64_t> duplicates{0}, reconnects{0};
  /// castor::bus repair (site_bus_repair.hpp): datagrams this site
  /// repaired from its ring for imports from the peer, NAKs it sent the
  /// peer, and NAKs the peer sent that went on to a local publisher.
  std::atomic<uint64_t> bus_repairs{0}, bus_naks_up{0}, bus_naks_in{0};
  /// The smoothed round-trip time of the data path, 0 until measured.
  std::atomic<uint64_t> rtt_ns{0};
  std::array<std::atomic<uint64_t>, site_drop_count> drops{};

  void drop(site_drop why, uint64_t n = 1) {
    drops[static_cast<std::size_t>(why)].fetch_add(n,
                                                   std::memory_order_relaxed);
  }
  /// A frame or probe that did not parse, by why.
  void drop(frame_error why) {
    drop(why == frame_error::auth      ? site_drop::auth
         : why == frame_error::version ? site_drop::version
                                       : site_drop::malformed);
  }
};

struct site_engine::peer_state {
  std::string name;
  site_endpoint endpoint;
  socket_address addr;
  bool up = false;
  bool was_up = false;
  std::set<site_group> wants;
  std::string tx_key;
  std::string rx_key;
  std::shared_ptr<peer_counters> c;
};

struct site_engine::plan {
  /// This site's node name, the origin named in spread blocks.
  std::string self;
  std::vector<peer_state> peers;
  std::vector<site_export> exports;
  std::vector<site_import> imports;
};

} // namespace castor::relay::sites
