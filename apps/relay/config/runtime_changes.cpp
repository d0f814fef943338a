#include "config/runtime_changes.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "config/config_parser.hpp"
#include "config/config_writer.hpp"
#include "model/rule_validator.hpp"
#include <sys/stat.h>
#include <toml++/toml.h>

namespace castor::relay {

namespace {

/// Rules by name: 10,000 rules (issue 15) must not cost 10,000^2 compares.
class by_name {
public:
  explicit by_name(const std::vector<rule>& rules) {
    index_.reserve(rules.size());
    for (const auto& r : rules)
      index_.emplace(r.name, &r);
  }

  const rule* find(const std::string& name) const {
    auto i = index_.find(name);
    return i == index_.end() ? nullptr : i->second;
  }

private:
  std::unordered_map<std::string, const rule*> index_;
};

} // namespace

runtime_changes diff_runtime(const std::vector<rule>& file,
                             const std::vector<rule>& running) {
  runtime_changes out;
  const by_name file_rules{file}, running_rules{running};
  for (const auto& f : file) {
    const auto* now = running_rules.find(f.name);
    if (now == nullptr || !(*now == f))
      out.removed.push_back(f);
  }
  for (const auto& r : running) {
    const auto* was = file_rules.find(r.name);
    if (was == nullptr || !(*was == r))
      out.added.push_back(r);
  }
  return out;
}

applied_runtime apply_runtime(const std::vector<rule>& file,
                              const runtime_changes& changes) {
  applied_runtime out;
  const by_name removed{changes.removed};
  std::unordered_map<std::string, size_t> added_at;
  for (size_t i = 0; i < changes.added.size(); ++i)
    added_at.emplace(changes.added[i].name, i);
  std::vector<bool> placed(changes.added.size(), false);
  // The file's rules, those removed at runtime left out while the file
  // still defines them as they were; a runtime replacement in its place.
  std::unordered_set<std::string> names;
  for (const auto& f : file) {
    const auto* gone = removed.find(f.name);
    if (gone == nullptr || !(*gone == f)) {
      if (gone != nullptr)
        out.dropped.push_back(f.name
                              + ": removed at runtime, but the config file "
                                "changed it since; the file's rule runs");
      out.rules.push_back(f);
      names.insert(f.name);
      continue;
    }
    if (auto i = added_at.find(f.name); i != added_at.end()) {
      out.rules.push_back(changes.added[i->second]);
      out.kept.push_back(f.name);
      names.insert(f.name);
      placed[i->second] = true;
    }
  }
  // Inputs taken, for the clash check (find_conflicts would scan all).
  std::unordered_set<std::string> inputs;
  for (const auto& r : out.rules)
    inputs.insert(to_string(r.input));
  for (size_t i = 0; i < changes.added.size(); ++i) {
    if (placed[i])
      continue;
    const auto& r = changes.added[i];
    if (names.count(r.name) != 0) {
      // Said once per name: the loop above may have named it already.
      if (removed.find(r.name) == nullptr)
        out.dropped.push_back(r.name
                              + ": added at runtime, but the config file "
                                "now defines a rule of that name; the "
                                "file's rule runs");
      continue;
    }
    if (inputs.count(to_string(r.input)) != 0) {
      out.dropped.push_back(r.name
                            + ": added at runtime, but it clashes with the "
                              "config file (its input "
                            + to_string(r.input)
                            + " is another rule's); the file's rule runs");
      continue;
    }
    out.rules.push_back(r);
    out.kept.push_back(r.name);
    names.insert(r.name);
    inputs.insert(to_string(r.input));
  }
  return out;
}

std::string write_runtime_changes(const runtime_changes& changes,
                                  const std::string& config_file) {
  std::ostringstream os;
  os << "# castor-relay's runtime changes to " << config_file
     << ",\n"
        "# written by castor-relay after every `castorctl add` or `remove`\n"
        "# and read at its start on top of that file (castor-relay(8),\n"
        "# RUNTIME STATE). [[rule]]: added at runtime; [[removed]]: the\n"
        "# file's rules removed at runtime. Edit the config file, not this.\n";
  for (const auto& r : changes.added)
    os << write_rule_table(r, "rule");
  for (const auto& r : changes.removed)
    os << write_rule_table(r, "removed");
  return os.str();
}

runtime_changes_result parse_runtime_changes(const std::string& text,
                                             const std::string& name) {
  runtime_changes_result out;
  toml::table doc;
  try {
    doc = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << name << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": " << e.description();
    out.errors.push_back(os.str());
    return out;
  }
  for (auto&& [key, value] : doc)
    if (key.str() != "rule" && key.str() != "removed")
      out.errors.push_back(name + ": unknown key '" + std::string{key.str()}
                           + "' (expected rule or removed)");
  // Each array through the config parser's rule checks, as the only
  // [[rule]] tables of a document.
  auto rules_of = [&](const char* key, std::vector<rule>& into) {
    auto* array = doc[key].as_array();
    if (array == nullptr) {
      if (doc.contains(key))
        out.errors.push_back(name + ": " + key + ": expected tables");
      return;
    }
    toml::table part;
    part.insert("rule", *array);
    std::ostringstream os;
    os << part;
    auto parsed = parse_config_string(os.str(), name);
    for (const auto& e : parsed.errors)
      out.errors.push_back(name + ": [[" + key + "]]: " + e.message);
    into = std::move(parsed.config.rules);
  };
  rules_of("rule", out.changes.added);
  rules_of("removed", out.changes.removed);
  if (!out.errors.empty())
    out.changes = {};
  return out;
}

std::optional<runtime_changes_result>
read_runtime_changes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT)
    return std::nullopt;
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    runtime_changes_result out;
    out.errors.push_back(path + ": cannot read: " + std::strerror(errno));
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_runtime_changes(text.str(), path);
}

} // namespace castor::relay
