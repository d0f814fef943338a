// castor-bus pub TOPIC | sub TOPIC | stat: the bus from a shell.
#include <iostream>

#include "commands.hpp"
#include <CLI/CLI.hpp>

using namespace castor_bus_cli;

bool common_options::make_map(castor::bus::topic_map& out) const {
  using namespace castor::bus;
  auto fail = [](const std::string& what) {
    std::cerr << "castor-bus: " << what << '\n';
    return false;
  };
  out = topic_map{ipv6 ? ip_family::v6 : ip_family::v4};
  if (!base.empty()) {
    auto b = ip_address::parse(base);
    if (!b)
      return fail("bad --base '" + base + "': not an IPv4 or IPv6 address");
    if (auto why = check_group(*b); !why.empty())
      return fail("bad --base: " + why);
    if (ipv6 && b->is_v4())
      return fail("--base " + base + " is IPv4, and -6 asks for IPv6");
    out = topic_map{*b, topic_map::default_port};
  }
  for (auto& e : map_entries)
    if (auto why = out.add_entry(e); !why.empty())
      return fail("bad --map entry '" + e + "': " + why
                  + " (want TOPIC=GROUP:PORT[,raw], IPv6 as [GROUP]:PORT)");
  if (!discovery.empty()) {
    ip_address group;
    uint16_t port = 0;
    if (auto why = parse_group_port(discovery, group, port); !why.empty())
      return fail("bad --discovery: " + why);
    // Announcements leave on the topic's socket: the family must match.
    auto family = out.resolve(topic).group.family();
    if (group.family() != family)
      return fail("--discovery " + discovery + " is not of the topic's family ("
                  + (family == ip_family::v6 ? "IPv6" : "IPv4") + ")");
    out.set_discovery(group, port);
  }
  return true;
}

namespace {

void add_common(CLI::App* cmd, common_options& c) {
  cmd->add_option("topic", c.topic, "The topic")->required();
  cmd->add_option("--map", c.map_entries,
                  "Maps a topic to a group and port: TOPIC=GROUP:PORT[,raw], "
                  "an IPv6 group in brackets, TOPIC=[GROUP]:PORT (raw: plain "
                  "UDP payloads, no bus header)");
  cmd->add_flag("-6,--ipv6", c.ipv6,
                "IPv6: topics without --map hash into ff18::/96, "
                "announcements go to [ff18::4d]:24699");
  cmd->add_option("--base", c.base,
                  "Where topics without --map hash to: an IPv4 /16 "
                  "(239.193.0.0) or an IPv6 /96 (ff18::), which selects IPv6");
  cmd->add_option("--discovery", c.discovery,
                  "The discovery group and port, GROUP:PORT or [GROUP]:PORT, "
                  "of the topic's family");
  cmd->add_option("--interface,-i", c.interface,
                  "Interface to send and join on (default: the route's)");
  cmd->add_option("--ttl", c.ttl, "Multicast TTL (IPv6: the hop limit)")
    ->capture_default_str();
  cmd
    ->add_option("--announce-ms", c.announce_ms,
                 "Discovery announcement interval, 0 for none")
    ->capture_default_str();
  cmd->add_option("--rcvbuf", c.rcvbuf, "Socket receive buffer in bytes")
    ->capture_default_str();
  cmd->add_option("--sndbuf", c.sndbuf, "Socket send buffer in bytes")
    ->capture_default_str();
  cmd->add_flag("--no-loop", c.no_loop,
                "IP_MULTICAST_LOOP (IPV6_MULTICAST_LOOP) off: this host's "
                "subscribers do not hear what it sends");
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"castor-bus: publish to, subscribe to and list the topics of "
               "castor's multicast bus"};
  app.require_subcommand(1);

  pub_options pub;
  auto* p = app.add_subcommand("pub", "Publish stdin's lines (or generated "
                                      "messages) to a topic");
  add_common(p, pub.common);
  p->add_option("--count,-n", pub.count,
                "Generate this many messages instead of reading stdin");
  p->add_option("--rate", pub.rate, "Generated messages per second")
    ->capture_default_str();
  p->add_option("--size", pub.size, "Generated message size in bytes")
    ->capture_default_str()
    ->check(CLI::Range(0, 65535));
  p->add_option("--linger-ms", pub.linger_ms,
                "Keep answering NAKs this long after the last message")
    ->capture_default_str();
  p->add_option("--batch-us", pub.batch_us, "Batching time bound")
    ->capture_default_str();
  p->add_flag("--no-idle-flush", pub.no_idle_flush,
              "Seal a datagram only when full or --batch-us old, even when "
              "the publisher is idle (fuller datagrams, more latency)");
  p->add_option("--ring", pub.ring, "Retransmit ring size in datagrams")
    ->capture_default_str();
  p->add_option("--max-rate", pub.max_rate,
                "Send at most this many bytes/s of UDP payload, repairs "
                "included (PGM's TXW_MAX_RTE); 0: no limit")
    ->capture_default_str()
    ->check(CLI::NonNegativeNumber);
  p->add_flag("--gso", pub.gso,
              "Hand runs of equal datagrams to the kernel as one UDP GSO "
              "message (see docs/bus.md before using it over a veth)");
  p->add_flag("--stamp", pub.stamp,
              "Generated messages carry their send time (for sub --latency)");

  sub_options sub;
  auto* s = app.add_subcommand("sub", "Print a topic's messages, one a line");
  add_common(s, sub.common);
  s->add_option("--count,-n", sub.count, "Exit after this many messages");
  s->add_option("--timeout", sub.timeout, "Exit after this many seconds");
  s->add_option("--idle", sub.idle,
                "Exit once nothing came for this many seconds (after the "
                "first message)");
  s->add_flag("--quiet,-q", sub.quiet, "Print no messages, only the summary");
  s->add_flag("--check", sub.check,
              "Messages start with a decimal index (as pub --count sends): "
              "count repeated and out-of-order indices per publisher");
  s->add_option("--credit", sub.credit, "{active, N} credit")
    ->capture_default_str();
  s->add_option("--queue", sub.queue,
                "Messages waiting for credit, at most; beyond it the newest "
                "are dropped and counted")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1}, size_t{1} << 26));
  s->add_option("--nak-attempts", sub.nak_attempts,
                "NAKs for a missing datagram, one every 20 ms, before it is "
                "given up as an unrecoverable gap")
    ->capture_default_str()
    ->check(CLI::Range(1u, 10000u));
  s->add_flag("--latency", sub.latency,
              "Report latency percentiles from pub --stamp's send times");
  s->add_flag("--gro", sub.gro,
              "UDP GRO: read a run of datagrams a --gso publisher sent as "
              "one (see docs/bus.md)");

  stat_options st;
  std::string stat_discovery;
  bool stat_ipv6 = false;
  auto* t = app.add_subcommand(
    "stat", "List the publishers and subscribers announcing themselves");
  t->add_option("--interface,-i", st.interface, "Interface to listen on");
  t->add_option("--duration", st.duration, "Seconds to listen")
    ->capture_default_str();
  t->add_flag("--json", st.json, "One JSON object a line");
  t->add_flag("-6,--ipv6", stat_ipv6,
              "Listen to IPv6's discovery group, [ff18::4d]:24699");
  t->add_option("--discovery", stat_discovery,
                "The discovery group and port, GROUP:PORT or [GROUP]:PORT");

  CLI11_PARSE(app, argc, argv);
  if (p->parsed())
    return run_pub(pub);
  if (s->parsed())
    return run_sub(sub);
  castor::bus::topic_map defaults{stat_ipv6 ? castor::bus::ip_family::v6
                                            : castor::bus::ip_family::v4};
  st.group = defaults.discovery_group();
  st.port = defaults.discovery_port();
  if (!stat_discovery.empty()) {
    auto why = castor::bus::parse_group_port(stat_discovery, st.group, st.port);
    if (!why.empty()) {
      std::cerr << "castor-bus: bad --discovery: " << why << '\n';
      return 2;
    }
  }
  return run_stat(st);
}
