#include "tcp_shard_handler.hpp"

#include <memory>

#include <boost/asio/post.hpp>

#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/scoped_execution_unit.hpp>

namespace castor::net::detail {

namespace {

namespace asio = boost::asio;

class shard_handler final
  : public std::enable_shared_from_this<shard_handler>,
    public shard_resident {
public:
  shard_handler(caf::actor_system& sys, io_shard& shard)
    : sys_(sys), shard_(shard), unit_(&sys) {}

  caf::actor
  start(const std::function<caf::behavior(caf::actor_companion*)>& init) {
    auto hdl = sys_.spawn<caf::actor_companion>();
    hdl_ = caf::actor_cast<caf::strong_actor_ptr>(hdl);
    auto* self = companion();
    self->on_enqueue([s = shared_from_this()](caf::mailbox_element_ptr p) {
      // Already on the shard (a connection sending to its handler): Asio
      // queues it without waking anything.
      asio::post(s->shard_.context(), [s, p = std::move(p)]() mutable {
        if (s->open_)
          s->companion()->activate(&s->unit_, *p);
      });
    });
    self->on_exit([w = weak_from_this()] {
      if (auto s = w.lock())
        s->on_exit();
    });
    self->become(init(self));
    return hdl;
  }

  void admitted() {
    if (open_)
      shard_.add_resident(this);
  }

  void shutdown() override {
    if (!open_)
      return;
    // A non-normal exit message ends a companion that does not trap exits.
    auto elem = caf::make_mailbox_element(
      nullptr, caf::make_message_id(), {},
      caf::exit_msg{caf::actor_addr{}, caf::exit_reason::user_shutdown});
    companion()->activate(&unit_, *elem);
  }

private:
  caf::actor_companion* companion() const {
    return static_cast<caf::actor_companion*>(
      caf::actor_cast<caf::abstract_actor*>(hdl_));
  }

  void on_exit() {
    open_ = false;
    shard_.remove_resident(this);
    // Not inside the companion's own cleanup (see udp_session).
    asio::post(shard_.context(),
               [s = shared_from_this()] { s->hdl_ = nullptr; });
  }

  caf::actor_system& sys_;
  io_shard& shard_;
  caf::scoped_execution_unit unit_;
  caf::strong_actor_ptr hdl_;
  bool open_ = true;
};

} // namespace

caf::expected<caf::actor>
spawn_shard_handler(caf::actor_system& sys, io_shard& shard,
                    const std::function<caf::behavior(caf::actor_companion*)>&
                      init) {
  auto h = std::make_shared<shard_handler>(sys, shard);
  caf::actor hdl;
  if (auto err = shard.admit([&] { hdl = h->start(init); },
                             [h] { h->admitted(); }))
    return err;
  return hdl;
}

} // namespace castor::net::detail
