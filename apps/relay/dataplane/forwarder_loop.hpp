#pragma once

// The packet loop of one forwarder: its own thread, one AF_PACKET ingress
// socket in the interface's fanout group, and one udp_egress (sendmmsg
// ring) per distinct egress_key (output interface, TTL, TOS, source port;
// rule_table.hpp). The forwarder actor is
// the supervised face of it (forwarder.hpp); no datagram ever becomes an
// actor message (measured on CAF 0.17: a message per packet caps an actor
// at tens of kpps).
//
// IPv6: with IPv6 rules, the AF_PACKET ingress gets a second socket bound
// to ETH_P_IPV6 (0x86DD, its own fanout group and build_filter6 program),
// whose frames go through parse_udp6_frame and the table's find6(); a
// rule's outputs are IPv4 or IPv6 whatever its input (the egress socket
// is of the output's family), and the hop limit and traffic class stand
// for the TTL and TOS.
//
// One wake-up of the loop:
//   poll(ingress, wake eventfd, blocked egress sockets, rtnetlink)
//   run queued commands (new rule table, stats snapshot, stop)
//   on a link or address event: look the output interfaces up again, and
//   rebuild the table if one has a new index (output_links.hpp)
//   drain up to `batch` frames: parse, look up, enqueue a copy per output
//   flush every egress ring with sendmmsg
// and again while the ingress keeps delivering full batches.
//
// Threads: commands are the only thing shared. They go into a mutex-guarded
// queue and the eventfd wakes the loop, which takes the lock once per
// wake-up, never per packet. A rule change thus reaches the loop at its next
// wake-up: immediately when idle, after the current batch when busy.
//
// Bounded everything: the send rings have fixed slots, and a ring that
// fills while a read is fanned out is flushed there and then; an output
// that cannot keep up (EAGAIN) keeps its queue and is polled for POLLOUT,
// while the loop goes on reading and the full ring drops that output's
// datagrams as queue_full. The other outputs never wait for it.
//
// Failure: an ingress socket error (interface gone, ENETDOWN) ends the loop
// and reports through `on_failure`; the actor then exits with an error and
// its supervisor restarts it, which opens a fresh socket. A rule change the
// kernel refuses (the new filter) does not: the loop keeps the ingress it
// had, forwards with the new table, and reports the failure in its
// snapshot (`castorctl workers`) and the log.
//
// The kernel filter scales by tiers (castor/packet/bpf_filter.hpp): exact
// while the rules fit one cBPF program, then the ruled ports only, then all
// UDP; the table below matches the group either way, and what passed the
// filter without a rule counts as no_rule.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/output_links.hpp"
#include "dataplane/rule_table.hpp"
#include "dataplane/socket_ingress.hpp"
#include "model/counters.hpp"
#include "model/daemon_config.hpp"
#include <poll.h>

#include "castor/packet/ingress_socket.hpp"
#include "castor/packet/udp_egress.hpp"

namespace castor::relay {

struct forwarder_options {
  /// For logs and stats: the child id, e.g. "fwd-eth0-1".
  std::string worker;
  std::string interface;
  unsigned ifindex = 0;
  /// AF_PACKET fanout (needs CAP_NET_RAW) or plain UDP sockets.
  ingress_mode ingress = ingress_mode::packet;
  /// AF_PACKET: recvmmsg wakes per datagram (µs latency); the ring wakes per block
  /// (ms latency at low rates, fewer syscalls at high ones).
  packet::receive_mode mode = packet::receive_mode::recvmmsg;
  /// Frames per drain; also bounds how long a command waits behind a batch.
  std::size_t batch = 256;
  /// Per egress socket: send ring slots (datagrams), payload storage in
  /// frames of max_frame bytes, and outputs it has counters for at first
  /// (more are added as outputs are). More outputs on the socket flush the
  /// ring as it fills (send_ring.hpp), so the bytes need only hold one
  /// read to one output; the slots are more, so that small datagrams of
  /// many interleaved streams have a window wide enough to be joined
  /// (docs/relay.md, "Send rings, and the memory they take").
  std::size_t egress_slots = send_ring_slots;
  std::size_t egress_payload_frames = send_ring_frames;
  /// The largest IP packet read ([relay] max_frame): the size of every
  /// receive buffer and send slot. A larger one counts as truncated.
  std::size_t max_frame = default_max_frame;
  std::size_t max_outputs_per_egress = 256;
};

class forwarder_loop {
public:
  using failure_handler = std::function<void(const std::string& reason)>;
  using snapshot_handler = std::function<void(worker_snapshot)>;

  /// AF_PACKET ingress: opens the socket (filter: drop everything) and
  /// joins the fanout group. Throws packet::io_error (e.g. no CAP_NET_RAW).
  /// Socket ingress: opens its sockets when the first table arrives.
  forwarder_loop(forwarder_options options, failure_handler on_failure);

  /// Stops and joins the thread.
  ~forwarder_loop();

  forwarder_loop(const forwarder_loop&) = delete;
  forwarder_loop& operator=(const forwarder_loop&) = delete;

  /// Starts the thread. Once.
  void start();

  /// Asks the loop to stop and waits for its thread. Idempotent.
  void stop();

  /// Hands over a new table; the loop installs it at its next wake-up
  /// (opens egress sockets it needs, swaps the kernel filter). Thread-safe.
  void install(std::shared_ptr<const rule_table> table);

  /// Asks the loop for its counters; `done` runs on the loop's thread.
  /// Thread-safe. Never called if the loop has stopped.
  void snapshot(snapshot_handler done);

  /// Stops the loop, then returns its counters as it left them (on the
  /// calling thread: the loop's thread is gone).
  worker_snapshot final_snapshot() {
    stop();
    return take_snapshot();
  }

  const forwarder_options& options() const noexcept { return opts_; }

private:
  // One egress socket and the send-ring slots (output counter indexes) in
  // use on it, by output key.
  struct egress_entry {
    std::unique_ptr<packet::udp_egress> socket;
    std::map<std::string, uint32_t> slots;
    std::vector<uint32_t> free_slots;
    bool blocked = false;
  };

  // Where table output i goes: its socket and slot, or nowhere (unusable).
  struct binding {
    packet::udp_egress* socket = nullptr;
    uint32_t slot = 0;
    uint64_t unusable_drops = 0;
    uint64_t ttl_expired = 0; ///< ttl = "decrement" met an input TTL of 1
  };

  struct rule_counts {
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };

  void post(std::function<void()> command);
  void wake() noexcept;
  void run() noexcept;
  void run_commands();
  /// Applies the current table's ingress (kernel filter or sockets); a
  /// refusal is reported, and the previous ingress stays.
  void apply_ingress();
  /// `outputs_only`: the same rules, outputs looked up again (the rule
  /// counters and the ingress filter stay).
  void install_now(std::shared_ptr<const rule_table> table,
                   bool outputs_only = false);
  /// Looks the output interfaces up again; rebuilds the table when one
  /// has a new index (or is gone, or is back).
  void refresh_outputs();
  /// Moves what an output counted where it is kept across installs.
  void carry(const std::string& key, const packet::output_counters& c);
  void forward(const packet::udp_datagram& d) noexcept;
  void forward(const packet::udp6_datagram& d) noexcept;
  /// Queues a copy of a datagram that matched rule `r` for each output;
  /// `ttl` and `tos` are its TTL (hop limit) and TOS (traffic class).
  void relay(uint32_t r, uint8_t ttl, uint8_t tos, const uint8_t* payload,
             std::size_t size) noexcept;
  /// The ETH_P_IPV6 ingress socket, opened at the first IPv6 rule.
  void open_ingress6();
  /// Whether an AF_PACKET ingress socket has failed (SO_ERROR after
  /// poll(), or an error a read took): reports it and says so.
  bool ingress_failed(const std::vector<pollfd>& fds, bool after_read);
  // Flushes every ring; with `more_waiting` (a full read: more frames are
  // queued), rings worth holding (send_ring::worth_holding) wait.
  void flush_all(bool more_waiting = false) noexcept;
  worker_snapshot take_snapshot();
  void fail(const std::string& reason);

  forwarder_options opts_;
  failure_handler on_failure_;
  std::unique_ptr<packet::ingress_socket> ingress_; ///< packet mode
  /// Packet mode with IPv6 rules: the ETH_P_IPV6 socket.
  std::unique_ptr<packet::ingress_socket> ingress6_;
  std::unique_ptr<socket_ingress> sockets_; ///< socket mode
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  std::mutex commands_mtx_;
  std::vector<std::function<void()>> commands_;

  // Loop thread only from here on.
  std::shared_ptr<const rule_table> table_;
  std::vector<binding> bindings_;   ///< parallel to table_->outputs()
  std::vector<rule_counts> counts_; ///< parallel to table_->rules()
  std::map<egress_key, egress_entry> egresses_;
  uint64_t no_rule_ = 0;
  packet::filter_tier filter_tier_ = packet::filter_tier::exact;
  std::string filter_error_; ///< why the last ingress change failed
  uint64_t filter_failures_ = 0;
  // Output interfaces: their events, and their state and index as last
  // looked up, by name (the current table's output interfaces only).
  link_events link_events_;
  std::map<std::string, link_status> output_links_;
  std::chrono::steady_clock::time_point next_link_check_{};
  // What outputs counted on sockets or slots they no longer use (an
  // output moved to a re-created interface, or unusable meanwhile), by
  // output key: counters never go back while the output exists.
  std::map<std::string, packet::output_counters> carried_;
  // An egress socket could not be opened at the last install (e.g. an
  // IPv6 output whose interface has no global address yet): the next
  // link check tries again.
  bool egress_failed_ = false;
};

} // namespace castor::relay
