// How the supervisor reacts when children end: restart types, the restart
// strategies, restart intensity and backoff, and auto_shutdown.

#include <algorithm>

#include <caf/send.hpp>

#include "supervisor_actor.hpp"
#include <spdlog/spdlog.h>

namespace castor::detail {

// Children are monitored, so an exit message comes from our parent, an
// operator, a child that linked itself to us (its down message is what
// counts then), or another actor linked to us that ended. OTP's supervisor
// ignores EXIT from anyone but its parent and its children. Our parent is
// the supervisor that spawned us (its exit comes while it runs, or from its
// on_exit with no source), or for a top-level supervisor whoever holds its
// handle and tells it to stop: an exit sent on purpose comes from a live
// actor or from none. A link's exit comes from an actor that has ended.
void supervisor_actor::on_exit_msg(caf::exit_msg& msg) {
  if (children_.find_by_address(msg.source) != nullptr
      || is_normal_exit(msg.reason))
    return;
  if (msg.source && msg.source != parent_ && sender_has_ended(msg.source)) {
    spdlog::warn("supervisor {}: ignoring exit of linked non-child: {}",
                 flags_.name, describe_exit(msg.reason));
    return;
  }
  shutdown(std::move(msg.reason));
}

bool supervisor_actor::sender_has_ended(const caf::actor_addr& source) {
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(source);
  return ptr == nullptr
         || ptr->get()->getf(caf::abstract_actor::is_cleaned_up_flag);
}

void supervisor_actor::child_ended(const caf::actor_addr& addr,
                                   const caf::error& reason) {
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

void supervisor_actor::handle_child_exit(uint64_t key,
                                         const caf::actor_addr& addr,
                                         const caf::error& reason) {
  auto* rec = find(key);
  if (shutting_down_ || rec == nullptr || !rec->handle()
      || rec->handle().address() != addr || rec->state != child_state::running)
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

void supervisor_actor::check_auto_shutdown() {
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
// up (see restart_budget). A restart delayed by the backoff counts from
// when it takes effect.
bool supervisor_actor::add_restart(std::chrono::milliseconds delay) {
  auto now = clock().now();
  return budget_.add_restart(now, now + delay);
}

void supervisor_actor::give_up() {
  spdlog::error("supervisor {}: reached max restart intensity ({} in {} ms), "
                "shutting down",
                flags_.name, flags_.intensity, flags_.period.count());
  shutdown(caf::error{errc::reached_max_restart_intensity, flags_.name});
}

std::chrono::milliseconds supervisor_actor::backoff_delay(child_record& rec) {
  return rec.backoff.next_delay(flags_.backoff, clock().now());
}

// The strategy decides which children go down and come back with `key`.
void supervisor_actor::restart_child_after_crash(uint64_t key) {
  auto* rec = find(key);
  auto delay = backoff_delay(*rec);
  if (!add_restart(delay)) {
    give_up();
    return;
  }
  ++rec->restarts;
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
void supervisor_actor::schedule_restart(std::vector<uint64_t> keys,
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

void supervisor_actor::on_restart_timer(uint64_t token) {
  run_or_defer([this, token] { run_restart(token); });
}

void supervisor_actor::run_restart(uint64_t token) {
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
void supervisor_actor::restart_failed(caf::error err, uint64_t failed,
                                      const std::vector<uint64_t>& keys) {
  spdlog::error("supervisor {}: restarting {} failed: {}", flags_.name,
                id_of(failed), describe(err));
  auto* rec = find(failed);
  auto delay =
    rec != nullptr ? backoff_delay(*rec) : std::chrono::milliseconds{0};
  if (!add_restart(delay)) {
    give_up();
    return;
  }
  auto from = std::find(keys.begin(), keys.end(), failed);
  std::vector<uint64_t> rest(from, keys.end());
  if (rec != nullptr)
    ++rec->restarts;
  schedule_restart(std::move(rest), delay);
}

} // namespace castor::detail
