// The systemd side of castor-relay (apps/relay/service_notifier.hpp),
// against a notify socket of the test's own: the datagrams the relay sends
// for READY, RELOADING, STOPPING and the watchdog, the watchdog's rule (a
// beat only after the liveness probe passed) and that nothing is sent
// without $NOTIFY_SOCKET. Whether the root supervisor answers the probe is
// shown end to end by relay_capabilities.sh.

#include <cerrno>
#include <cstdlib>
#include <string>

#include "service/service_notifier.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace castor::relay {
namespace {

using namespace std::chrono_literals;

/// A unix datagram socket in a scratch directory, named by $NOTIFY_SOCKET
/// while it lives, as systemd's would be.
class fake_service_manager {
public:
  fake_service_manager() {
    path_ = dir_.path() + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (fd_ < 0
        || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      ADD_FAILURE() << "cannot bind " << path_ << ": " << std::strerror(errno);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }

  ~fake_service_manager() {
    ::unsetenv("NOTIFY_SOCKET");
    if (fd_ >= 0)
      ::close(fd_);
  }

  /// The next datagram, or "" when none is queued. sd_notify's sendmsg
  /// has completed when it returns, so nothing is in flight.
  std::string next() {
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
  }

private:
  test::temp_dir dir_;
  std::string path_;
  int fd_ = -1;
};

TEST(service_notifier, sends_each_state_to_the_notify_socket) {
  fake_service_manager manager;
  EXPECT_TRUE(service_manager_listening());
  notify_ready();
  EXPECT_EQ(manager.next(), "READY=1");
  notify_reloading();
  const auto reloading = manager.next();
  EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u)
    << reloading;
  notify_ready();
  EXPECT_EQ(manager.next(), "READY=1");
  notify_status("3 rules");
  EXPECT_EQ(manager.next(), "STATUS=3 rules");
  notify_stopping();
  EXPECT_EQ(manager.next(), "STOPPING=1");
  EXPECT_EQ(manager.next(), "") << "one datagram per call";
}

TEST(service_notifier, is_a_no_op_without_notify_socket) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(service_manager_listening());
  notify_ready(); // must neither fail nor block
  notify_stopping();
  SUCCEED();
}

TEST(service_notifier, watchdog_interval_is_for_this_process_only) {
  ::setenv("WATCHDOG_USEC", "4000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(watchdog_interval(), 4s);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(watchdog_interval(), 0us) << "inherited from a parent";
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(watchdog_interval(), 0us);
}

TEST(service_watchdog, beats_only_after_the_probe_passed) {
  fake_service_manager manager;
  bool alive = true;
  std::chrono::microseconds asked{0};
  service_watchdog dog{4s, [&](std::chrono::microseconds timeout) {
                         asked = timeout;
                         return alive;
                       }};
  EXPECT_EQ(dog.period(), 2s) << "half of WATCHDOG_USEC";
  EXPECT_TRUE(dog.beat_once());
  EXPECT_EQ(asked, 1s) << "the probe gets a quarter of the interval";
  EXPECT_EQ(manager.next(), "WATCHDOG=1");
  alive = false;
  EXPECT_FALSE(dog.beat_once());
  EXPECT_EQ(manager.next(), "") << "a failed probe sends nothing";
  alive = true;
  EXPECT_TRUE(dog.beat_once());
  EXPECT_EQ(manager.next(), "WATCHDOG=1");
}

TEST(service_watchdog, stop_ends_the_thread_without_waiting_a_period) {
  // A period of an hour: stop() must wake the thread, not outwait it.
  service_watchdog dog{2h, [](std::chrono::microseconds) { return true; }};
  dog.start();
  dog.stop();
  SUCCEED();
}

} // namespace
} // namespace castor::relay
