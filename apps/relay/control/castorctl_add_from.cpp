#include "control/castorctl_add_from.hpp"

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "control/castorctl_rule_specs.hpp"
#include "control/castorctl_transport.hpp"

namespace castor::relay::castorctl {

namespace ctl = castor::relay::control;

void print_refusal(const ctl::response& reply) {
  std::cerr << "castorctl: " << reply.error << "\n";
  if (auto errs = reply.data.find("errors");
      errs != reply.data.end() && errs->is_array())
    for (auto& e : *errs)
      std::cerr << "  " << (e.is_string() ? e.get<std::string>() : e.dump())
                << "\n";
}

namespace {

/// Rules per `add` request of --from: a request line must stay under the
/// daemon's max_line_bytes (64 KiB); a rule with one output is ~200 bytes.
constexpr size_t rules_per_request = 200;

} // namespace

int add_from(const std::string& socket_path, const std::string& file,
             std::chrono::seconds timeout) {
  std::ifstream named;
  if (file != "-") {
    named.open(file);
    if (!named)
      throw usage("--from: cannot read " + file);
  }
  std::istream& in = file == "-" ? std::cin : named;
  std::vector<castor::relay::rule> rules;
  std::string text;
  for (size_t line = 1; std::getline(in, text); ++line) {
    std::istringstream words{text};
    std::vector<std::string> w;
    for (std::string x; words >> x;)
      w.push_back(x);
    if (w.empty() || w[0][0] == '#')
      continue;
    if (w.size() < 3)
      throw usage(file + ":" + std::to_string(line)
                  + ": expected NAME IN OUT [OUT...]");
    try {
      rules.push_back(make_rule(w[0], w[1], {w.begin() + 2, w.end()}));
    } catch (const failure& f) {
      throw usage(file + ":" + std::to_string(line) + ": " + f.message);
    }
  }
  if (rules.empty())
    throw usage("--from: no rules in " + file);
  size_t added = 0;
  for (size_t i = 0; i < rules.size(); i += rules_per_request) {
    ctl::add_rules_cmd chunk;
    chunk.rules.assign(rules.begin() + static_cast<std::ptrdiff_t>(i),
                       rules.begin()
                         + static_cast<std::ptrdiff_t>(
                           std::min(rules.size(), i + rules_per_request)));
    auto reply = ctl::decode_response(
      exchange(socket_path, ctl::encode_request({chunk}), timeout));
    if (!reply.ok) {
      print_refusal(reply);
      std::cerr << "castorctl: " << added << " of " << rules.size()
                << " rules were added before this\n";
      return 1;
    }
    added += chunk.rules.size();
  }
  std::cout << "added " << added << " rules\n";
  return 0;
}

} // namespace castor::relay::castorctl
