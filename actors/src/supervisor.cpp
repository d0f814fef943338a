// The supervisor's lifetime and job queue, and the public functions of
// supervisor.hpp. The actor's other parts: see supervisor_actor.hpp.

#include "castor/actors/supervisor.hpp"

#include <set>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "blocking_request.hpp"
#include "supervisor_actor.hpp"
#include <spdlog/spdlog.h>

namespace castor {

namespace detail {

namespace {

// One child left to stop by a reaper.
struct orphan {
  caf::actor handle;
  shutdown_spec shutdown;
};

struct reaper_state {
  std::vector<orphan> todo; // in stop order
  size_t next = 0;
  size_t running = 0;
  static inline const char* name = "castor.supervisor_reaper";
};

using reaper_timeout_atom = caf::atom_constant<caf::atom("reap_tout")>;

// Stops one orphan as stop_one() does: exit user_shutdown, kill when the
// timeout ends (or at once for brutal_kill); its down message ends it.
void reap(caf::stateful_actor<reaper_state>* self, const orphan& o) {
  self->monitor(o.handle);
  ++self->state.running;
  switch (o.shutdown.how) {
  case shutdown_spec::mode::brutal_kill:
    self->send_exit(o.handle, caf::exit_reason::kill);
    break;
  case shutdown_spec::mode::timeout:
    self->send_exit(o.handle, caf::exit_reason::user_shutdown);
    self->delayed_send(self, o.shutdown.timeout, reaper_timeout_atom::value,
                       o.handle.address());
    break;
  case shutdown_spec::mode::infinity:
    self->send_exit(o.handle, caf::exit_reason::user_shutdown);
    break;
  }
}

// Stops the children of a supervisor that was dropped (its last handle went
// away), in its stop order, one at a time, or all at once with `parallel`
// (simple_one_for_one). The supervisor itself cannot: CAF destroys it, so
// it can no longer receive the down messages an ordered stop waits for.
caf::behavior reaper(caf::stateful_actor<reaper_state>* self,
                     std::vector<orphan> todo, bool parallel) {
  self->state.todo = std::move(todo);
  auto step = [self, parallel] {
    auto& st = self->state;
    while (st.next < st.todo.size() && (parallel || st.running == 0))
      reap(self, st.todo[st.next++]);
    if (st.running == 0 && st.next >= st.todo.size())
      self->quit();
  };
  self->set_down_handler([self, step](caf::down_msg&) {
    --self->state.running;
    step();
  });
  step();
  return {
    [self](reaper_timeout_atom, const caf::actor_addr& who) {
      if (auto hdl = caf::actor_cast<caf::actor>(who))
        self->send_exit(hdl, caf::exit_reason::kill);
    },
  };
}

} // namespace

// Children are monitored, not linked (see start_one), so a supervisor that
// ends without its orderly stop takes whatever still runs down with it
// here. Killed, or ended by an exception: with its own exit reason, at once
// (OTP: linked children get the EXIT). Dropped, i.e. its last handle went
// away while it was idle: CAF destroys it (this runs from on_destroy, with
// no exit reason yet), so a reaper does the ordered stop it can no longer
// do, like a parent's shutdown in OTP.
void supervisor_actor::on_exit() {
  caf::error reason = fail_state();
  if (!reason) {
    std::vector<orphan> todo;
    for (auto key : children_.stop_order())
      if (auto* rec = find(key); rec != nullptr && rec->handle())
        todo.push_back(orphan{rec->handle(), rec->spec.shutdown});
    if (!todo.empty())
      home_system().spawn(reaper, std::move(todo), is_simple());
  } else {
    // anon_send: we may no longer be a sender here.
    for (auto& rec : children_)
      if (rec.handle())
        caf::anon_send(rec.handle(), caf::exit_msg{caf::actor_addr{}, reason});
  }
  // CAF destroys an actor object only when its last handle goes, which may be
  // long after it ended (a monitor, a test, a parent keep one). Until then
  // everything it holds stays alive, and the child specs hold the user's
  // start functions: one that captures a strong handle to this supervisor
  // (directly, or through a promise or state it fills) makes a cycle that
  // never frees either. Drop it all now, as CAF's stateful_actor destroys
  // its state on exit.
  initial_specs_.clear();
  template_ = child_spec{};
  children_ = supervisor_children{};
  backlog_.clear();
  ready_waiters_.clear();
  stops_.clear();
  pending_restarts_.clear();
}

caf::behavior supervisor_actor::make_behavior() {
  set_exit_handler([this](caf::exit_msg& msg) { on_exit_msg(msg); });
  set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
  // Start on a message to ourselves rather than right here: requests sent
  // right after spawn (ready, from whoever started us) are then read
  // before a failed start can end us, and get the real reason instead of
  // CAF's request_receiver_down. Everything else waits in the backlog.
  begin_job();
  send(this, init_atom::value);
  return behavior();
}

void supervisor_actor::init() {
  if (auto err = validate(flags_, initial_specs_)) {
    spdlog::error("supervisor {}: {}", flags_.name, describe(err));
    shutting_down_ = true;
    finish(err);
    return;
  }
  if (flags_.strategy == strategy::simple_one_for_one) {
    template_ = initial_specs_.front();
  } else {
    for (auto& spec : initial_specs_)
      add_record(std::move(spec), caf::message{});
  }
  initial_specs_.clear();
  start_sequence(children_.keys(), 0, [this](caf::error err, uint64_t failed) {
    if (err) {
      initial_start_failed(std::move(err), failed);
    } else {
      started_ = true;
      for (auto& rp : ready_waiters_)
        rp.deliver(caf::ok_atom::value);
      ready_waiters_.clear();
    }
    end_job();
  });
}

void supervisor_actor::end_job() {
  busy_ = false;
  while (!busy_ && !backlog_.empty()) {
    auto next = std::move(backlog_.front());
    backlog_.pop_front();
    next();
  }
}

void supervisor_actor::run_or_defer(done_fn fn) {
  if (busy_)
    backlog_.emplace_back(std::move(fn));
  else
    fn();
}

// Runs a management request now or after the current job; answers with
// shutting_down once the supervisor is on its way out.
void supervisor_actor::submit(done_fn fn, caf::response_promise rp) {
  if (shutting_down_) {
    rp.deliver(caf::error{errc::shutting_down, flags_.name});
    return;
  }
  run_or_defer([this, fn{std::move(fn)}, rp]() mutable {
    if (shutting_down_) {
      rp.deliver(caf::error{errc::shutting_down, flags_.name});
      return;
    }
    fn();
  });
}

} // namespace detail

std::string to_string(castor::strategy x) {
  switch (x) {
  case strategy::one_for_one:
    return "one_for_one";
  case strategy::one_for_all:
    return "one_for_all";
  case strategy::rest_for_one:
    return "rest_for_one";
  case strategy::simple_one_for_one:
    return "simple_one_for_one";
  }
  return "?";
}

std::string to_string(restart_type x) {
  switch (x) {
  case restart_type::permanent:
    return "permanent";
  case restart_type::transient:
    return "transient";
  case restart_type::temporary:
    return "temporary";
  }
  return "?";
}

std::string to_string(child_type x) {
  return x == child_type::supervisor ? "supervisor" : "worker";
}

caf::error validate(const supervisor_flags& flags,
                    const std::vector<child_spec>& specs) {
  auto bad = [](std::string what) {
    return caf::error{errc::invalid_spec, std::move(what)};
  };
  if (flags.intensity < 0)
    return bad("intensity must be >= 0");
  if (flags.period.count() <= 0)
    return bad("period must be > 0");
  if (flags.backoff.enabled() && flags.backoff.multiplier < 1.0)
    return bad("backoff multiplier must be >= 1");
  if (flags.strategy == strategy::simple_one_for_one) {
    if (specs.size() != 1)
      return bad("simple_one_for_one needs exactly one child spec, got "
                 + std::to_string(specs.size()));
    if (flags.auto_shutdown != auto_shutdown::never)
      return bad("simple_one_for_one does not allow auto_shutdown");
  }
  std::set<std::string> ids;
  for (auto& spec : specs) {
    if (spec.id.empty())
      return bad("child spec without id");
    if (!ids.insert(spec.id).second)
      return bad("duplicate child id '" + spec.id + "'");
    if (!spec.start)
      return bad("child '" + spec.id + "' has no start function");
    if (spec.shutdown.how == shutdown_spec::mode::timeout
        && spec.shutdown.timeout.count() < 0)
      return bad("child '" + spec.id + "' has a negative shutdown timeout");
    if (spec.significant && spec.restart == restart_type::permanent)
      return bad("child '" + spec.id + "' is significant and permanent");
    if (spec.significant && flags.auto_shutdown == auto_shutdown::never)
      return bad("child '" + spec.id
                 + "' is significant but auto_shutdown is never");
  }
  return caf::none;
}

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> specs) {
  return sys.spawn<detail::supervisor_actor>(std::move(flags),
                                             std::move(specs));
}

caf::expected<caf::actor> start_supervisor(caf::actor_system& sys,
                                           supervisor_flags flags,
                                           std::vector<child_spec> specs,
                                           std::chrono::milliseconds timeout) {
  if (auto err = detail::refuse_blocking(sys))
    return err;
  auto sup = spawn_supervisor(sys, std::move(flags), std::move(specs));
  caf::scoped_actor self{sys};
  self->monitor(sup);
  caf::expected<caf::actor> result{caf::error{}};
  self->request(sup, timeout, ready_atom::value)
    .receive([&](caf::ok_atom) { result = sup; },
             [&](caf::error& err) { result = std::move(err); });
  if (result) {
    self->demonitor(sup);
    return result;
  }
  if (result.error() == caf::sec::request_receiver_down) {
    // It failed before reading our request; the down message has the why.
    self->receive([&](caf::down_msg& msg) { result = std::move(msg.reason); },
                  caf::after(timeout) >> [] {});
  } else {
    // A timeout (or any other failure to answer): the start may be stuck
    // on a child that never answers ready, and the supervisor handles
    // exits only between jobs, so user_shutdown would wait behind the stuck
    // start forever. kill ends it at once, past its exit handler; its
    // on_exit then kills every child it has, the stuck one included.
    self->send_exit(sup, caf::exit_reason::kill);
  }
  return result;
}

child_spec supervisor_child(std::string id, supervisor_flags flags,
                            std::vector<child_spec> specs) {
  child_spec spec;
  spec.id = std::move(id);
  if (flags.name == "supervisor")
    flags.name = spec.id;
  spec.start = [flags{std::move(flags)},
                specs{std::move(specs)}](caf::event_based_actor* sup,
                                         const caf::message&) -> start_result {
    return sup->spawn<detail::supervisor_actor>(flags, specs, sup->address());
  };
  spec.type = child_type::supervisor;
  spec.shutdown = shutdown_spec::infinity();
  spec.await_ready = true;
  return spec;
}

} // namespace castor
