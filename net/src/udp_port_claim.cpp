#include "udp_port_claim.hpp"

#include <algorithm>
#include <vector>

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::net::detail {

namespace {

// Every live claim of the process. Small (one entry per open UDP socket)
// and touched only on open and on a failed bind.
struct claim_table {
  std::mutex mtx;
  std::vector<std::weak_ptr<udp_port_claim>> claims;
};

claim_table& table() {
  static claim_table instance;
  return instance;
}

} // namespace

std::shared_ptr<udp_port_claim> udp_port_claim::make(int fd,
                                                     unsigned short port) {
  auto claim = std::make_shared<udp_port_claim>(fd, port);
  auto& t = table();
  std::lock_guard<std::mutex> guard{t.mtx};
  t.claims.erase(std::remove_if(t.claims.begin(), t.claims.end(),
                                [](auto& w) { return w.expired(); }),
                 t.claims.end());
  t.claims.emplace_back(claim);
  return claim;
}

bool udp_port_claim::release_orphans(const udp_endpoint& local) {
  std::vector<std::shared_ptr<udp_port_claim>> found;
  {
    auto& t = table();
    std::lock_guard<std::mutex> guard{t.mtx};
    for (auto& w : t.claims)
      if (auto c = w.lock(); c && c->port() == local.port())
        found.emplace_back(std::move(c));
  }
  bool released = false;
  for (auto& c : found) {
    if (!c->owner_ended())
      continue;
    c->release_now();
    released = true;
  }
  return released;
}

void udp_port_claim::set_owner(const caf::actor_addr& owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  owner_ = owner;
  has_owner_ = true;
}

caf::actor_addr udp_port_claim::owner() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return owner_;
}

bool udp_port_claim::owner_ended() const {
  caf::actor_addr owner;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!has_owner_)
      return false; // still being opened
    owner = owner_;
  }
  auto strong = caf::actor_cast<caf::strong_actor_ptr>(owner);
  if (!strong)
    return true; // gone entirely
  // Set by CAF's cleanup under the actor's lock, before any link or monitor
  // hears of the exit.
  return caf::actor_cast<caf::abstract_actor*>(strong)->getf(
    caf::abstract_actor::is_cleaned_up_flag);
}

void udp_port_claim::release_now() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (closed_)
    return;
  int inert = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (inert < 0)
    return; // out of fds: the shard closes the socket a moment later
  if (::dup3(inert, fd_, O_CLOEXEC) >= 0)
    closed_ = true;
  ::close(inert);
}

} // namespace castor::net::detail
