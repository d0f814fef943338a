#include "castor/actors/application.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>

#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

namespace castor {

namespace {

std::atomic<bool> stop_requested{false};

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Waits up to `ms` for one of our signals; returns it, or 0.
int wait_signal(const sigset_t& set, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  siginfo_t info;
  auto sig = sigtimedwait(&set, &info, &ts);
  return sig > 0 ? sig : 0;
}

} // namespace

application::application(std::string name, supervisor_flags root_flags,
                         std::vector<child_spec> children)
    : name_(std::move(name)), flags_(std::move(root_flags)),
      children_(std::move(children)) {
  if (flags_.name == "supervisor")
    flags_.name = name_;
}

void application::block_signals() {
  auto set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void application::request_stop() {
  stop_requested = true;
}

run_outcome application::run(caf::actor_system& sys,
                             std::chrono::milliseconds deadline) {
  // Signals are taken synchronously with sigtimedwait on this thread, so no
  // handler ever runs inside CAF or Asio code.
  block_signals();
  auto set = handled_signals();
  stop_requested = false;
  auto root = start_supervisor(sys, flags_, children_);
  if (!root) {
    spdlog::error("{}: failed to start: {}", name_, describe(root.error()));
    return {2, std::move(root.error())};
  }
  spdlog::info("{}: started", name_);
  if (on_started_)
    on_started_(*root);
  caf::scoped_actor self{sys};
  self->monitor(*root);
  caf::error root_reason;
  bool root_down = false;
  auto poll_root = [&](std::chrono::milliseconds timeout) {
    self->receive(
      [&](caf::down_msg& msg) {
        root_down = true;
        root_reason = std::move(msg.reason);
      },
      caf::after(timeout) >> [] {});
  };
  // Poll in short slices: signals and request_stop() are seen within 20 ms.
  while (!root_down && !stop_requested) {
    auto sig = wait_signal(set, 20);
    if (sig == SIGHUP) {
      spdlog::info("{}: SIGHUP", name_);
      if (on_hangup_)
        on_hangup_();
    } else if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("{}: {} received, stopping", name_,
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    poll_root(std::chrono::milliseconds(0));
  }
  if (root_down) {
    // The tree ended by itself: normal, auto_shutdown, or a failure that
    // escalated to the top. Only the last is a non-zero exit: a root that
    // gave up on its restart intensity exits with a shutdown reason, as in
    // OTP, but for the process that is a failure (OTP's node stops too).
    if (is_clean_exit(root_reason)
        && root_reason != errc::reached_max_restart_intensity) {
      spdlog::info("{}: root supervisor ended: {}", name_,
                   describe(root_reason));
      return {0, std::move(root_reason)};
    }
    spdlog::error("{}: root supervisor failed: {}", name_,
                  describe(root_reason));
    return {1, std::move(root_reason)};
  }
  self->send_exit(*root, caf::exit_reason::user_shutdown);
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!root_down && std::chrono::steady_clock::now() < until)
    poll_root(std::chrono::milliseconds(20));
  if (!root_down) {
    spdlog::error("{}: shutdown deadline of {} ms passed, giving up", name_,
                  deadline.count());
    self->send_exit(*root, caf::exit_reason::kill);
    return {1, caf::error{errc::shutting_down, "deadline passed"}};
  }
  spdlog::info("{}: stopped", name_);
  return {0, caf::none};
}

} // namespace castor
