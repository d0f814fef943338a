#include "castor/net/io_shards.hpp"

#include <algorithm>

#include "shard_access.hpp"
#include <boost/asio/post.hpp>
#include <pthread.h>

#include "castor/net/errors.hpp"

namespace castor::net {

// -- io_shard ------------------------------------------------------------------

io_shard::io_shard(size_t index)
    : index_(index), ctx_(1), guard_(ctx_.get_executor()) {
  // Before any socket can fail: describe() then names net errors.
  register_errors();
  // concurrency hint 1: exactly one thread runs this context, which lets
  // Asio skip its internal locking on the handler queue.
}

caf::error io_shard::admit(const std::function<void()>& prepare,
                           std::function<void()> on_shard) {
  std::lock_guard<std::mutex> lock{admit_mtx_};
  if (!accepting_)
    return make_error(errc::shutting_down);
  prepare();
  boost::asio::post(ctx_, std::move(on_shard));
  return caf::none;
}

void io_shard::add_resident(detail::shard_resident* x) {
  if (stopping_) {
    // Admitted before the stop began but registering after it: close at
    // once, or it would keep the context busy and stop() would never end.
    x->shutdown();
    return;
  }
  residents_.push_back(x);
}

void io_shard::remove_resident(detail::shard_resident* x) {
  auto i = std::find(residents_.begin(), residents_.end(), x);
  if (i != residents_.end())
    residents_.erase(i);
}

void io_shard::begin_stop() {
  {
    std::lock_guard<std::mutex> lock{admit_mtx_};
    accepting_ = false;
  }
  boost::asio::post(ctx_, [this] {
    stopping_ = true;
    // shutdown() removes the resident from the list, so work on a copy.
    auto xs = residents_;
    for (auto* x : xs)
      x->shutdown();
  });
  // Without the guard, run() returns once the closed sockets' cancelled
  // operations and queued mailbox elements have drained.
  guard_.reset();
}

// -- io_shards -----------------------------------------------------------------

io_shards::io_shards(io_shards_options opts)
    : opts_(std::move(opts)),
      anchor_(std::make_shared<detail::io_shards_anchor>()) {
  anchor_->shards = this;
  auto n = opts_.count;
  if (n == 0)
    n = std::max(1u, std::thread::hardware_concurrency());
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i)
    shards_.emplace_back(std::make_unique<io_shard>(i));
  if (!opts_.run_threads)
    return;
  for (auto& s : shards_) {
    auto* shard = s.get();
    shard->thread_ = std::thread([shard] { shard->ctx_.run(); });
    auto name = opts_.thread_name_prefix + std::to_string(shard->index_);
    name.resize(std::min<size_t>(name.size(), 15));
    pthread_setname_np(shard->thread_.native_handle(), name.c_str());
  }
}

io_shards::~io_shards() {
  {
    // Waits for a start that holds a lease; every later lock() is empty.
    std::unique_lock<std::shared_mutex> lock{anchor_->mtx};
    anchor_->shards = nullptr;
  }
  stop();
}

io_shard& io_shards::pick() {
  auto i = next_.fetch_add(1, std::memory_order_relaxed);
  return *shards_[i % shards_.size()];
}

void io_shards::stop() {
  std::call_once(stopped_, [this] {
    for (auto& s : shards_)
      s->begin_stop();
    for (auto i = shards_.rbegin(); i != shards_.rend(); ++i) {
      auto& s = **i;
      if (s.thread_.joinable()) {
        s.thread_.join();
      } else if (!opts_.run_threads) {
        // Manual mode: the caller's thread finishes the shard's work.
        s.ctx_.restart();
        s.ctx_.run();
      }
    }
  });
}

size_t io_shards::poll_one(size_t i) {
  return shards_.at(i)->ctx_.poll_one();
}

size_t io_shards::poll(size_t i) {
  return shards_.at(i)->ctx_.poll();
}

} // namespace castor::net
