#pragma once

// The supervisor actor behind spawn_supervisor and supervisor_child. One
// class, implemented in four files by concern:
//   supervisor.cpp             its lifetime, the job queue, the public
//                              functions of supervisor.hpp;
//   supervisor_requests.cpp    the behavior and the management requests;
//   supervisor_start_stop.cpp  starting and stopping children in order;
//   supervisor_restarts.cpp    child exits, restart strategies, intensity.
// The child table and the restart budget it uses are plain C++ of their own
// (child_table.hpp, restart_budget.hpp).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/response_promise.hpp>
#include <caf/system_messages.hpp>

#include "child_table.hpp"
#include "restart_budget.hpp"

#include "castor/actors/supervisor.hpp"

namespace castor::detail {

// Internal timer atoms; stale timers are told apart by generation numbers,
// because CAF 0.17's delayed_send cannot be cancelled.
using stop_timeout_atom = caf::atom_constant<caf::atom("sup_stop_t")>;
using restart_timer_atom = caf::atom_constant<caf::atom("sup_retry")>;
using init_atom = caf::atom_constant<caf::atom("sup_init")>;

using done_fn = std::function<void()>;
using start_done_fn = std::function<void(caf::error)>;

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

using supervisor_children = child_table<child_payload, caf::actor>;
using child_record = supervisor_children::record;

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
  /// `parent`: the supervisor that starts this one as its child, if any.
  supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                   std::vector<child_spec> specs,
                   caf::actor_addr parent = caf::actor_addr{})
      : caf::event_based_actor(cfg), flags_(std::move(flags)),
        initial_specs_(std::move(specs)), parent_(std::move(parent)),
        budget_(flags_.intensity, flags_.period) {
    // nop
  }

  const char* name() const override { return "castor.supervisor"; }

  void on_exit() override;
  caf::behavior make_behavior() override;

private:
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

  // -- start-up and jobs (supervisor.cpp) --

  // Adds the initial children and starts them in order.
  void init();

  // Jobs: operations over several messages run one at a time.
  // OTP supervisors are synchronous: while one stops or starts children,
  // other requests and exits wait in the mailbox. We get the same order with
  // a backlog that is drained whenever a job ends.
  void begin_job() { busy_ = true; }
  void end_job();
  void run_or_defer(done_fn fn);
  void submit(done_fn fn, caf::response_promise rp);

  // -- requests (supervisor_requests.cpp) --

  caf::behavior behavior();
  caf::result<caf::ok_atom> on_ready();

  // Makes the promise for a management request and runs `fn(arg, promise)`
  // now or after the current job (see submit).
  template <class T>
  caf::response_promise
  queue(void (supervisor_actor::*fn)(T, caf::response_promise), T arg) {
    auto rp = make_response_promise();
    submit([this, fn, rp,
            arg{std::move(arg)}]() mutable { (this->*fn)(std::move(arg), rp); },
           rp);
    return rp;
  }

  // The child `id` names, or null after answering `rp` with the error
  // (simple_one_for_one has no names; not_found).
  child_record* named_child(const std::string& id, caf::response_promise& rp);

  void do_start_child(child_spec spec, caf::response_promise rp);
  void do_start_dynamic(caf::message extra, caf::response_promise rp);
  void do_terminate_id(std::string id, caf::response_promise rp);
  void do_terminate_handle(caf::actor child, caf::response_promise rp);
  void do_restart_child(std::string id, caf::response_promise rp);
  void do_delete_child(std::string id, caf::response_promise rp);
  void start_new(uint64_t key, caf::response_promise rp);
  void do_terminate(uint64_t key, caf::response_promise rp);
  std::vector<child_info> which_children();
  child_counts count_children();
  tree_node own_node();
  caf::response_promise collect_tree();

  // -- starting and stopping children (supervisor_start_stop.cpp) --

  void start_one(uint64_t key, start_done_fn done);
  void start_aborted(child_record& rec);
  void start_sequence(std::vector<uint64_t> keys, size_t i,
                      std::function<void(caf::error, uint64_t)> done);
  void initial_start_failed(caf::error err, uint64_t failed_key);
  void stop_one(uint64_t key, done_fn done);
  void on_stop_timeout(uint64_t key, uint64_t generation);
  void on_down(caf::down_msg& msg);
  void stop_sequence(std::vector<uint64_t> keys, size_t i, done_fn done);
  void stop_parallel(const std::vector<uint64_t>& keys, done_fn done);
  void stop_all(done_fn done);
  void shutdown(caf::error reason);
  void finish(const caf::error& reason);

  // -- exits and restarts (supervisor_restarts.cpp) --

  void on_exit_msg(caf::exit_msg& msg);
  static bool sender_has_ended(const caf::actor_addr& source);
  void child_ended(const caf::actor_addr& addr, const caf::error& reason);
  void handle_child_exit(uint64_t key, const caf::actor_addr& addr,
                         const caf::error& reason);
  void check_auto_shutdown();
  bool add_restart(std::chrono::milliseconds delay);
  void give_up();
  std::chrono::milliseconds backoff_delay(child_record& rec);
  void restart_child_after_crash(uint64_t key);
  void schedule_restart(std::vector<uint64_t> keys,
                        std::chrono::milliseconds delay);
  void on_restart_timer(uint64_t token);
  void run_restart(uint64_t token);
  void restart_failed(caf::error err, uint64_t failed,
                      const std::vector<uint64_t>& keys);

  // -- state --

  supervisor_flags flags_;
  std::vector<child_spec> initial_specs_;
  caf::actor_addr parent_;
  restart_budget budget_;
  child_spec template_; // simple_one_for_one
  supervisor_children children_;
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

} // namespace castor::detail
