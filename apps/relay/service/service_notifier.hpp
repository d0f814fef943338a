#pragma once

// castor-relay's side of systemd's Type=notify protocol (sd_notify(3)):
//
//   READY=1      once the supervision tree is up (relay_app's on_started)
//   RELOADING=1  when a reload starts; READY=1 again when it is done
//   STOPPING=1   when the tree starts to shut down (stopping_notice_child)
//   WATCHDOG=1   every WATCHDOG_USEC/2, but only while the root supervisor
//                answers a ping: a wedged scheduler or a dead root stops
//                the beats, and systemd restarts the service.
//
// Every call is a no-op when $NOTIFY_SOCKET is unset (not run by systemd,
// or Type=simple), so the daemon behaves the same from a shell.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// Whether a service manager listens ($NOTIFY_SOCKET is set).
bool service_manager_listening();

/// READY=1: the service is up (again, after a reload).
void notify_ready();

/// RELOADING=1: a reload has started; call notify_ready() when it is over,
/// whatever its outcome (a rejected config leaves the old one running).
void notify_reloading();

/// STOPPING=1: the service is shutting down.
void notify_stopping();

/// STATUS=text: one line systemctl status shows.
void notify_status(const std::string& text);

/// WATCHDOG=1: the service is alive. service_watchdog calls it.
void notify_watchdog();

/// systemd's watchdog interval ($WATCHDOG_USEC, for this process only);
/// zero when no watchdog is asked for.
std::chrono::microseconds watchdog_interval();

/// Answers whether the process is healthy, taking at most `timeout`.
using liveness_probe = std::function<bool(std::chrono::microseconds timeout)>;

/// Sends WATCHDOG=1 at half the interval from a thread of its own, each beat
/// only after `probe` succeeded within a quarter of the interval, so two
/// beats are never more than 3/4 of the interval apart while the probe
/// passes, and stop coming when it fails.
class service_watchdog {
public:
  service_watchdog(std::chrono::microseconds interval, liveness_probe probe);
  ~service_watchdog();

  service_watchdog(const service_watchdog&) = delete;
  service_watchdog& operator=(const service_watchdog&) = delete;

  void start();
  /// Ends the thread; waits at most for a probe in flight.
  void stop();

  /// One beat: probes, and sends WATCHDOG=1 if the probe passed. Returns
  /// whether it sent. The thread calls it; tests call it directly.
  bool beat_once();

  std::chrono::microseconds period() const noexcept { return interval_ / 2; }
  std::chrono::microseconds probe_timeout() const noexcept {
    return interval_ / 4;
  }

private:
  void run();

  std::chrono::microseconds interval_;
  liveness_probe probe_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// A probe that asks `root` (a castor supervisor) `ready_atom` and passes
/// when it answers ok in time: the root's mailbox is served, so CAF's
/// scheduler runs and the tree has not ended.
liveness_probe supervisor_answers(caf::actor_system& sys, caf::actor root);

/// A worker that does nothing but send STOPPING=1 when its supervisor
/// stops it for a shutdown (exit reason user_shutdown). Start it last: a
/// supervisor stops its children in reverse start order, so it is the
/// first to hear that the tree goes down.
child_spec stopping_notice_child(std::string id);

} // namespace castor::relay
