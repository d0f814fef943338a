// Where the blocking facades may block: not on a thread of an actor system,
// and not under CAF's deterministic test coordinator.

#include "blocking_request.hpp"

#include <memory>

#include <caf/scheduler/test_coordinator.hpp>
#include <caf/thread_hook.hpp>

#include "castor/actors/errors.hpp"

namespace castor::detail {

namespace {

// Set on every thread an actor system configured by castor::configure
// starts: its scheduler workers (where actors' handlers run), its clock and
// its multiplexer. CAF 0.17 has no public "am I inside an actor" query; a
// thread hook is the one place that sees those threads start.
thread_local bool on_actor_system_thread = false;

class mark_system_threads : public caf::thread_hook {
public:
  void init(caf::actor_system&) override {
    // nop
  }
  void thread_started() override { on_actor_system_thread = true; }
  void thread_terminates() override { on_actor_system_thread = false; }
};

} // namespace

void install_blocking_guard(caf::actor_system_config& cfg) {
  cfg.add_thread_hook<mark_system_threads>();
}

caf::error refuse_blocking(caf::actor_system& sys) {
  if (on_actor_system_thread)
    return caf::error{errc::would_deadlock,
                      "blocking call from a thread of an actor system "
                      "(an actor's handler?); send a request instead"};
  if (dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler())
      != nullptr)
    return caf::error{errc::would_deadlock,
                      "blocking call under the test coordinator; "
                      "send a request and run the scheduler instead"};
  return caf::none;
}

} // namespace castor::detail
