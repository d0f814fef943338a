#pragma once

// I/O shards: a fixed set of io threads, one boost::asio::io_context each.
// Every socket is pinned to one shard for its whole life, so its state is
// touched by exactly one thread and the data path needs no lock.
//
// Lifetime: construct after the caf::actor_system and stop (or destroy)
// before it. Sockets are actors; ~actor_system waits for all actors, so
// sockets still open would hang it. stop() closes them first.
//
// io shards outlive every supervision tree that uses them, and the API
// enforces it rather than documenting it: a tree restarts its socket
// children at any time, from a scheduler thread, and a restart that
// reached destroyed shards would be a use-after-free. So the child specs
// (udp_child.hpp, tcp_listener.hpp) hold an io_shards_ref, never an
// io_shards&:
//   - stop() closes every socket with user_shutdown (owners linked to one
//     see that exit) and makes every later open fail with
//     errc::shutting_down, so a restarted child fails to start cleanly and
//     its supervisor gives up as OTP's would (restart intensity);
//   - ~io_shards first detaches its refs (waiting for a start in progress
//     to finish with them), then stops: a start afterwards finds no shards
//     and fails with errc::shutting_down as well.
//
// Tests build the shards in manual mode: no threads, and the test thread
// polls the io_context (see poll_one), which makes socket tests
// deterministic.

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/error.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace castor::net {

class io_shards;

namespace detail {
class shard_resident;
struct shard_access;

/// What io_shards and its refs share: the shards while they exist.
struct io_shards_anchor {
  std::shared_mutex mtx;
  io_shards* shards = nullptr;
};
} // namespace detail

/// A handle on io_shards that may outlive them (see the lifetime note
/// above): lock() gives the shards while they exist, or nothing.
class io_shards_ref {
public:
  /// Access to live shards; holds off ~io_shards while it exists, so keep
  /// it for the duration of one call (an open), never longer.
  class lease {
  public:
    explicit operator bool() const noexcept { return shards_ != nullptr; }
    io_shards& operator*() const noexcept { return *shards_; }
    io_shards* operator->() const noexcept { return shards_; }

  private:
    friend class io_shards_ref;
    std::shared_ptr<detail::io_shards_anchor> anchor_;
    std::shared_lock<std::shared_mutex> lock_;
    io_shards* shards_ = nullptr;
  };

  io_shards_ref() = default;

  /// Any thread. Empty once ~io_shards has begun.
  lease lock() const {
    lease x;
    if (!anchor_)
      return x;
    x.anchor_ = anchor_;
    x.lock_ = std::shared_lock<std::shared_mutex>{anchor_->mtx};
    x.shards_ = anchor_->shards;
    return x;
  }

private:
  friend class io_shards;
  explicit io_shards_ref(std::shared_ptr<detail::io_shards_anchor> x)
      : anchor_(std::move(x)) {}
  std::shared_ptr<detail::io_shards_anchor> anchor_;
};

struct io_shards_options {
  /// Number of shards; 0 means one per hardware thread.
  size_t count = 0;
  /// false: no threads are started and the owner drives each io_context
  /// itself (poll_one/poll). For deterministic tests.
  bool run_threads = true;
  /// Thread names are `<prefix><index>` (at most 15 characters in total).
  std::string thread_name_prefix = "castor-io-";
};

/// One io_context plus the bookkeeping of what lives on it.
class io_shard {
public:
  io_shard(size_t index);

  io_shard(const io_shard&) = delete;
  io_shard& operator=(const io_shard&) = delete;

  boost::asio::io_context& context() noexcept { return ctx_; }
  size_t index() const noexcept { return index_; }

  /// Whether the calling thread is this shard's io thread (or the poller).
  bool on_shard_thread() noexcept {
    return ctx_.get_executor().running_in_this_thread();
  }

private:
  friend class io_shards;
  // The socket actors admit and register themselves through this
  // (net/src/shard_access.hpp); it is no part of the API.
  friend struct detail::shard_access;

  /// Unless the shard is stopping (errc::shutting_down, and neither
  /// function runs): runs `prepare` on the calling thread, then `on_shard`
  /// on the shard's thread. Both happen under the admission lock, so a
  /// resident admitted this way registers before any shutdown step and is
  /// guaranteed to see shutdown() if the shard stops.
  caf::error admit(const std::function<void()>& prepare,
                   std::function<void()> on_shard);

  /// Registers and unregisters residents. Shard thread only.
  void add_resident(detail::shard_resident* x);
  void remove_resident(detail::shard_resident* x);

  void begin_stop();

  size_t index_;
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
    guard_;
  std::thread thread_;
  // Guards `accepting_` against a socket being admitted while stop() runs:
  // admit() checks and posts under the lock, begin_stop() flips it under the
  // lock, so every admitted post precedes the shutdown post in the queue.
  std::mutex admit_mtx_;
  bool accepting_ = true;
  // Shard thread only.
  std::vector<detail::shard_resident*> residents_;
  bool stopping_ = false;
};

class io_shards {
public:
  explicit io_shards(io_shards_options opts = {});
  ~io_shards();

  io_shards(const io_shards&) = delete;
  io_shards& operator=(const io_shards&) = delete;

  size_t size() const noexcept { return shards_.size(); }

  io_shard& at(size_t i) { return *shards_.at(i); }

  /// Picks a shard for a new socket, round robin.
  io_shard& pick();

  /// Ordered shutdown: stop admitting sockets on every shard, close every
  /// open socket on its own thread (owners see the socket exit with
  /// user_shutdown), release the work guards, then join the threads in
  /// reverse start order. In manual mode the calling thread runs each
  /// context to completion instead. Idempotent.
  void stop();

  /// Manual mode: runs at most one ready handler of shard `i`.
  size_t poll_one(size_t i = 0);

  /// Manual mode: runs all ready handlers of shard `i`.
  size_t poll(size_t i = 0);

  bool manual() const noexcept { return !opts_.run_threads; }

  /// A handle for what may outlive these shards (child specs).
  io_shards_ref ref() const { return io_shards_ref{anchor_}; }

private:
  io_shards_options opts_;
  std::shared_ptr<detail::io_shards_anchor> anchor_;
  std::vector<std::unique_ptr<io_shard>> shards_;
  std::atomic<size_t> next_{0};
  std::once_flag stopped_;
};

} // namespace castor::net
