#pragma once

// The cross-site data path (issue 17): one thread that owns every socket of
// the sites part, outside CAF's scheduler like the forwarders' loops.
//
//   exports   a UDP socket per export, joined to its group on its input
//             interface; each datagram goes to every listed peer that is
//             up and asked for the group, batched into frames per peer
//   data      one UDP socket on [node] listen (the node link's address and
//             port, UDP instead of TCP): frames to and from every peer
//   imports   frames from a peer, checked (MAC, duplicate window), emitted
//             as multicast on the import's outputs
//   spread    spread = "log" exports leave on at most ceil(log2(N+1))
//             links; a site forwards the records it was handed a share of
//             (site_spread.hpp)
//   probes    a ping to each up peer every probe_interval; the pong gives
//             the round-trip time
//
// The engine is split by concern: the control side (site_engine.cpp), the
// thread (site_loop.hpp: loop, WAN, LAN), the sockets (site_sockets.hpp),
// the frames (site_frame.hpp) and the spreading plan (site_spread.hpp).
//
// Frames go out when full or when the sockets have nothing more to read:
// under load they fill up, when idle a datagram leaves at once. Nothing
// queues: a send that the kernel refuses is a drop, counted per peer and
// reason. The control side (sites_actor) tells the engine which peers are
// up, what each wants and the keys; it never touches a socket.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sites/site_model.hpp"

namespace castor::relay::sites {

/// Why a datagram or frame did not make it, per peer.
enum class site_drop : uint8_t {
  peer_down,  ///< an export's datagram while the peer is not up
  send_error, ///< the kernel refused the frame (full buffer, no route)
  auth,       ///< a frame whose MAC does not check (or no key yet)
  malformed,  ///< a frame that does not parse
  stale,      ///< a sequence number behind the duplicate window
  no_rule,    ///< a group no import of that peer takes
  emit_error, ///< the local multicast send failed
  version,    ///< a frame of another format version (an older or newer relay)
  /// a castor::bus NAK from the peer for a group this site does not
  /// export to it, or a publisher it has not heard
  no_publisher,
  count_
};

const char* to_string(site_drop x);

inline constexpr std::size_t site_drop_count =
  static_cast<std::size_t>(site_drop::count_);

/// One peer's counters, as castorctl and /metrics show them. They survive
/// the peer going down and coming back.
struct site_peer_stats {
  std::string name;
  std::string address;
  bool up = false;
  uint64_t reconnects = 0;
  uint64_t tx_frames = 0;
  uint64_t tx_datagrams = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_frames = 0;
  uint64_t rx_datagrams = 0;
  uint64_t rx_bytes = 0;
  /// Datagrams seen before (redundant paths), emitted once only.
  uint64_t duplicates = 0;
  /// castor::bus repair across sites (docs/bus.md): datagrams repaired
  /// here from the ring of imports from this peer, NAKs sent up to it, and
  /// its NAKs handed to a publisher here.
  uint64_t bus_repairs = 0;
  uint64_t bus_naks_up = 0;
  uint64_t bus_naks_in = 0;
  std::array<uint64_t, site_drop_count> drops{};
  /// Groups the peer asked for: how many, and which ("239.1.1.1:5001",
  /// "[ff3e::1:1]:5001").
  std::size_t interest = 0;
  std::vector<std::string> wants;
  /// The data path's round-trip time (probes every probe_interval),
  /// smoothed; 0 until measured.
  uint64_t rtt_ns = 0;
};

/// Frames from addresses that are no peer's.
struct site_engine_stats {
  std::vector<site_peer_stats> peers;
  uint64_t unknown_source = 0;
};

class site_engine {
public:
  /// `incarnation`: this run's origin id (random per start).
  explicit site_engine(uint64_t incarnation);
  ~site_engine();

  site_engine(const site_engine&) = delete;
  site_engine& operator=(const site_engine&) = delete;

  /// Binds the data socket on `listen` and starts the thread; the reason on
  /// failure.
  std::string start(const site_endpoint& listen);
  void stop();

  /// Peers, exports and imports; sockets follow on the engine thread.
  /// Peers not in `config` are forgotten (their counters too).
  void configure(const sites_config& config);

  /// The peer `name` is up and wants `groups`, MACed under `tx_key`.
  void set_interest(const std::string& name, std::vector<site_group> groups,
                    std::string tx_key);
  void peer_down(const std::string& name);

  /// The key `name` must MAC its frames to us with: random per peer and
  /// run, handed over the node link.
  std::string rx_key(const std::string& name);

  site_engine_stats stats() const;

  /// How often the engine probes each up peer's round-trip time.
  static constexpr std::chrono::milliseconds probe_interval{500};

private:
  struct peer_counters;
  struct peer_state;
  struct plan;
  struct loop;

  void bump();
  /// The engine thread (site_loop.hpp).
  void run();

  uint64_t incarnation_;
  mutable std::mutex mtx_;
  std::shared_ptr<plan> plan_;
  std::atomic<uint64_t> version_{0};
  std::map<std::string, std::shared_ptr<peer_counters>> counters_;
  std::map<std::string, std::string> rx_keys_;
  std::atomic<uint64_t> unknown_source_{0};
  int data_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

} // namespace castor::relay::sites
