#include "service/service_notifier.hpp"

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "castor/actors/atoms.hpp"

namespace castor::relay {

namespace {

/// sd_notify keeps $NOTIFY_SOCKET (unset_environment = 0): the watchdog
/// and a later reload need it too. Failures are logged, never fatal: a
/// service manager that went away must not take the relay with it.
void send_state(const std::string& state) {
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0)
    spdlog::warn("sd_notify({}): {}", state.substr(0, state.find('\n')),
                 std::strerror(-rc));
}

} // namespace

bool service_manager_listening() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && *socket != '\0';
}

void notify_ready() {
  send_state("READY=1");
}

void notify_reloading() {
  // systemd >= 253 wants the monotonic time of the reload's start with
  // RELOADING=1 (Type=notify-reload); older ones ignore the extra field.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL
                    + static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  send_state("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() {
  send_state("STOPPING=1");
}

void notify_status(const std::string& text) {
  send_state("STATUS=" + text);
}

void notify_watchdog() {
  send_state("WATCHDOG=1");
}

std::chrono::microseconds watchdog_interval() {
  // sd_watchdog_enabled checks $WATCHDOG_PID too, so a child process that
  // inherited the environment does not take the parent's watchdog.
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0)
    return std::chrono::microseconds{0};
  return std::chrono::microseconds{usec};
}

// -- service_watchdog ---------------------------------------------------------

service_watchdog::service_watchdog(std::chrono::microseconds interval,
                                   liveness_probe probe)
    : interval_(interval), probe_(std::move(probe)) {}

service_watchdog::~service_watchdog() {
  stop();
}

void service_watchdog::start() {
  if (thread_.joinable() || interval_.count() <= 0)
    return;
  thread_ = std::thread([this] { run(); });
}

void service_watchdog::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

bool service_watchdog::beat_once() {
  if (!probe_(probe_timeout())) {
    spdlog::warn(
      "watchdog: the root supervisor did not answer within {} ms; "
      "no WATCHDOG=1 this time",
      std::chrono::duration_cast<std::chrono::milliseconds>(probe_timeout())
        .count());
    return false;
  }
  notify_watchdog();
  return true;
}

void service_watchdog::run() {
  std::unique_lock<std::mutex> lock{mtx_};
  while (!cv_.wait_for(lock, period(), [this] { return stopping_; })) {
    // The probe may take a while; stop() must not wait for the lock.
    lock.unlock();
    beat_once();
    lock.lock();
  }
}

liveness_probe supervisor_answers(caf::actor_system& sys, caf::actor root) {
  return [&sys, root](std::chrono::microseconds timeout) {
    caf::scoped_actor self{sys};
    bool answered = false;
    self
      ->request(root,
                std::chrono::duration_cast<std::chrono::milliseconds>(timeout),
                ready_atom::value)
      .receive([&](caf::ok_atom) { answered = true; },
               [&](const caf::error& err) {
                 spdlog::debug("watchdog: ping: {}", caf::to_string(err));
                 answered = false;
               });
    return answered;
  };
}

// -- stopping notice ------------------------------------------------------------

namespace {

caf::behavior stopping_notice(caf::event_based_actor* self) {
  self->attach_functor([](const caf::error& reason) {
    // user_shutdown is how a supervisor stops its children, for the whole
    // tree's shutdown or an escalation; a kill or a crash is followed by a
    // restart and is no stop of the service.
    if (reason == caf::exit_reason::user_shutdown)
      notify_stopping();
  });
  // A behaviour that answers something keeps the actor alive; `ready`
  // lets a test or a tool see that it runs.
  return {
    [](ready_atom) { return caf::ok_atom::value; },
  };
}

} // namespace

child_spec stopping_notice_child(std::string id) {
  return worker(std::move(id), stopping_notice);
}

} // namespace castor::relay
