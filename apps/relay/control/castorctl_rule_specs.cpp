#include "control/castorctl_rule_specs.hpp"

#include "control/castorctl_transport.hpp"
#include "control/control_protocol.hpp"

namespace castor::relay::castorctl {

using nlohmann::json;
namespace ctl = castor::relay::control;

namespace {

/// Splits at `sep`, except inside brackets: an IPv6 address is written
/// [ADDR] ("eth0:[ff3e::1:1]:5001"), and comes out without them.
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto pos = start;
    if (pos < text.size() && text[pos] == '[') {
      auto close = text.find(']', pos);
      pos = close == std::string::npos ? close : close + 1;
    }
    pos = text.find(sep, pos);
    auto part = text.substr(start, pos - start);
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']')
      part = part.substr(1, part.size() - 2);
    out.push_back(part);
    if (pos == std::string::npos)
      return out;
    start = pos + 1;
  }
}

/// A decimal number for a JSON integer member; strings that are not numbers
/// are an error here, where we can name the flag.
json number(const std::string& flag, const std::string& spec,
            const std::string& what, const std::string& text) {
  if (text.empty() || text.size() > 9
      || text.find_first_not_of("0123456789") != std::string::npos)
    throw usage(flag + " '" + spec + "': " + what + " '" + text
                + "' is not a number");
  return std::stoll(text);
}

/// --in IF:GROUP:PORT[:SOURCE]
json parse_input(const std::string& spec) {
  auto parts = split(spec, ':');
  if (parts.size() < 3 || parts.size() > 4)
    throw usage("--in '" + spec
                + "': expected IF:GROUP:PORT[:SOURCE], "
                  "e.g. eth0:239.1.1.1:5001");
  json in = {{"interface", parts[0]},
             {"group", parts[1]},
             {"port", number("--in", spec, "port", parts[2])}};
  if (parts.size() == 4)
    in["source"] = parts[3];
  return in;
}

/// --out IF:ADDR:PORT[:ttl=N|decrement][:tos=N|preserve][:sport=N]
json parse_output(const std::string& spec) {
  auto parts = split(spec, ':');
  if (parts.size() < 3 || parts.size() > 6)
    throw usage("--out '" + spec
                + "': expected "
                  "IF:ADDR:PORT[:ttl=N|decrement][:tos=N|preserve][:sport=N]"
                  ", e.g. eth1:239.2.2.2:6001:ttl=4");
  json out = {{"interface", parts[0]},
              {"address", parts[1]},
              {"port", number("--out", spec, "port", parts[2])}};
  for (size_t i = 3; i < parts.size(); ++i) {
    auto& opt = parts[i];
    if (opt == std::string{"ttl="} + castor::relay::ttl_decrement_word)
      out["ttl"] = castor::relay::ttl_decrement_word;
    else if (opt.rfind("ttl=", 0) == 0)
      out["ttl"] = number("--out", spec, "ttl", opt.substr(4));
    else if (opt == std::string{"tos="} + castor::relay::tos_preserve_word)
      out["tos"] = castor::relay::tos_preserve_word;
    else if (opt.rfind("tos=", 0) == 0)
      out["tos"] = number("--out", spec, "tos", opt.substr(4));
    else if (opt.rfind("sport=", 0) == 0)
      out["source_port"] = number("--out", spec, "sport", opt.substr(6));
    else
      throw usage("--out '" + spec + "': unknown option '" + opt
                  + "' (expected ttl=N|decrement, tos=N|preserve or "
                    "sport=N)");
  }
  return out;
}

} // namespace

castor::relay::rule make_rule(const std::string& name,
                              const std::string& in_spec,
                              const std::vector<std::string>& out_specs) {
  json rule = {{"name", name},
               {"input", parse_input(in_spec)},
               {"outputs", json::array()}};
  for (auto& spec : out_specs)
    rule["outputs"].push_back(parse_output(spec));
  auto decoded = ctl::rule_from_json(rule);
  if (!decoded)
    throw usage("invalid rule '" + name + "': " + decoded.error);
  return *decoded.value;
}

} // namespace castor::relay::castorctl
