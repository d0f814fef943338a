#include "config/config_parser_impl.hpp"

// [node], [[peer]] and the [[rule]] tables that cross sites (issue 17):
// a rule whose input names a peer is an import, one whose outputs name
// peers an export. Both live in daemon_config::sites, apart from the
// ordinary rules, so that the forwarders, the rule store and the control
// protocol never see a rule without an input interface. Groups and
// outputs are IPv4 or IPv6 and may mix families, as in local rules; the
// same validator checks them (scopes never relayed, SSM needs a source).

#include <algorithm>

#include "model/rule_validator.hpp"

namespace castor::relay::detail {

namespace {

bool has_peer_key(const toml::node* n) {
  auto* t = n ? n->as_table() : nullptr;
  return t && (t->contains("peer") || t->contains("peers"));
}

/// Whether a [[rule]] table names peers in its input or its outputs.
bool is_site_rule(const toml::table& t) {
  if (has_peer_key(t.get("input")))
    return true;
  if (auto* outs = t.get("outputs"); outs && outs->is_array())
    for (auto& o : *outs->as_array())
      if (has_peer_key(&o))
        return true;
  return false;
}

bool starts_with(const std::string& x, const char* prefix) {
  return x.rfind(prefix, 0) == 0;
}

} // namespace

std::optional<std::string> parser::site_string(const toml::table& t,
                                               const char* key,
                                               const std::string& part) {
  auto field = part + "." + key;
  auto* n = t.get(key);
  if (!n) {
    error(t, part + ": missing required key '" + key + "'");
    return std::nullopt;
  }
  auto v = get_string(*n, field);
  if (v && v->empty()) {
    error(*n, field + ": must not be empty");
    return std::nullopt;
  }
  return v;
}

std::optional<site_endpoint> parser::site_address(const toml::table& t,
                                                  const char* key,
                                                  const std::string& part) {
  auto v = site_string(t, key, part);
  if (!v)
    return std::nullopt;
  auto ep = site_endpoint::parse(*v);
  if (!ep)
    error(*t.get(key),
          part + "." + key + ": '" + *v + "' is not IPv4:PORT or [IPv6]:PORT");
  return ep;
}

void parser::parse_node(const toml::node& node) {
  auto* t = as_table(node, "node");
  if (!t)
    return;
  check_keys(*t, "node", {"name", "listen", "tls", "insecure"});
  node_settings out;
  auto name = site_string(*t, "name", "node");
  auto listen = site_address(*t, "listen", "node");
  bool ok = name && listen;
  if (ok) {
    out.name = *name;
    out.listen = *listen;
  }
  if (auto* n = t->get("insecure"))
    if (auto v = get_bool(*n, "node.insecure"))
      out.insecure = *v;
  if (auto* n = t->get("tls")) {
    if (out.insecure) {
      error(*n, "node.tls: not allowed with insecure = true");
      ok = false;
    } else if (auto* tls = as_table(*n, "node.tls")) {
      check_keys(*tls, "node.tls", {"cert", "key", "ca"});
      auto file = [&](const char* key, std::string& dst) {
        if (auto v = site_string(*tls, key, "node.tls"))
          dst = *v;
        else
          ok = false;
      };
      file("cert", out.tls_cert);
      file("key", out.tls_key);
      file("ca", out.tls_ca);
    } else
      ok = false;
  } else if (!out.insecure) {
    error(*t, "node: missing required key 'tls' (mutual TLS is the "
              "default; plaintext needs insecure = true)");
    ok = false;
  }
  if (ok)
    result_.config.sites.node = std::move(out);
}

void parser::parse_peers(const toml::node& node) {
  auto* arr = node.as_array();
  if (!arr) {
    error(node, std::string{"peer: expected an array of tables ([[peer]]), "
                            "found "}
                  + type_name(node.type()));
    return;
  }
  auto& peers = result_.config.sites.peers;
  for (auto& elem : *arr) {
    auto* t = as_table(elem, "peer");
    if (!t)
      continue;
    check_keys(*t, "peer", {"name", "address"});
    peer_settings p;
    auto name = site_string(*t, "name", "peer");
    auto address = site_address(*t, "address", "peer");
    if (name && result_.config.sites.find_peer(*name)) {
      error(*t->get("name"), "peer.name: '" + *name + "' is listed twice");
      name.reset();
    }
    bool ok = name && address;
    if (ok) {
      p.name = *name;
      p.address = *address;
      peers.push_back(std::move(p));
    }
  }
}

bool parser::parse_site_rule(const toml::table& t) {
  if (!is_site_rule(t))
    return false;
  decoded_rule d;
  d.where[""] = t.source().begin;
  check_keys(t, "rule", {"name", "input", "outputs"});
  std::string name;
  if (auto* n = t.get("name")) {
    d.where["name"] = n->source().begin;
    if (auto v = get_string(*n, "name"))
      name = *v;
    else
      d.fail("name");
  } else {
    error(t, "rule: missing required key 'name'");
    d.fail("name");
  }
  auto taken = [&](const std::string& x) {
    return std::find(site_rule_names_.begin(), site_rule_names_.end(), x)
             != site_rule_names_.end()
           || std::any_of(checked_.begin(), checked_.end(),
                          [&](const rule& r) { return r.name == x; });
  };
  if (!name.empty() && taken(name)) {
    error(d.position("name"),
          "name: a rule named '" + name + "' is already defined");
    d.fail("name");
  }
  auto reference = [&](const toml::node& where, const std::string& field,
                       const std::string& peer) {
    peer_refs_.push_back(peer_reference{file_index_, file_,
                                        where.source().begin,
                                        "rule '" + name + "': " + field, peer});
  };
  // Checks of the whole-rule validator that apply: those of `prefix`.
  auto validate = [&](const rule& r, const char* prefix) {
    for (auto& issue : validate_rule(r))
      if ((starts_with(issue.field, prefix) || issue.field == "name")
          && !d.masked(issue.field)) {
        error(d.position(issue.field), to_string(issue));
        d.ok = false;
      }
  };
  auto* input = t.get("input");
  auto* outputs = t.get("outputs");
  if (!input || !outputs) {
    error(t, std::string{"rule: missing required key '"}
               + (input ? "outputs" : "input") + "'");
    return true;
  }
  if (has_peer_key(input)) {
    // An import: the peer's group, emitted on local interfaces.
    site_import imp;
    imp.name = name;
    auto& in = *input->as_table();
    d.where["input"] = in.source().begin;
    check_keys(in, "input", {"peer", "group", "port", "repair"});
    decode_string(in, "peer", "input.peer", "input", imp.peer, d);
    if (auto* p = in.get("peer"); p && !d.masked("input.peer"))
      reference(*p, "input.peer", imp.peer);
    decode_address(in, "group", "input.group", "input", imp.group, d);
    decode_int(in, "port", "input.port", "input", true, check_port, imp.port,
               d);
    if (auto* r = in.get("repair")) {
      auto v = r->value<std::string>();
      if (v && (*v == "bus" || *v == "none"))
        imp.bus_repair = *v == "bus";
      else {
        error(*r, "input.repair: expected \"bus\" (this site repairs the "
                  "castor::bus topics on the group for its subscribers) or "
                  "\"none\"");
        d.ok = false;
      }
    }
    if (auto* arr = outputs->as_array())
      for (size_t i = 0; i < arr->size(); ++i)
        if (has_peer_key(arr->get(i))) {
          error(*arr->get(i), "outputs[" + std::to_string(i)
                                + "]: a rule whose input is a peer emits on "
                                  "interfaces only; what came from a peer is "
                                  "never sent on to peers");
          d.fail("outputs");
        }
    if (!d.masked("outputs"))
      decode_outputs(*outputs, d);
    // The validator sees the import as a rule on a placeholder interface.
    d.value.name = name;
    d.value.input.interface = "peer";
    d.value.input.group = imp.group;
    d.value.input.port = imp.port;
    validate(d.value, "outputs");
    // The group as the exporting site sends it: multicast of a scope that
    // is relayed. An SSM group (ff3x::/32) needs no source here: the
    // exporting site's rule joined it with one; an import only names it.
    if (auto err = check_relayed_group(imp.group);
        err && !d.masked("input.group")) {
      error(d.position("input.group"), "input.group: " + *err);
      d.ok = false;
    }
    imp.outputs = d.value.outputs;
    if (!name.empty())
      site_rule_names_.push_back(name);
    if (d.ok)
      result_.config.sites.imports.push_back(std::move(imp));
    return true;
  }
  // An export: a local group, sent to peers.
  site_export exp;
  exp.name = name;
  decode_input(*input, d);
  auto* arr = outputs->as_array();
  if (!arr || arr->empty()) {
    error(*outputs, "outputs: expected a non-empty array of tables");
    return true;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    auto part = "outputs[" + std::to_string(i) + "]";
    auto* o = arr->get(i)->as_table();
    if (!has_peer_key(o)) {
      error(*arr->get(i), part
                            + ": a rule that sends to peers has peer "
                              "outputs only; send the same input to "
                              "interfaces with a second rule");
      d.ok = false;
      continue;
    }
    check_keys(*o, part, {"peer", "peers", "spread"});
    if (auto* p = o->get("peer")) {
      if (auto v = get_string(*p, part + ".peer")) {
        reference(*p, part + ".peer", *v);
        exp.peers.push_back(*v);
      } else
        d.ok = false;
    }
    if (auto* ps = o->get("peers")) {
      auto* list = ps->as_array();
      if (!list || list->empty()) {
        error(*ps, part + ".peers: expected a non-empty array of peer names");
        d.ok = false;
      } else
        for (size_t k = 0; k < list->size(); ++k) {
          auto field = part + ".peers[" + std::to_string(k) + "]";
          if (auto v = get_string(*list->get(k), field)) {
            reference(*list->get(k), field, *v);
            exp.peers.push_back(*v);
          } else
            d.ok = false;
        }
    }
    if (auto* s = o->get("spread")) {
      auto v = get_string(*s, part + ".spread");
      if (v && *v == "log")
        exp.spread = site_spread::log;
      else if (v && *v != "all") {
        error(*s, part + ".spread: '" + *v
                    + "' is neither \"all\" nor "
                      "\"log\"");
        d.ok = false;
      } else if (!v)
        d.ok = false;
    }
  }
  auto sorted = exp.peers;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    error(*outputs, "outputs: a peer is listed twice");
    d.ok = false;
  }
  d.value.name = name;
  validate(d.value, "input");
  exp.input = d.value.input;
  if (!name.empty())
    site_rule_names_.push_back(name);
  if (d.ok)
    result_.config.sites.exports.push_back(std::move(exp));
  return true;
}

void parser::check_site_references() {
  auto& sites = result_.config.sites;
  auto report = [&](const peer_reference& r, std::string msg) {
    errors_.push_back(
      indexed_error{r.file_index, config_error{r.file, r.pos.line, r.pos.column,
                                               std::move(msg)}});
  };
  for (auto& r : peer_refs_) {
    if (!sites.node)
      report(r, r.field + ": rules that name peers need a [node]");
    else if (r.peer == sites.node->name)
      report(r, r.field + ": '" + r.peer + "' is this node's own name");
    else if (!sites.find_peer(r.peer))
      report(r, r.field + ": unknown peer '" + r.peer
                  + "' (no [[peer]] has that name)");
  }
  // The data socket is bound on `listen`: it reaches peers of its family.
  if (sites.node)
    for (auto& p : sites.peers)
      if (p.address.v6 != sites.node->listen.v6)
        error(toml::source_position{1, 1},
              "peer '" + p.name + "': address " + p.address.to_string()
                + " is not of node.listen's address family ("
                + sites.node->listen.to_string() + ")");
  if (!sites.node && !sites.peers.empty())
    error(toml::source_position{1, 1}, "[[peer]] needs a [node]");
  if (sites.node && sites.find_peer(sites.node->name))
    error(toml::source_position{1, 1},
          "peer.name: '" + sites.node->name + "' is this node's own name");
}

} // namespace castor::relay::detail
