#include "shard_companion.hpp"

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

namespace castor::net::detail {

namespace asio = boost::asio;

caf::actor shard_companion::spawn_companion() {
  auto hdl = sys_.spawn<caf::actor_companion>();
  hdl_ = caf::actor_cast<caf::strong_actor_ptr>(hdl);
  auto* self = companion();
  self->on_enqueue([s = shared_from_this()](caf::mailbox_element_ptr p) {
    s->enqueued(*p);
    // Sender's thread: hop to the shard (Asio handlers may be move-only).
    // From the shard's own thread (a connection and its on-shard handler)
    // Asio queues it without a wake-up.
    asio::post(s->shard_.context(),
               [s, p = std::move(p)]() mutable { s->run(std::move(p)); });
  });
  self->on_exit([w = weak_from_this()] {
    if (auto s = w.lock())
      s->on_exit();
  });
  self->set_exit_handler([this](caf::exit_msg& msg) {
    if (ends_on(msg))
      companion()->quit(msg.reason);
  });
  return hdl;
}

bool shard_companion::register_resident() {
  if (!open_)
    return false;
  shard_access::add_resident(shard_, this);
  return true;
}

void shard_companion::shutdown() {
  terminate(caf::exit_reason::user_shutdown);
}

bool shard_companion::ends_on(const caf::exit_msg& msg) const {
  return terminating_ || msg.reason;
}

void shard_companion::terminate(caf::error reason) {
  if (!open_)
    return;
  // An exit message from nobody, run right here: the exit handler quits
  // with `reason` and CAF's cleanup calls on_exit, all in this call.
  // (actor_companion::disconnect would be shorter, but 0.17.6 declares it
  // without defining it.)
  terminating_ = true;
  auto elem = caf::make_mailbox_element(
    nullptr, caf::make_message_id(), {},
    caf::exit_msg{caf::actor_addr{}, std::move(reason)});
  companion()->activate(&unit_, *elem);
}

void shard_companion::run_held() {
  auto xs = std::move(held_);
  held_.clear();
  for (auto& x : xs)
    run(std::move(x));
}

void shard_companion::run(caf::mailbox_element_ptr elem) {
  if (!admitted_) {
    held_.push_back(std::move(elem));
    return;
  }
  if (open_) {
    companion()->activate(&unit_, *elem);
    return;
  }
  // Posted before the actor ended: answer requests so that nobody waits
  // for a reply that cannot come.
  if (elem->mid.is_request() && elem->sender) {
    elem->sender->enqueue(caf::make_mailbox_element(
                            nullptr, elem->mid.response_id(), {},
                            caf::make_error(caf::sec::request_receiver_down)),
                          nullptr);
  }
}

void shard_companion::on_exit() {
  // Runs inside the companion's cleanup, on the shard thread.
  open_ = false;
  release();
  shard_access::remove_resident(shard_, this);
  // Dropping the last reference to the companion inside its own cleanup
  // would destroy it under our feet: do it in a later step.
  asio::post(shard_.context(), [s = shared_from_this()] {
    s->hdl_ = nullptr;
    s->released();
  });
}

} // namespace castor::net::detail
