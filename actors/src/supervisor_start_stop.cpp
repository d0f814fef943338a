// Starting children in order and stopping them in reverse order, one at a
// time or all together, and the supervisor's own orderly shutdown.

#include <exception>
#include <memory>

#include "supervisor_actor.hpp"
#include <spdlog/spdlog.h>

namespace castor::detail {

// Starts one child. `done` gets none on success or ignore, else the error.
void supervisor_actor::start_one(uint64_t key, start_done_fn done) {
  auto* rec = find(key);
  if (rec == nullptr) {
    done(caf::none);
    return;
  }
  start_result res{caf::error{}};
  try {
    res = rec->spec.start(this, rec->extra);
  } catch (const std::exception& e) {
    res = caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  } catch (...) {
    res = caf::make_error(caf::sec::runtime_error,
                          std::string{"unknown exception"});
  }
  if (!res) {
    rec->state = child_state::stopped;
    done(std::move(res.error()));
    return;
  }
  if (!*res) { // OTP's ignore: keep the spec without a process
    rec->state = child_state::stopped;
    if (rec->spec.restart == restart_type::temporary)
      children_.erase(key);
    done(caf::none);
    return;
  }
  auto child = std::move(*res);
  // Monitor, not link: CAF makes an exit message with reason kill fatal
  // even to an actor that traps exits, so a linked child that was killed
  // (by an operator, say) would take its supervisor with it. OTP turns
  // kill into a trappable `killed` for linked processes; a monitor gives
  // us the same. The reverse direction is on_exit().
  monitor(child);
  children_.set_handle(*rec, child);
  rec->exited = false;
  rec->backoff.started(clock().now());
  if (!rec->spec.await_ready) {
    rec->state = child_state::running;
    done(caf::none);
    return;
  }
  rec->state = child_state::starting;
  request(child, caf::infinite, ready_atom::value)
    .then(
      [this, key, done](caf::ok_atom) {
        if (auto* r = find(key); r && r->state == child_state::starting)
          r->state = child_state::running;
        done(caf::none);
      },
      [this, key, done](caf::error& err) {
        auto* r = find(key);
        if (r != nullptr && err == caf::sec::request_receiver_down) {
          if (!r->died_while_starting) {
            r->waiting_for_reason = done; // on_exit finishes the start
            return;
          }
          err = r->death_reason;
        }
        if (r == nullptr) {
          done(std::move(err));
          return;
        }
        if (r->died_while_starting || !r->handle()) {
          start_aborted(*r);
          done(std::move(err));
          return;
        }
        // It refused ready (an error, or no handler: CAF's
        // unexpected_message) but runs: stop it per its shutdown spec
        // before forgetting it, or it would run on unsupervised.
        stop_one(key, [this, key, done, err{std::move(err)}]() mutable {
          if (auto* rec = find(key))
            start_aborted(*rec);
          done(std::move(err));
        });
      });
}

void supervisor_actor::start_aborted(child_record& rec) {
  children_.clear_handle(rec);
  rec.state = child_state::stopped;
  rec.died_while_starting = false;
  rec.death_reason = caf::error{};
  rec.waiting_for_reason = nullptr;
}

// Starts `keys[i..]` in order; stops at the first failure and reports it
// with the failing key.
void supervisor_actor::start_sequence(
  std::vector<uint64_t> keys, size_t i,
  std::function<void(caf::error, uint64_t)> done) {
  if (i >= keys.size()) {
    done(caf::none, 0);
    return;
  }
  auto key = keys[i];
  start_one(key, [this, keys{std::move(keys)}, i,
                  done{std::move(done)}](caf::error err) mutable {
    if (err) {
      done(std::move(err), keys[i]);
      return;
    }
    start_sequence(std::move(keys), i + 1, std::move(done));
  });
}

void supervisor_actor::initial_start_failed(caf::error err,
                                            uint64_t failed_key) {
  auto id = id_of(failed_key);
  auto reason = caf::error{errc::start_failed, id, describe(err)};
  spdlog::error("supervisor {}: child {} failed to start: {}", flags_.name, id,
                describe(err));
  shutdown(std::move(reason));
}

// Stops one child per its shutdown spec, as OTP's shutdown/2 does: send the
// exit, and on timeout kill. OTP monitors the child here; ours are monitored
// from their start. Waiting for the down message instead of an exit message
// means a child that unlinked cannot hang us.
void supervisor_actor::stop_one(uint64_t key, done_fn done) {
  auto* rec = find(key);
  if (rec == nullptr) {
    done();
    return;
  }
  if (rec->state == child_state::restarting) {
    rec->state = child_state::stopped; // its pending timer is now stale
    rec->restart_token = 0;
    done();
    return;
  }
  if (!rec->handle() || rec->exited) {
    children_.clear_handle(*rec);
    rec->exited = false;
    rec->state = child_state::stopped;
    done();
    return;
  }
  auto child = rec->handle();
  rec->state = child_state::stopping;
  auto generation = ++stop_generation_;
  stops_.emplace(child.address(),
                 pending_stop{key, generation, child, std::move(done)});
  switch (rec->spec.shutdown.how) {
  case shutdown_spec::mode::brutal_kill:
    send_exit(child, caf::exit_reason::kill);
    break;
  case shutdown_spec::mode::timeout:
    send_exit(child, caf::exit_reason::user_shutdown);
    delayed_send(this, rec->spec.shutdown.timeout, stop_timeout_atom::value,
                 key, generation);
    break;
  case shutdown_spec::mode::infinity:
    send_exit(child, caf::exit_reason::user_shutdown);
    break;
  }
}

void supervisor_actor::on_stop_timeout(uint64_t key, uint64_t generation) {
  for (auto& kvp : stops_) {
    auto& stop = kvp.second;
    if (stop.key == key && stop.generation == generation) {
      spdlog::warn("supervisor {}: child {} ignored shutdown, killing it",
                   flags_.name, id_of(key));
      send_exit(stop.handle, caf::exit_reason::kill);
      return;
    }
  }
}

// Every child is monitored from its start, so this is where children end:
// stops we asked for, crashes and normal exits alike.
void supervisor_actor::on_down(caf::down_msg& msg) {
  auto i = stops_.find(msg.source);
  if (i == stops_.end()) {
    child_ended(msg.source, msg.reason);
    return;
  }
  auto stop = std::move(i->second);
  stops_.erase(i);
  if (auto* rec = find(stop.key)) {
    children_.clear_handle(*rec);
    rec->state = child_state::stopped;
  }
  stop.done();
}

// Stops `keys` one after another, in the given order.
void supervisor_actor::stop_sequence(std::vector<uint64_t> keys, size_t i,
                                     done_fn done) {
  if (i >= keys.size()) {
    done();
    return;
  }
  auto key = keys[i];
  stop_one(key,
           [this, keys{std::move(keys)}, i, done{std::move(done)}]() mutable {
             stop_sequence(std::move(keys), i + 1, std::move(done));
           });
}

// Stops `keys` all at once (simple_one_for_one: order is undefined in OTP).
void supervisor_actor::stop_parallel(const std::vector<uint64_t>& keys,
                                     done_fn done) {
  if (keys.empty()) {
    done();
    return;
  }
  auto remaining = std::make_shared<size_t>(keys.size());
  auto shared_done = std::make_shared<done_fn>(std::move(done));
  for (auto key : keys)
    stop_one(key, [remaining, shared_done] {
      if (--*remaining == 0)
        (*shared_done)();
    });
}

// All children, reverse start order (parallel for simple_one_for_one).
void supervisor_actor::stop_all(done_fn done) {
  auto keys = children_.stop_order();
  if (is_simple())
    stop_parallel(keys, std::move(done));
  else
    stop_sequence(std::move(keys), 0, std::move(done));
}

// Orderly shutdown with `reason`: after the current job, stop every child
// in reverse order, then quit.
void supervisor_actor::shutdown(caf::error reason) {
  if (shutting_down_)
    return;
  shutting_down_ = true;
  auto go = [this, reason] {
    begin_job();
    stop_all([this, reason] { finish(reason); });
  };
  if (busy_)
    backlog_.emplace_front(std::move(go));
  else
    go();
}

// Answers everything still waiting, then ends the supervisor.
void supervisor_actor::finish(const caf::error& reason) {
  auto pending = std::move(backlog_);
  backlog_.clear();
  for (auto& fn : pending)
    fn(); // requests answer shutting_down; exits and timers are moot
  for (auto& rp : ready_waiters_)
    rp.deliver(reason);
  ready_waiters_.clear();
  quit(reason);
}

} // namespace castor::detail
