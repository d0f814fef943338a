#include "castor/actors/application.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "blocking_request.hpp"
#include <spdlog/spdlog.h>

namespace castor {

using app_stop_atom = caf::atom_constant<caf::atom("app_stop")>;
using app_deadline_atom = caf::atom_constant<caf::atom("app_dline")>;

// What start() shares with the actor that watches the tree: the promises it
// keeps, the callbacks it calls, and its address for stop().
struct application::running {
  std::string name;
  std::function<void(const caf::actor&)> on_started; // empty under run()
  std::function<void(const run_outcome&)> on_stopped;
  std::promise<caf::expected<caf::actor>> started_promise;
  std::shared_future<caf::expected<caf::actor>> started =
    started_promise.get_future().share();
  std::promise<run_outcome> stopped_promise;
  std::shared_future<run_outcome> stopped =
    stopped_promise.get_future().share();
  // Strong, until the watcher ends: nothing else holds the watcher (the
  // root's monitor does not, and the start request stops holding it once
  // its timeout fired), and CAF 0.17 ends an actor nobody references with
  // `unreachable`. Held weakly, the watcher ended 30 s after every start,
  // and SIGTERM then found no one to stop the tree. The watcher drops this
  // reference itself when the root is down, which breaks the cycle through
  // its handlers.
  caf::actor watcher() const {
    std::lock_guard<std::mutex> guard{mtx};
    return watcher_;
  }
  void set_watcher(caf::actor w) {
    std::lock_guard<std::mutex> guard{mtx};
    watcher_ = std::move(w);
  }

private:
  // stop() reads it on the caller's thread, the watcher clears it on its own.
  mutable std::mutex mtx;
  caf::actor watcher_;
};

namespace {

std::atomic<bool> stop_requested{false};

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  // Operators send USR1 and USR2 from habit (state dump, reopen logs): taken
  // here, they never end the process, handled or not.
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  return set;
}

// Waits up to `ms` for one of our signals; returns it, or 0.
int wait_signal(const sigset_t& set, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  siginfo_t info;
  auto sig = sigtimedwait(&set, &info, &ts);
  return sig > 0 ? sig : 0;
}

template <class T>
bool is_ready(const std::shared_future<T>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

struct watcher_state {
  caf::actor root;
  bool started = false;
  bool stopping = false;
  bool deadline_passed = false;
  // Why the start failed, when the root's ready answer said so.
  caf::error start_error;
  static inline const char* name = "application";
};

using running_ptr = std::shared_ptr<application::running>;

// The outcome of a run once the root is down with `reason`, logged.
run_outcome outcome_of(const std::string& name, watcher_state& st,
                       caf::error reason) {
  if (!st.started) {
    auto err = st.start_error ? std::move(st.start_error) : std::move(reason);
    spdlog::error("{}: failed to start: {}", name, describe(err));
    return {2, std::move(err)};
  }
  if (st.stopping) {
    if (st.deadline_passed)
      return {1, caf::error{errc::shutting_down, "deadline passed"}};
    spdlog::info("{}: stopped", name);
    return {0, caf::none};
  }
  // The tree ended by itself: normal, auto_shutdown, or a failure that
  // escalated to the top. Only the last is a non-zero exit: a root that gave
  // up on its restart intensity exits with a shutdown reason, as in OTP, but
  // for the process that is a failure (OTP's node stops too).
  if (is_clean_exit(reason) && reason != errc::reached_max_restart_intensity) {
    spdlog::info("{}: root supervisor ended: {}", name, describe(reason));
    return {0, std::move(reason)};
  }
  spdlog::error("{}: root supervisor failed: {}", name, describe(reason));
  return {1, std::move(reason)};
}

// Starts the tree, watches its root, stops it on request and reports the
// outcome through `run`. Event-based, so that neither start() nor stop()
// blocks, and so that it runs under CAF's test scheduler too.
caf::behavior watcher(caf::stateful_actor<watcher_state>* self, running_ptr run,
                      supervisor_flags flags, std::vector<child_spec> children,
                      std::chrono::milliseconds start_timeout) {
  auto& st = self->state;
  st.root =
    spawn_supervisor(self->system(), std::move(flags), std::move(children));
  self->monitor(st.root);
  self->set_down_handler([self, run](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.root)
      return;
    auto out = outcome_of(run->name, st, std::move(msg.reason));
    if (!st.started)
      run->started_promise.set_value(
        out.reason
          ? out.reason
          : caf::error{errc::shutting_down, "ended before it started"});
    // The callback first: whoever waits for stopped() knows it has run.
    if (run->on_stopped)
      run->on_stopped(out);
    run->stopped_promise.set_value(out);
    st.root = nullptr;
    run->set_watcher(nullptr);
    self->quit();
  });
  self->request(st.root, start_timeout, ready_atom::value)
    .then(
      [self, run](caf::ok_atom) {
        auto& st = self->state;
        st.started = true;
        spdlog::info("{}: started", run->name);
        if (run->on_started)
          run->on_started(st.root);
        run->started_promise.set_value(st.root);
      },
      [self](caf::error& err) {
        // A root that failed before reading the request: its down message
        // carries the reason. Anything else (a start error, a timeout):
        // the start may be stuck on a child, and the root handles exits
        // only between jobs, so end it at once (as start_supervisor does).
        if (err == caf::sec::request_receiver_down)
          return;
        self->state.start_error = std::move(err);
        self->send_exit(self->state.root, caf::exit_reason::kill);
      });
  return {
    [self](app_stop_atom, caf::timespan deadline) {
      auto& st = self->state;
      if (st.stopping)
        return;
      st.stopping = true;
      self->send_exit(st.root, caf::exit_reason::user_shutdown);
      self->delayed_send(self, deadline, app_deadline_atom::value);
    },
    [self, run](app_deadline_atom) {
      auto& st = self->state;
      spdlog::error("{}: shutdown deadline passed, giving up", run->name);
      st.deadline_passed = true;
      self->send_exit(st.root, caf::exit_reason::kill);
    },
  };
}

} // namespace

application::application(std::string name, supervisor_flags root_flags,
                         std::vector<child_spec> children)
    : name_(std::move(name)), flags_(std::move(root_flags)),
      children_(std::move(children)) {
  if (flags_.name == "supervisor")
    flags_.name = name_;
}

application::~application() {
  if (running_)
    running_->set_watcher(nullptr);
}

void application::block_signals() {
  auto set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void application::request_stop() {
  stop_requested = true;
}

caf::error application::launch(caf::actor_system& sys,
                               std::chrono::milliseconds start_timeout,
                               bool call_on_started) {
  if (running_ && !is_ready(running_->stopped))
    return caf::error{errc::invalid_argument,
                      name_ + " is running; stop it first"};
  auto run = std::make_shared<running>();
  run->name = name_;
  if (call_on_started)
    run->on_started = on_started_;
  run->on_stopped = on_stopped_;
  auto w = sys.spawn(watcher, run, flags_, children_, start_timeout);
  run->set_watcher(w);
  running_ = std::move(run);
  return caf::none;
}

caf::error application::start(caf::actor_system& sys,
                              std::chrono::milliseconds start_timeout) {
  return launch(sys, start_timeout, true);
}

void application::stop(std::chrono::milliseconds deadline) {
  auto run = running_;
  if (!run)
    return;
  // No watcher: the tree has ended already.
  if (auto w = run->watcher())
    caf::anon_send(w, app_stop_atom::value, caf::timespan{deadline});
}

std::shared_future<caf::expected<caf::actor>> application::started() const {
  return running_ ? running_->started
                  : std::shared_future<caf::expected<caf::actor>>{};
}

std::shared_future<run_outcome> application::stopped() const {
  return running_ ? running_->stopped : std::shared_future<run_outcome>{};
}

run_outcome application::run(caf::actor_system& sys,
                             std::chrono::milliseconds deadline) {
  // run() blocks on the tree's progress: on an actor's thread or under the
  // test scheduler, nothing would make progress while it waits.
  if (auto err = detail::refuse_blocking(sys))
    return {2, std::move(err)};
  // Signals are taken synchronously with sigtimedwait on this thread, so no
  // handler ever runs inside CAF or Asio code.
  block_signals();
  auto set = handled_signals();
  stop_requested = false;
  // on_started runs here, on run()'s thread, as it always has.
  if (auto err = launch(sys, std::chrono::seconds(30), false))
    return {2, std::move(err)};
  auto started = running_->started.get();
  auto stopped = running_->stopped;
  if (!started)
    return stopped.get();
  if (on_started_)
    on_started_(*started);
  // Poll in short slices: signals and request_stop() are seen within 20 ms.
  while (!is_ready(stopped) && !stop_requested) {
    auto sig = wait_signal(set, 20);
    if (sig == SIGHUP) {
      spdlog::info("{}: SIGHUP", name_);
      if (on_hangup_)
        on_hangup_();
    } else if (sig == SIGUSR1 || sig == SIGUSR2) {
      const auto& fn = sig == SIGUSR1 ? on_user1_ : on_user2_;
      const char* signame = sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2";
      if (fn) {
        spdlog::info("{}: {}", name_, signame);
        fn();
      } else {
        spdlog::info("{}: {} ignored", name_, signame);
      }
    } else if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("{}: {} received, stopping", name_,
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  stop(deadline);
  return stopped.get();
}

} // namespace castor
