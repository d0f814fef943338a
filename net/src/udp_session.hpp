#pragma once

// The io-thread half of a UDP socket actor (internal). One udp_session owns
// the Asio socket, the active-mode state, the receive pool and the send
// queue. All of it is touched only on the shard's thread; the session's CAF
// face is a shard_companion (shard_companion.hpp), whose lifetime rules it
// follows: the cycle between session and companion keeps an idle passive
// socket alive until the companion exits.

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/response_promise.hpp>
#include <caf/result.hpp>
#include <caf/send.hpp>

#include "active_state.hpp"
#include "shard_companion.hpp"
#include "udp_port_claim.hpp"
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/socket.h>

#include "castor/net/detail/batch_pool.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/udp_batch.hpp"
#include "castor/net/udp_socket.hpp"

namespace castor::net::detail {

/// What a socket's first own join changes where udp_options left the choice
/// to castor (multicast_all, packet_info at -1): IP_MULTICAST_ALL off and
/// IP_PKTINFO on. At open (after the memberships) and on a runtime join.
caf::error apply_join_defaults(int fd, bool multicast_all, bool packet_info);

class udp_session final : public shard_companion {
public:
  /// Messages per sendmmsg call, and datagrams per GSO message.
  static constexpr size_t send_batch = 64;
  static constexpr size_t max_segments = 64;

  udp_session(caf::actor_system& sys, io_shard& shard,
              boost::asio::ip::udp::socket sock, const udp_options& opts);
  ~udp_session() override;

  /// Calling thread, under the shard's admission lock: spawns
  /// the companion, installs its behavior and links it to `owner`.
  caf::actor start(const caf::actor& owner);

  /// Shard thread: the first step once admitted (register, start reading).
  void admitted();

private:
  using kind = active_mode::kind;

  struct pending_recv {
    caf::response_promise promise;
    std::unique_ptr<boost::asio::steady_timer> timer;
    uint64_t id;
  };

  struct out_item {
    udp_endpoint dst;
    bool has_dst;
    std::vector<uint8_t> owned;
    udp_batch keep; // holds forwarded data alive
    const uint8_t* data;
    size_t size;
  };

  caf::behavior make_behavior();
  bool ends_on(const caf::exit_msg& msg) const override;
  void enqueued(const caf::mailbox_element& elem) override;
  void release() override;
  void released() override;
  int fd() { return sock_.native_handle(); }

  template <class... Ts>
  void to_owner(Ts&&... xs) {
    if (owner_)
      caf::send_as(caf::actor_cast<caf::actor>(hdl_), owner_,
                   std::forward<Ts>(xs)...);
  }
  void report(caf::error err);

  // -- active mode and reading ------------------------------------------------
  caf::result<void> set_count(int32_t n);
  void set_mode(kind m);
  // Starts or stops reading as the new mode asks.
  void on_mode_changed();
  bool wants_data() const;
  void update_reading();
  void arm_read();
  void drain();
  bool below_pin_bound();
  void resume_reading();
  void on_read_error(int err);
  void fail_pending_recvs(const caf::error& err);
  caf::result<udp_batch> recv(int64_t timeout_ms);

  // -- sending ----------------------------------------------------------------
  void enqueue(out_item item);
  void flush();
  // How many queued datagrams from `first` join one GSO message.
  size_t joinable(size_t first, size_t iovs_left) const;

  caf::error setopt(const udp_option& opt);

  boost::asio::ip::udp::socket sock_;
  // Frees the port from other threads once the owner is gone, before the
  // shard closes the socket (see udp_port_claim.hpp).
  std::shared_ptr<udp_port_claim> claim_;
  caf::actor owner_;

  active_state active_;
  // A readiness wait or a posted drain is outstanding.
  bool reading_ = false;
  uint8_t peek_byte_ = 0;
  uint32_t read_packets_;
  batch_pool* pool_;
  // max_pinned_bytes in blocks of the pool (at least 1).
  size_t max_loaned_;
  // Reading stopped at the bound; the pool's waker resumes it.
  bool stalled_ = false;
  bool waker_set_ = false;
  // The first own join still applies apply_join_defaults to these.
  bool auto_multicast_all_;
  bool auto_packet_info_;

  std::deque<pending_recv> recvs_;
  uint64_t next_recv_id_ = 0;

  std::deque<out_item> sendq_;
  uint32_t max_send_queue_;
  bool flush_pending_ = false;
  uint64_t dropped_unreported_ = 0;
  std::vector<mmsghdr> out_msgs_;
  std::vector<iovec> out_iov_;
  // Segmentation: on, and the datagrams of each message; split_next_ sends
  // one pass unjoined after a joined message failed, so that its datagrams
  // meet their errors one by one.
  bool segmentation_;
  bool split_next_ = false;
  struct alignas(cmsghdr) segment_control {
    char bytes[CMSG_SPACE(sizeof(uint16_t))];
  };
  std::vector<segment_control> out_ctl_;
  std::vector<uint32_t> out_count_;
  // udp_options::recycle, and the sent buffers of one pass on their way
  // there.
  std::shared_ptr<send_buffers> recycle_;
  std::vector<std::vector<uint8_t>> spent_;

  udp_stats stats_;
};

} // namespace castor::net::detail
