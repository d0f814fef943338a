#include "castor/actors/errors.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

namespace castor {

std::string to_string(errc x) {
  switch (x) {
  case errc::none:
    return "none";
  case errc::not_found:
    return "not_found";
  case errc::running:
    return "running";
  case errc::restarting:
    return "restarting";
  case errc::simple_one_for_one:
    return "simple_one_for_one";
  case errc::already_present:
    return "already_present";
  case errc::already_started:
    return "already_started";
  case errc::invalid_spec:
    return "invalid_spec";
  case errc::start_failed:
    return "start_failed";
  case errc::reached_max_restart_intensity:
    return "reached_max_restart_intensity";
  case errc::shutting_down:
    return "shutting_down";
  case errc::name_taken:
    return "name_taken";
  case errc::invalid_argument:
    return "invalid_argument";
  case errc::auto_shutdown:
    return "auto_shutdown";
  case errc::would_deadlock:
    return "would_deadlock";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

namespace {

std::string name_castor(uint8_t code) {
  return to_string(static_cast<errc>(code));
}

std::string name_exit(uint8_t code) {
  return caf::to_string(static_cast<caf::exit_reason>(code));
}

std::string name_sec(uint8_t code) {
  return caf::to_string(static_cast<caf::sec>(code));
}

struct category {
  std::string prefix;
  error_code_namer name;
  /// CAF renders its own categories; install_error_renderers leaves them.
  bool caf_builtin;
};

// Every category describe() names, keyed by atom. Filled at start-up and
// by register_error_category, read by every describe(): one mutex is cheap
// next to the string building.
class registry {
public:
  static registry& instance() {
    static registry r;
    return r;
  }

  void add(caf::atom_value x, category c) {
    std::lock_guard<std::mutex> guard{mtx_};
    map_[x] = std::move(c);
  }

  std::optional<category> find(caf::atom_value x) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = map_.find(x);
    if (i == map_.end())
      return std::nullopt;
    return i->second;
  }

  std::vector<caf::atom_value> installable() const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<caf::atom_value> out;
    for (auto& [x, c] : map_)
      if (!c.caf_builtin)
        out.push_back(x);
    return out;
  }

private:
  registry() {
    map_[caf::atom("castor")] = {"", name_castor, false};
    map_[caf::atom("exit")] = {"", name_exit, true};
    map_[caf::atom("system")] = {"", name_sec, true};
  }

  mutable std::mutex mtx_;
  std::map<caf::atom_value, category> map_;
};

} // namespace

bool register_error_category(caf::atom_value category, std::string prefix,
                             error_code_namer name) {
  registry::instance().add(category, {std::move(prefix), name, false});
  return true;
}

void install_error_renderers(caf::actor_system_config& cfg) {
  for (auto x : registry::instance().installable())
    cfg.add_error_category(x,
                           [](uint8_t code, caf::atom_value cat,
                              const caf::message& ctx) -> std::string {
                             return describe(caf::error{code, cat, ctx});
                           });
}

std::string context_text(const caf::error& x) {
  const auto& ctx = x.context();
  std::string out;
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (!out.empty())
      out += ": ";
    if (ctx.match_element<std::string>(i))
      out += ctx.get_as<std::string>(i);
    else
      out += ctx.stringify(i);
  }
  return out;
}

std::string describe(const caf::error& x) {
  if (!x)
    return "none";
  auto c = registry::instance().find(x.category());
  if (!c)
    return caf::to_string(x);
  auto name = c->prefix + c->name(x.code());
  auto ctx = context_text(x);
  return ctx.empty() ? name : name + ": " + ctx;
}

std::string describe_exit(const caf::error& reason) {
  return reason ? describe(reason) : "normal";
}

bool is_normal_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal;
}

bool is_shutdown_exit(const caf::error& reason) {
  if (reason == caf::exit_reason::user_shutdown)
    return true;
  if (reason.category() != caf::atom("castor"))
    return false;
  auto code = static_cast<errc>(reason.code());
  return code == errc::auto_shutdown
         || code == errc::reached_max_restart_intensity;
}

} // namespace castor
