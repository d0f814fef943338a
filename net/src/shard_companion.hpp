#pragma once

// The plumbing every socket actor on an io shard shares (internal): the UDP
// socket (udp_session), the TCP connection, the acceptor and the on-shard
// handler are each an actor_companion whose mailbox is drained on one
// shard's thread, with activate().
//
// Lifetime: the companion's enqueue handler holds the object (shared_ptr)
// and the object holds the companion (hdl_). The cycle keeps an idle actor
// alive; it is broken when the companion exits, in a posted step, never
// inside the companion's own cleanup.
//
// Rule: the companion may only end inside an activation. Behavior handlers
// quit(); code outside one (I/O completions, posted steps) uses terminate().
//
// Admission: the companion can get messages as soon as it is spawned (the
// owner's factory may send to itself, a linked actor may exit), while the
// opening thread is still installing its behavior. The shard holds those
// messages and runs them, in order, only once admitted() has run:
// nothing of the actor runs on the shard before then, and never at the same
// time as the opening thread.

#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/scoped_execution_unit.hpp>

#include "shard_access.hpp"
#include <boost/asio/post.hpp>

#include "castor/net/io_shards.hpp"

namespace castor::net::detail {

class shard_companion : public std::enable_shared_from_this<shard_companion>,
                        public shard_resident {
public:
  shard_companion(caf::actor_system& sys, io_shard& shard)
      : sys_(sys), shard_(shard), unit_(&sys) {}

  /// Shard thread: the shard stops.
  void shutdown() override;

protected:
  /// Calling thread: spawns the companion and routes its mailbox to the
  /// shard. The caller installs the behavior next.
  caf::actor spawn_companion();

  /// Shard thread, the step admission posts, and the only way in: the
  /// actor registers with the shard and, unless it ended already, takes
  /// its own first step (`first`: start reading, say); then the messages
  /// that came before run, in order, and later ones as they come.
  template <class F>
  void admit(F&& first) {
    admitted_ = true;
    if (register_resident())
      first();
    run_held();
  }

  caf::actor_companion* companion() const {
    return static_cast<caf::actor_companion*>(
      caf::actor_cast<caf::abstract_actor*>(hdl_));
  }

  caf::actor handle() const { return caf::actor_cast<caf::actor>(hdl_); }

  /// Outside an activation only: ends the companion with `reason` (none:
  /// normally) by running an exit message through it.
  void terminate(caf::error reason);

  /// Whether an exit message ends this actor. Default: a non-normal
  /// reason, or our own terminate().
  virtual bool ends_on(const caf::exit_msg& msg) const;

  /// The sender's thread, for every message, before it is posted to the
  /// shard: must be thread-safe. Lets a socket act on an exit at once, in
  /// the exiting actor's own cleanup. Default: nothing.
  virtual void enqueued(const caf::mailbox_element&) {}

  /// Inside the companion's cleanup: release what the actor owns.
  virtual void release() = 0;

  /// A later step after the exit, once the companion is dropped: drop what
  /// else refers to other actors.
  virtual void released() {}

  /// Typed shared_from_this for the derived class's handlers.
  template <class T>
  std::shared_ptr<T> self_as() {
    return std::static_pointer_cast<T>(shared_from_this());
  }

  caf::actor_system& sys_;
  io_shard& shard_;
  caf::scoped_execution_unit unit_;
  caf::strong_actor_ptr hdl_;
  bool open_ = true;
  bool terminating_ = false;
  // Shard thread only: admit() has run. Until then the shard holds what
  // comes (held_).
  bool admitted_ = false;

private:
  // False if the actor already ended (then nothing is registered).
  bool register_resident();
  void run_held();
  void run(caf::mailbox_element_ptr elem);

  std::vector<caf::mailbox_element_ptr> held_;
  void on_exit();
};

} // namespace castor::net::detail
