#include "castor/actors/supervisor.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <unordered_map>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "child_table.hpp"
#include "restart_budget.hpp"
#include <spdlog/spdlog.h>

namespace castor {

namespace {

// Internal timer atoms; stale timers are told apart by generation numbers,
// because CAF 0.17's delayed_send cannot be cancelled.
using stop_timeout_atom = caf::atom_constant<caf::atom("sup_stop_t")>;
using restart_timer_atom = caf::atom_constant<caf::atom("sup_retry")>;
using init_atom = caf::atom_constant<caf::atom("sup_init")>;

using done_fn = std::function<void()>;
using start_done_fn = std::function<void(caf::error)>;

using detail::child_state;
using detail::to_cstr;

// What the supervisor keeps per child besides the child table's own fields.
struct child_payload {
  child_spec spec;
  caf::message extra; // start_child arguments (simple_one_for_one)
  // A child that dies before answering its ready request makes CAF bounce
  // the request with request_receiver_down; the real reason comes with the
  // exit message, in either order. These fields pair the two.
  bool died_while_starting = false;
  caf::error death_reason;
  start_done_fn waiting_for_reason;
};

using child_table = detail::child_table<child_payload, caf::actor>;
using child_record = child_table::record;

// A stop in flight: which child, and what to do when its down message
// arrives (or after the kill that follows a shutdown timeout).
struct pending_stop {
  uint64_t key;
  uint64_t generation;
  caf::actor handle;
  done_fn done;
};

class supervisor_actor : public caf::event_based_actor {
public:
  supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                   std::vector<child_spec> specs)
      : caf::event_based_actor(cfg), flags_(std::move(flags)),
        initial_specs_(std::move(specs)),
        budget_(flags_.intensity, flags_.period) {
    // nop
  }

  const char* name() const override { return "castor.supervisor"; }

  // Children are monitored, not linked (see start_one), so a supervisor that
  // ends without its orderly stop (killed, or an exception) takes whatever
  // still runs down with it here, with its own exit reason.
  void on_exit() override {
    // anon_send_exit: this also runs from on_destroy when the last handle
    // to an idle supervisor goes away, when we can no longer be a sender.
    caf::error reason = fail_state();
    if (!reason)
      reason = caf::exit_reason::kill;
    for (auto& rec : children_)
      if (rec.handle())
        caf::anon_send(rec.handle(), caf::exit_msg{caf::actor_addr{}, reason});
  }

  caf::behavior make_behavior() override {
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

private:
  void init() {
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
    start_sequence(children_.keys(), 0,
                   [this](caf::error err, uint64_t failed) {
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

  caf::behavior behavior() {
    return {
      [this](init_atom) { init(); },
      [this](ready_atom) -> caf::result<caf::ok_atom> {
        if (started_)
          return caf::ok_atom::value;
        ready_waiters_.emplace_back(make_response_promise());
        return caf::delegated<caf::ok_atom>{};
      },
      [this](start_child_atom, child_spec& spec) {
        auto rp = make_response_promise();
        submit(
          [this, rp, spec{std::move(spec)}]() mutable {
            do_start_child(std::move(spec), rp);
          },
          rp);
        return rp;
      },
      [this](start_child_atom, caf::message& extra) {
        auto rp = make_response_promise();
        submit(
          [this, rp, extra{std::move(extra)}]() mutable {
            do_start_dynamic(std::move(extra), rp);
          },
          rp);
        return rp;
      },
      [this](terminate_child_atom, std::string& id) {
        auto rp = make_response_promise();
        submit(
          [this, rp, id{std::move(id)}]() mutable {
            if (is_simple()) {
              rp.deliver(caf::error{errc::simple_one_for_one, id});
              return;
            }
            auto* rec = children_.find_by_id(id);
            if (rec == nullptr) {
              rp.deliver(caf::error{errc::not_found, id});
              return;
            }
            do_terminate(rec->key, rp);
          },
          rp);
        return rp;
      },
      [this](terminate_child_atom, caf::actor& child) {
        auto rp = make_response_promise();
        submit(
          [this, rp, child{std::move(child)}]() mutable {
            auto* rec = children_.find_by_address(child.address());
            if (rec == nullptr) {
              rp.deliver(caf::error{errc::not_found, "no such child"});
              return;
            }
            do_terminate(rec->key, rp);
          },
          rp);
        return rp;
      },
      [this](restart_child_atom, std::string& id) {
        auto rp = make_response_promise();
        submit(
          [this, rp, id{std::move(id)}]() mutable { do_restart_child(id, rp); },
          rp);
        return rp;
      },
      [this](delete_child_atom, std::string& id) {
        auto rp = make_response_promise();
        submit(
          [this, rp, id{std::move(id)}]() mutable { do_delete_child(id, rp); },
          rp);
        return rp;
      },
      [this](which_children_atom) { return which_children(); },
      [this](count_children_atom) { return count_children(); },
      [this](tree_atom) {
        auto rp = make_response_promise();
        collect_tree(rp);
        return rp;
      },
      [this](stop_timeout_atom, uint64_t key, uint64_t generation) {
        on_stop_timeout(key, generation);
      },
      [this](restart_timer_atom, uint64_t token) { on_restart_timer(token); },
    };
  }

  // -- jobs: operations that span several messages run one at a time --------

  // OTP supervisors are synchronous: while one stops or starts children,
  // other requests and exits wait in the mailbox. We get the same order with
  // a backlog that is drained whenever a job ends.
  void begin_job() { busy_ = true; }

  void end_job() {
    busy_ = false;
    while (!busy_ && !backlog_.empty()) {
      auto next = std::move(backlog_.front());
      backlog_.pop_front();
      next();
    }
  }

  void run_or_defer(done_fn fn) {
    if (busy_)
      backlog_.emplace_back(std::move(fn));
    else
      fn();
  }

  // Runs a management request now or after the current job; answers with
  // shutting_down once the supervisor is on its way out.
  void submit(done_fn fn, caf::response_promise rp) {
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

  // -- records ---------------------------------------------------------------

  bool is_simple() const {
    return flags_.strategy == strategy::simple_one_for_one;
  }

  child_record& add_record(child_spec spec, caf::message extra) {
    child_payload payload;
    payload.spec = std::move(spec);
    payload.extra = std::move(extra);
    auto id = payload.spec.id;
    return children_.add(std::move(id), std::move(payload));
  }

  child_record* find(uint64_t key) { return children_.find(key); }

  std::string id_of(uint64_t key) const { return children_.id_of(key); }

  // -- starting ----------------------------------------------------------------

  // Starts one child. `done` gets none on success or ignore, else the error.
  void start_one(uint64_t key, start_done_fn done) {
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
          if (r != nullptr)
            start_aborted(*r);
          done(std::move(err));
        });
  }

  void start_aborted(child_record& rec) {
    children_.clear_handle(rec);
    rec.state = child_state::stopped;
    rec.died_while_starting = false;
    rec.death_reason = caf::error{};
    rec.waiting_for_reason = nullptr;
  }

  // Starts `keys[i..]` in order; stops at the first failure and reports it
  // with the failing key.
  void start_sequence(std::vector<uint64_t> keys, size_t i,
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

  void initial_start_failed(caf::error err, uint64_t failed_key) {
    auto id = id_of(failed_key);
    auto reason = caf::error{errc::start_failed, id, describe(err)};
    spdlog::error("supervisor {}: child {} failed to start: {}", flags_.name,
                  id, describe(err));
    shutdown(std::move(reason));
  }

  // -- stopping ----------------------------------------------------------------

  // Stops one child per its shutdown spec (OTP's shutdown/2): monitor, send
  // the exit, and on timeout kill. Waiting for the down message instead of
  // the exit message means a child that unlinked cannot hang us.
  void stop_one(uint64_t key, done_fn done) {
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

  void on_stop_timeout(uint64_t key, uint64_t generation) {
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
  void on_down(caf::down_msg& msg) {
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
  void stop_sequence(std::vector<uint64_t> keys, size_t i, done_fn done) {
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
  void stop_parallel(const std::vector<uint64_t>& keys, done_fn done) {
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
  void stop_all(done_fn done) {
    auto keys = children_.stop_order();
    if (is_simple())
      stop_parallel(keys, std::move(done));
    else
      stop_sequence(std::move(keys), 0, std::move(done));
  }

  // Orderly shutdown with `reason`: after the current job, stop every child
  // in reverse order, then quit.
  void shutdown(caf::error reason) {
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
  void finish(const caf::error& reason) {
    auto pending = std::move(backlog_);
    backlog_.clear();
    for (auto& fn : pending)
      fn(); // requests answer shutting_down; exits and timers are moot
    for (auto& rp : ready_waiters_)
      rp.deliver(reason);
    ready_waiters_.clear();
    quit(reason);
  }

  // -- exits -------------------------------------------------------------------

  // Children are monitored, so an exit message comes from our parent, an
  // operator, or a child that linked itself to us (its down message is what
  // counts then).
  void on_exit_msg(caf::exit_msg& msg) {
    if (children_.find_by_address(msg.source) != nullptr
        || is_normal_exit(msg.reason))
      return;
    shutdown(std::move(msg.reason));
  }

  void child_ended(const caf::actor_addr& addr, const caf::error& reason) {
    auto* rec = children_.find_by_address(addr);
    if (rec == nullptr)
      return; // a process we already forgot
    if (rec->state == child_state::starting) {
      if (rec->waiting_for_reason) {
        auto done = std::move(rec->waiting_for_reason);
        start_aborted(*rec);
        done(reason);
      } else {
        rec->died_while_starting = true;
        rec->death_reason = reason;
      }
      return;
    }
    if (rec->state != child_state::running)
      return;
    rec->exited = true;
    auto key = rec->key;
    run_or_defer(
      [this, key, addr, reason] { handle_child_exit(key, addr, reason); });
  }

  void handle_child_exit(uint64_t key, const caf::actor_addr& addr,
                         const caf::error& reason) {
    auto* rec = find(key);
    if (shutting_down_ || rec == nullptr || !rec->handle()
        || rec->handle().address() != addr
        || rec->state != child_state::running)
      return; // stale: the child was stopped or replaced meanwhile
    children_.clear_handle(*rec);
    rec->exited = false;
    rec->state = child_state::stopped;
    auto restart = rec->spec.restart;
    bool wants_restart =
      restart == restart_type::permanent
      || (restart == restart_type::transient && !is_clean_exit(reason));
    if (!wants_restart) {
      bool significant = rec->spec.significant;
      if (restart == restart_type::temporary || is_simple())
        children_.erase(key);
      if (significant)
        check_auto_shutdown();
      return;
    }
    spdlog::warn("supervisor {}: child {} exited: {}; restarting", flags_.name,
                 rec->spec.id, describe_exit(reason));
    restart_child_after_crash(key);
  }

  void check_auto_shutdown() {
    switch (flags_.auto_shutdown) {
    case auto_shutdown::never:
      return;
    case auto_shutdown::any_significant:
      break;
    case auto_shutdown::all_significant:
      for (auto& rec : children_)
        if (rec.spec.significant && rec.state != child_state::stopped)
          return;
      break;
    }
    spdlog::info("supervisor {}: significant child ended, shutting down",
                 flags_.name);
    shutdown(caf::error{errc::auto_shutdown, flags_.name});
  }

  // More than `intensity` restarts within `period` and the supervisor gives
  // up (see restart_budget).
  bool add_restart() { return budget_.add_restart(clock().now()); }

  void give_up() {
    spdlog::error("supervisor {}: reached max restart intensity ({} in {} ms), "
                  "shutting down",
                  flags_.name, flags_.intensity, flags_.period.count());
    shutdown(caf::error{errc::reached_max_restart_intensity, flags_.name});
  }

  std::chrono::milliseconds backoff_delay(child_record& rec) {
    return rec.backoff.next_delay(flags_.backoff, clock().now());
  }

  // The strategy decides which children go down and come back with `key`.
  void restart_child_after_crash(uint64_t key) {
    if (!add_restart()) {
      give_up();
      return;
    }
    auto* rec = find(key);
    ++rec->restarts;
    auto delay = backoff_delay(*rec);
    std::vector<uint64_t> to_stop;
    std::vector<uint64_t> to_start;
    switch (flags_.strategy) {
    case strategy::one_for_one:
    case strategy::simple_one_for_one:
      to_start.push_back(key);
      break;
    case strategy::one_for_all:
      to_stop = children_.keys_except(key);
      to_start = children_.keys();
      break;
    case strategy::rest_for_one:
      to_stop = children_.keys_after(key);
      to_start = children_.keys_from(key);
      break;
    }
    std::reverse(to_stop.begin(), to_stop.end());
    begin_job();
    stop_sequence(to_stop, 0, [this, to_start, delay]() mutable {
      // Temporary children are never restarted, not even as siblings.
      std::vector<uint64_t> keep;
      for (auto k : to_start) {
        auto* r = find(k);
        if (r == nullptr)
          continue;
        if (r->spec.restart == restart_type::temporary
            && r->state == child_state::stopped) {
          children_.erase(k);
          continue;
        }
        if (r->state == child_state::stopped)
          keep.push_back(k);
      }
      schedule_restart(std::move(keep), delay);
      end_job();
    });
  }

  // Marks `keys` restarting and starts them now or after `delay`.
  void schedule_restart(std::vector<uint64_t> keys,
                        std::chrono::milliseconds delay) {
    if (keys.empty())
      return;
    auto token = ++restart_token_;
    for (auto k : keys)
      if (auto* r = find(k)) {
        r->state = child_state::restarting;
        r->restart_token = token;
      }
    pending_restarts_[token] = std::move(keys);
    if (delay.count() > 0)
      delayed_send(this, delay, restart_timer_atom::value, token);
    else
      send(this, restart_timer_atom::value, token);
  }

  void on_restart_timer(uint64_t token) {
    run_or_defer([this, token] { run_restart(token); });
  }

  void run_restart(uint64_t token) {
    auto i = pending_restarts_.find(token);
    if (i == pending_restarts_.end() || shutting_down_)
      return;
    std::vector<uint64_t> keys;
    for (auto k : i->second)
      if (auto* r = find(k);
          r && r->state == child_state::restarting && r->restart_token == token)
        keys.push_back(k);
    pending_restarts_.erase(i);
    begin_job();
    start_sequence(keys, 0,
                   [this, keys](caf::error err, uint64_t failed) mutable {
                     if (err)
                       restart_failed(std::move(err), failed, keys);
                     end_job();
                   });
  }

  // OTP retries a failed restart (try_again_restart); each try counts toward
  // the intensity, so a child that cannot start ends in escalation rather
  // than a busy loop. The backoff, when enabled, spaces the tries.
  void restart_failed(caf::error err, uint64_t failed,
                      const std::vector<uint64_t>& keys) {
    spdlog::error("supervisor {}: restarting {} failed: {}", flags_.name,
                  id_of(failed), describe(err));
    if (!add_restart()) {
      give_up();
      return;
    }
    auto from = std::find(keys.begin(), keys.end(), failed);
    std::vector<uint64_t> rest(from, keys.end());
    std::chrono::milliseconds delay{0};
    if (auto* rec = find(failed)) {
      ++rec->restarts;
      delay = backoff_delay(*rec);
    }
    schedule_restart(std::move(rest), delay);
  }

  // -- management --------------------------------------------------------------

  void do_start_child(child_spec spec, caf::response_promise rp) {
    if (is_simple()) {
      rp.deliver(caf::error{errc::simple_one_for_one,
                            "start_child takes arguments, not a spec"});
      return;
    }
    std::vector<child_spec> single{spec};
    if (auto err = validate(supervisor_flags{flags_}, single)) {
      rp.deliver(std::move(err));
      return;
    }
    if (auto* existing = children_.find_by_id(spec.id)) {
      if (existing->handle())
        rp.deliver(caf::error{errc::already_started, spec.id});
      else
        rp.deliver(caf::error{errc::already_present, spec.id});
      return;
    }
    auto key = add_record(std::move(spec), caf::message{}).key;
    start_new(key, rp);
  }

  void do_start_dynamic(caf::message extra, caf::response_promise rp) {
    if (!is_simple()) {
      rp.deliver(caf::error{errc::invalid_argument,
                            "start_child with arguments needs "
                            "simple_one_for_one"});
      return;
    }
    auto spec = template_;
    spec.id = template_.id + "#" + std::to_string(children_.next_key());
    auto key = add_record(std::move(spec), std::move(extra)).key;
    start_new(key, rp);
  }

  // Starts a just-added record; a failed start forgets it again.
  void start_new(uint64_t key, caf::response_promise rp) {
    begin_job();
    start_one(key, [this, key, rp](caf::error err) mutable {
      if (err) {
        // The id first: erasing the record frees it.
        auto id = id_of(key);
        children_.erase(key);
        rp.deliver(
          caf::error{errc::start_failed, std::move(id), describe(err)});
      } else {
        auto* rec = find(key);
        rp.deliver(rec != nullptr ? rec->handle() : caf::actor{});
      }
      end_job();
    });
  }

  void do_terminate(uint64_t key, caf::response_promise rp) {
    begin_job();
    stop_one(key, [this, key, rp]() mutable {
      if (auto* rec = find(key);
          rec != nullptr
          && (rec->spec.restart == restart_type::temporary || is_simple()))
        children_.erase(key);
      rp.deliver(caf::ok_atom::value);
      end_job();
    });
  }

  void do_restart_child(const std::string& id, caf::response_promise rp) {
    if (is_simple()) {
      rp.deliver(caf::error{errc::simple_one_for_one, id});
      return;
    }
    auto* rec = children_.find_by_id(id);
    if (rec == nullptr) {
      rp.deliver(caf::error{errc::not_found, id});
      return;
    }
    switch (rec->state) {
    case child_state::stopped:
      break;
    case child_state::restarting:
      rp.deliver(caf::error{errc::restarting, id});
      return;
    default:
      rp.deliver(caf::error{errc::running, id});
      return;
    }
    auto key = rec->key;
    begin_job();
    start_one(key, [this, key, rp](caf::error err) mutable {
      if (err) {
        rp.deliver(caf::error{errc::start_failed, id_of(key), describe(err)});
      } else {
        auto* r = find(key);
        rp.deliver(r != nullptr ? r->handle() : caf::actor{});
      }
      end_job();
    });
  }

  void do_delete_child(const std::string& id, caf::response_promise rp) {
    if (is_simple()) {
      rp.deliver(caf::error{errc::simple_one_for_one, id});
      return;
    }
    auto* rec = children_.find_by_id(id);
    if (rec == nullptr) {
      rp.deliver(caf::error{errc::not_found, id});
      return;
    }
    if (rec->state == child_state::restarting) {
      rp.deliver(caf::error{errc::restarting, id});
      return;
    }
    if (rec->state != child_state::stopped) {
      rp.deliver(caf::error{errc::running, id});
      return;
    }
    children_.erase(rec->key);
    rp.deliver(caf::ok_atom::value);
  }

  std::vector<child_info> which_children() {
    std::vector<child_info> out;
    for (auto& rec : children_) {
      child_info info;
      info.id = rec.spec.id;
      info.handle = rec.handle();
      info.state = to_cstr(rec.state);
      info.type = rec.spec.type;
      info.restarts = rec.restarts;
      out.emplace_back(std::move(info));
    }
    return out;
  }

  child_counts count_children() {
    child_counts counts;
    for (auto& rec : children_) {
      ++counts.specs;
      if (rec.handle() && rec.state == child_state::running)
        ++counts.active;
      if (rec.spec.type == child_type::supervisor)
        ++counts.supervisors;
      else
        ++counts.workers;
    }
    return counts;
  }

  tree_node own_node() {
    tree_node node;
    node.id = flags_.name;
    node.kind = "supervisor";
    node.strategy = to_string(flags_.strategy);
    node.state = shutting_down_ ? "stopping"
                 : started_     ? "running"
                                : "starting";
    node.actor_id = id();
    return node;
  }

  // Asks every running child supervisor for its subtree; a child that fails
  // to answer in time shows with state "unresponsive".
  void collect_tree(caf::response_promise rp) {
    auto root = std::make_shared<tree_node>(own_node());
    std::vector<std::pair<size_t, caf::actor>> asks;
    for (auto& rec : children_) {
      tree_node node;
      node.id = rec.spec.id;
      node.kind =
        rec.spec.type == child_type::supervisor ? "supervisor" : "worker";
      node.state = to_cstr(rec.state);
      node.restarts = rec.restarts;
      node.actor_id = rec.handle() ? rec.handle().id() : 0;
      root->children.emplace_back(std::move(node));
      if (rec.spec.type == child_type::supervisor && rec.handle()
          && rec.state == child_state::running)
        asks.emplace_back(root->children.size() - 1, rec.handle());
    }
    if (asks.empty()) {
      rp.deliver(std::move(*root));
      return;
    }
    auto remaining = std::make_shared<size_t>(asks.size());
    for (auto& [index, child] : asks) {
      auto finish = [rp, root, remaining]() mutable {
        if (--*remaining == 0)
          rp.deliver(std::move(*root));
      };
      request(child, std::chrono::seconds(5), tree_atom::value)
        .then(
          [root, index{index}, finish](tree_node& sub) mutable {
            auto& node = root->children[index];
            node.strategy = std::move(sub.strategy);
            node.children = std::move(sub.children);
            finish();
          },
          [root, index{index}, finish](caf::error&) mutable {
            root->children[index].state = "unresponsive";
            finish();
          });
    }
  }

  // -- state -------------------------------------------------------------------

  supervisor_flags flags_;
  std::vector<child_spec> initial_specs_;
  detail::restart_budget budget_;
  child_spec template_; // simple_one_for_one
  child_table children_;
  bool started_ = false;
  bool busy_ = false;
  bool shutting_down_ = false;
  std::deque<done_fn> backlog_;
  std::vector<caf::response_promise> ready_waiters_;
  std::unordered_map<caf::actor_addr, pending_stop> stops_;
  uint64_t stop_generation_ = 0;
  uint64_t restart_token_ = 0;
  std::unordered_map<uint64_t, std::vector<uint64_t>> pending_restarts_;
};

} // namespace

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
  return sys.spawn<supervisor_actor>(std::move(flags), std::move(specs));
}

caf::expected<caf::actor> start_supervisor(caf::actor_system& sys,
                                           supervisor_flags flags,
                                           std::vector<child_spec> specs,
                                           std::chrono::milliseconds timeout) {
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
    self->send_exit(sup, caf::exit_reason::user_shutdown);
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
    return sup->spawn<supervisor_actor>(flags, specs);
  };
  spec.type = child_type::supervisor;
  spec.shutdown = shutdown_spec::infinity();
  spec.await_ready = true;
  return spec;
}

} // namespace castor
