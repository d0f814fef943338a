#include "control/state_dump.hpp"

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "control/castorctl_output.hpp"
#include "control/control_protocol.hpp"
#include "model/atoms.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"

namespace castor::relay {

namespace {

constexpr auto section_timeout = std::chrono::seconds{5};

struct dump_section {
  const char* title;
  control::command command;
  void (*print)(std::ostream&, const nlohmann::json&);
};

using sections_ptr = std::shared_ptr<const std::vector<dump_section>>;

void log_lines(const char* title, const std::string& text) {
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    spdlog::info("dump {}: {}", title, line);
}

/// Asks for section `i`, logs it, then the next one.
void dump_from(caf::event_based_actor* self, caf::actor handler,
               sections_ptr sections, size_t i) {
  if (i == sections->size()) {
    spdlog::info("end of state dump");
    return;
  }
  const auto& section = (*sections)[i];
  auto next = [self, handler, sections, i] {
    dump_from(self, handler, sections, i + 1);
  };
  self
    ->request(handler, section_timeout, control_atom::value,
              control::request{section.command})
    .then(
      [&section, next](control::response& resp) {
        if (!resp.ok) {
          spdlog::warn("dump {}: {}", section.title, resp.error);
        } else {
          std::ostringstream out;
          section.print(out, resp.data);
          log_lines(section.title, out.str());
        }
        next();
      },
      [&section, next](caf::error& err) {
        spdlog::warn("dump {}: no answer: {}", section.title, describe(err));
        next();
      });
}

} // namespace

void dump_state(caf::actor_system& sys, relay_context_ptr ctx) {
  auto handler = ctx->get(relay_role::handler);
  if (!handler) {
    spdlog::warn("state dump: the control handler is not running");
    return;
  }
  static const auto sections =
    std::make_shared<const std::vector<dump_section>>(std::vector<dump_section>{
      {"rules", control::list_cmd{}, control::print_rules},
      {"workers", control::workers_cmd{}, control::print_workers},
      {"peers", control::peers_cmd{}, control::print_peers},
      {"tree", control::tree_cmd{}, control::print_tree},
    });
  spdlog::info("state dump ({} rules)", ctx->rules().rules->size());
  sys.spawn([handler](caf::event_based_actor* self) {
    dump_from(self, handler, sections, 0);
  });
}

} // namespace castor::relay
