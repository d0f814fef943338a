// castor-bus pub TOPIC | sub TOPIC | stat: the bus from a shell.
#include <iostream>

#include "commands.hpp"
#include <CLI/CLI.hpp>

using namespace castor_bus_cli;

bool common_options::make_map(castor::bus::topic_map& out) const {
  for (auto& e : map_entries)
    if (!out.parse_entry(e)) {
      std::cerr << "castor-bus: bad --map entry '" << e
                << "' (want TOPIC=GROUP:PORT[,raw])\n";
      return false;
    }
  return true;
}

namespace {

void add_common(CLI::App* cmd, common_options& c) {
  cmd->add_option("topic", c.topic, "The topic")->required();
  cmd->add_option("--map", c.map_entries,
                  "Maps a topic to a group and port: TOPIC=GROUP:PORT[,raw] "
                  "(raw: plain UDP payloads, no bus header)");
  cmd->add_option("--interface,-i", c.interface,
                  "Interface to send and join on (default: the route's)");
  cmd->add_option("--ttl", c.ttl, "Multicast TTL")->capture_default_str();
  cmd
    ->add_option("--announce-ms", c.announce_ms,
                 "Discovery announcement interval, 0 for none")
    ->capture_default_str();
  cmd->add_option("--rcvbuf", c.rcvbuf, "Socket receive buffer in bytes")
    ->capture_default_str();
  cmd->add_option("--sndbuf", c.sndbuf, "Socket send buffer in bytes")
    ->capture_default_str();
  cmd->add_flag("--no-loop", c.no_loop,
                "IP_MULTICAST_LOOP off: this host's subscribers do not hear "
                "what it sends");
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
    ->capture_default_str();
  p->add_option("--linger-ms", pub.linger_ms,
                "Keep answering NAKs this long after the last message")
    ->capture_default_str();
  p->add_option("--batch-us", pub.batch_us, "Batching time bound")
    ->capture_default_str();
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
  s->add_flag("--latency", sub.latency,
              "Report latency percentiles from pub --stamp's send times");

  stat_options st;
  std::vector<std::string> stat_map;
  auto* t = app.add_subcommand(
    "stat", "List the publishers and subscribers announcing themselves");
  t->add_option("--interface,-i", st.interface, "Interface to listen on");
  t->add_option("--duration", st.duration, "Seconds to listen")
    ->capture_default_str();
  t->add_flag("--json", st.json, "One JSON object a line");
  t->add_option("--discovery", stat_map,
                "The discovery group and port, GROUP:PORT");

  CLI11_PARSE(app, argc, argv);
  if (p->parsed())
    return run_pub(pub);
  if (s->parsed())
    return run_sub(sub);
  if (!stat_map.empty()) {
    auto& d = stat_map.front();
    auto colon = d.rfind(':');
    auto group = castor::bus::parse_ipv4(d.substr(0, colon));
    if (colon == std::string::npos || !group) {
      std::cerr << "castor-bus: bad --discovery '" << d << "'\n";
      return 2;
    }
    st.map.set_discovery(
      *group, static_cast<uint16_t>(std::stoul(d.substr(colon + 1))));
  }
  return run_stat(st);
}
