#pragma once

// The io-thread half of a TCP connection actor (internal). One tcp_session
// owns the Asio socket, the read buffer with its frame decoder state, the
// active-mode credits and the send queue, all touched only on the shard's
// thread. Its CAF face is a shard_companion (shard_companion.hpp).
//
// Read, deliver and flush steps can end the connection, so they never run
// inside a behavior handler: handlers post them (see the rule in
// shard_companion.hpp).

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/result.hpp>
#include <caf/send.hpp>

#include "active_state.hpp"
#include "shard_companion.hpp"
#include <boost/asio/ip/tcp.hpp>

#include "castor/net/io_shards.hpp"
#include "castor/net/tcp_connection.hpp"

namespace castor::net::detail {

class tcp_session final : public shard_companion {
public:
  /// Queued sends gathered into one sendmsg.
  static constexpr size_t send_batch = 64;

  tcp_session(caf::actor_system& sys, io_shard& shard,
              boost::asio::ip::tcp::socket sock, const tcp_options& opts);

  /// Calling thread, under the shard's admission lock: spawns the
  /// companion, installs its behavior and links it to `owner`.
  caf::actor start(const caf::actor& owner);

  /// Shard thread: the first step once admitted (register, start reading).
  void admitted();

private:
  using kind = active_mode::kind;

  struct out_item {
    std::array<uint8_t, 4> header;
    uint8_t header_size;
    const uint8_t* data;
    size_t size;
    std::vector<uint8_t> owned;
    tcp_frames keep; // holds forwarded frames alive
    size_t frames;   // 1, or a whole batch in wire format
    size_t sent = 0; // of header_size + size
  };

  caf::behavior make_behavior();
  bool ends_on(const caf::exit_msg& msg) const override;
  void release() override;
  int fd() { return sock_.native_handle(); }

  template <class... Ts>
  void to_owner(Ts&&... xs) {
    if (owner_)
      caf::send_as(handle(), owner_, std::forward<Ts>(xs)...);
  }

  /// Outside an activation only: tells the owner why (unless `err` is
  /// none) and that the connection closed, then ends normally.
  void finish(caf::error err);
  /// Runs `fn` in a later step of the shard, while the session is open.
  void later(std::function<void(tcp_session&)> fn);

  // -- active mode and reading ------------------------------------------------
  caf::result<void> set_count(int32_t n);
  void set_mode(kind m);
  // Starts or stops reading as the new mode asks.
  void on_mode_changed();
  bool wants_data() const;
  void pump();
  bool deliver();
  void arm_read();

  // -- sending ----------------------------------------------------------------
  void enqueue(const uint8_t* data, size_t size, std::vector<uint8_t> owned,
               tcp_frames keep);
  void enqueue_wire(const tcp_frames& frames);
  void push(out_item item);
  void flush();

  boost::asio::ip::tcp::socket sock_;
  caf::actor owner_;

  active_state active_;
  tcp_framing framing_;
  size_t max_frame_;
  size_t read_size_;
  // Received bytes live in buf_[head_, tail_); buf_.size() is capacity.
  std::vector<uint8_t> buf_;
  size_t head_ = 0;
  size_t tail_ = 0;
  bool reading_ = false;
  bool pump_pending_ = false;
  bool peer_closed_ = false;

  std::deque<out_item> sendq_;
  uint64_t queued_bytes_ = 0;
  uint64_t max_send_queue_;
  bool flush_pending_ = false;
  // close_atom arrived: flush the queue, then end.
  bool closing_ = false;

  tcp_stats stats_;
};

/// Wraps `sock` (open and connected, on `shard`'s context) into a session
/// and its actor. `on_spawn` runs right after the companion exists and
/// before the shard reads anything, so a message it sends as the connection
/// reaches the owner before any data.
caf::expected<tcp_connection>
make_connection(caf::actor_system& sys, io_shard& shard,
                const caf::actor& owner, boost::asio::ip::tcp::socket sock,
                const tcp_options& opts,
                const std::function<void(const caf::actor&)>& on_spawn);

} // namespace castor::net::detail
