// net_mcast_probe: the multicast end points of the namespace test, built on
// castor::net so that the test exercises our option and join code.
//
//   net_mcast_probe send GROUP PORT COUNT TAG [--if NAME] [--bind ADDR]
//       Sends COUNT datagrams "TAG <i>" to GROUP:PORT, with IP_MULTICAST_IF
//       set to NAME (by index) and/or the socket bound to ADDR.
//   net_mcast_probe recv GROUP PORT IFNAME MILLIS [--source ADDR]
//       Joins GROUP on IFNAME (any-source, or source-specific with
//       --source), prints "READY", then one line "<from-ip> <payload>" per
//       datagram for MILLIS ms, then "COUNT <n>".
//   net_mcast_probe recv-multi PORT MILLIS GROUP@IFNAME...
//       One socket on the wildcard address and PORT (shared with
//       SO_REUSEADDR), joined to each GROUP on its IFNAME, castor's
//       defaults otherwise (so IP_PKTINFO on, IP_MULTICAST_ALL off).
//       Prints "READY", then "<from-ip> <destination> <ifname> <payload>"
//       per datagram, from the datagram's packet info, then "COUNT <n>".
//
// GROUP, ADDR: IPv4 or IPv6 (ipv6_netns.sh); an IPv6 group makes an
// AF_INET6 socket, so the same calls set IPV6_MULTICAST_IF and MLD joins.
//
// Exit status: 0 ok, 2 usage, 3 socket or option error (printed), 4 some
// sends failed.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include <net/if.h>

#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/udp_socket.hpp"

using namespace castor::net;
namespace ip = boost::asio::ip;

namespace {

int usage() {
  std::cerr << "usage: net_mcast_probe send GROUP PORT COUNT TAG "
               "[--if NAME] [--bind ADDR]\n"
               "       net_mcast_probe recv GROUP PORT IFNAME MILLIS "
               "[--source ADDR]\n"
               "       net_mcast_probe recv-multi PORT MILLIS "
               "GROUP@IFNAME...\n";
  return 2;
}

int fail(const char* what, const caf::error& err) {
  std::cerr << what << ": " << describe(err) << std::endl;
  return 3;
}

// The wildcard address of `a`'s family.
ip::address any_of(const ip::address& a) {
  return a.is_v6() ? ip::address{ip::address_v6::any()}
                   : ip::address{ip::address_v4::any()};
}

// Options after the positional arguments: --key value pairs.
std::string opt(const std::vector<std::string>& args, size_t from,
                const std::string& key) {
  for (size_t i = from; i + 1 < args.size(); i += 2)
    if (args[i] == key)
      return args[i + 1];
  return {};
}

int run_send(caf::actor_system& sys, io_shards& shards,
             const std::vector<std::string>& a) {
  if (a.size() < 5)
    return usage();
  auto group = ip::make_address(a[1]);
  auto port = static_cast<unsigned short>(std::stoi(a[2]));
  auto count = std::stoi(a[3]);
  udp_options o;
  o.local = udp_endpoint{any_of(group), 0};
  if (auto b = opt(a, 5, "--bind"); !b.empty())
    o.local = udp_endpoint{ip::make_address(b), 0};
  if (auto itf = opt(a, 5, "--if"); !itf.empty())
    o.multicast_interface = interface_ref::by_name(itf);
  o.multicast_ttl = 1;
  o.multicast_loop = 0;
  caf::scoped_actor me{sys};
  auto s = open_udp(sys, shards, caf::actor_cast<caf::actor>(me), o);
  if (!s)
    return fail("open", s.error());
  udp_endpoint dst{group, port};
  for (int i = 0; i < count; ++i) {
    auto text = a[4] + " " + std::to_string(i);
    me->send(s->actor, send_atom::value, dst,
             std::vector<uint8_t>(text.begin(), text.end()));
  }
  // The sends leave in a sendmmsg that runs after the mailbox elements
  // already queued on the shard, so a stats answer may predate it: ask
  // until everything is accounted for, a bounded number of times.
  int rc = 3;
  for (int attempt = 0; attempt < 200 && rc == 3; ++attempt) {
    me->request(s->actor, std::chrono::seconds(10), stats_atom::value)
      .receive(
        [&](const udp_stats& st) {
          if (st.sent + st.send_errors + st.send_dropped
              < static_cast<uint64_t>(count))
            return;
          std::cout << "SENT " << st.sent << " ERRORS " << st.send_errors
                    << std::endl;
          rc = st.sent == static_cast<uint64_t>(count) ? 0 : 4;
        },
        [&](caf::error& err) { rc = fail("stats", err); });
  }
  if (rc == 3)
    std::cerr << "sends not done after 200 stats requests" << std::endl;
  me->send(s->actor, caf::close_atom::value);
  return rc;
}

// Prints READY, then one line per datagram (`line` writes it) for `millis`
// ms, then COUNT; closes the socket.
template <class Line>
int print_received(caf::scoped_actor& me, const udp_socket& s, int millis,
                   Line line) {
  std::cout << "READY" << std::endl;
  size_t n = 0;
  auto deadline =
    std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  bool running = true;
  while (running) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero())
      break;
    me->receive(
      [&](udp_atom, const udp_batch& b) {
        for (auto d : b.datagrams()) {
          line(d);
          ++n;
        }
      },
      [&](udp_error_atom, const caf::error& err) {
        std::cout << "ERROR " << describe(err) << "\n";
      },
      caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(left)) >>
        [&] { running = false; });
  }
  std::cout << "COUNT " << n << std::endl;
  me->send(s.actor, caf::close_atom::value);
  return 0;
}

int run_recv(caf::actor_system& sys, io_shards& shards,
             const std::vector<std::string>& a) {
  if (a.size() < 5)
    return usage();
  auto group = ip::make_address(a[1]);
  auto port = static_cast<unsigned short>(std::stoi(a[2]));
  auto itf = interface_ref::by_name(a[3]);
  auto millis = std::stoi(a[4]);
  udp_options o;
  // Bound to the group, so only this group's datagrams reach the socket.
  o.local = udp_endpoint{group, port};
  o.reuse_address = true;
  o.active = active_mode::always();
  if (auto src = opt(a, 5, "--source"); !src.empty())
    o.memberships.push_back(
      multicast_membership::source_specific(group, ip::make_address(src), itf));
  else
    o.memberships.push_back(multicast_membership::any_source(group, itf));
  caf::scoped_actor me{sys};
  auto s = open_udp(sys, shards, caf::actor_cast<caf::actor>(me), o);
  if (!s)
    return fail("open", s.error());
  return print_received(me, *s, millis, [](const datagram& d) {
    std::cout << d.from.address().to_string() << " " << d.text() << "\n";
  });
}

int run_recv_multi(caf::actor_system& sys, io_shards& shards,
                   const std::vector<std::string>& a) {
  if (a.size() < 4)
    return usage();
  auto port = static_cast<unsigned short>(std::stoi(a[1]));
  auto millis = std::stoi(a[2]);
  udp_options o;
  // The first group's family: IPv4, or IPv6 (with its groups only).
  o.local = udp_endpoint{
    any_of(ip::make_address(a[3].substr(0, a[3].find('@')))), port};
  o.reuse_address = true;
  o.active = active_mode::always();
  for (size_t i = 3; i < a.size(); ++i) {
    auto at = a[i].find('@');
    if (at == std::string::npos)
      return usage();
    o.memberships.push_back(multicast_membership::any_source(
      ip::make_address(a[i].substr(0, at)),
      interface_ref::by_name(a[i].substr(at + 1))));
  }
  caf::scoped_actor me{sys};
  auto s = open_udp(sys, shards, caf::actor_cast<caf::actor>(me), o);
  if (!s)
    return fail("open", s.error());
  return print_received(me, *s, millis, [](const datagram& d) {
    char name[IF_NAMESIZE] = "?";
    if (d.ifindex == 0 || !::if_indextoname(d.ifindex, name))
      std::strcpy(name, "?");
    std::cout << d.from.address().to_string() << " "
              << d.destination.to_string() << " " << name << " " << d.text()
              << "\n";
  });
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty())
    return usage();
  caf::actor_system_config cfg;
  register_errors(cfg);
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  int rc = 0;
  {
    // Declared after the system and destroyed before it (see io_shards.hpp).
    io_shards shards{io_shards_options{1, true, "probe-io-"}};
    if (args[0] == "send")
      rc = run_send(sys, shards, args);
    else if (args[0] == "recv")
      rc = run_recv(sys, shards, args);
    else if (args[0] == "recv-multi")
      rc = run_recv_multi(sys, shards, args);
    else
      rc = usage();
    shards.stop();
  }
  return rc;
}
