// The supervisor's behavior and its management requests (OTP's
// start_child, terminate_child, restart_child, delete_child,
// which_children, count_children) and the tree dump.

#include <memory>
#include <utility>

#include "supervisor_actor.hpp"

namespace castor::detail {

// Every handler is one call: management requests go through queue() (see
// submit), timers and the rest to the member that handles them.
caf::behavior supervisor_actor::behavior() {
  using self = supervisor_actor;
  return {
    [this](init_atom) { init(); },
    [this](ready_atom) { return on_ready(); },
    [this](start_child_atom, child_spec& spec) {
      return queue(&self::do_start_child, std::move(spec));
    },
    [this](start_child_atom, caf::message& extra) {
      return queue(&self::do_start_dynamic, std::move(extra));
    },
    [this](terminate_child_atom, std::string& id) {
      return queue(&self::do_terminate_id, std::move(id));
    },
    [this](terminate_child_atom, caf::actor& child) {
      return queue(&self::do_terminate_handle, std::move(child));
    },
    [this](restart_child_atom, std::string& id) {
      return queue(&self::do_restart_child, std::move(id));
    },
    [this](delete_child_atom, std::string& id) {
      return queue(&self::do_delete_child, std::move(id));
    },
    [this](which_children_atom) { return which_children(); },
    [this](count_children_atom) { return count_children(); },
    [this](tree_atom) { return collect_tree(); },
    [this](stop_timeout_atom, uint64_t key, uint64_t generation) {
      on_stop_timeout(key, generation);
    },
    [this](restart_timer_atom, uint64_t token) { on_restart_timer(token); },
  };
}

caf::result<caf::ok_atom> supervisor_actor::on_ready() {
  if (started_)
    return caf::ok_atom::value;
  ready_waiters_.emplace_back(make_response_promise());
  return caf::delegated<caf::ok_atom>{};
}

child_record* supervisor_actor::named_child(const std::string& id,
                                            caf::response_promise& rp) {
  if (is_simple()) {
    rp.deliver(caf::error{errc::simple_one_for_one, id});
    return nullptr;
  }
  auto* rec = children_.find_by_id(id);
  if (rec == nullptr)
    rp.deliver(caf::error{errc::not_found, id});
  return rec;
}

void supervisor_actor::do_start_child(child_spec spec,
                                      caf::response_promise rp) {
  if (is_simple()) {
    rp.deliver(caf::error{errc::simple_one_for_one,
                          "start_child takes arguments, not a spec"});
    return;
  }
  std::vector<child_spec> single{spec};
  if (auto err = validate(supervisor_flags{flags_}, single)) {
    rp.deliver(std::move(err));
    return;
  }
  if (auto* existing = children_.find_by_id(spec.id)) {
    if (existing->handle())
      rp.deliver(caf::error{errc::already_started, spec.id});
    else
      rp.deliver(caf::error{errc::already_present, spec.id});
    return;
  }
  auto key = add_record(std::move(spec), caf::message{}).key;
  start_new(key, rp);
}

void supervisor_actor::do_start_dynamic(caf::message extra,
                                        caf::response_promise rp) {
  if (!is_simple()) {
    rp.deliver(caf::error{errc::invalid_argument,
                          "start_child with arguments needs "
                          "simple_one_for_one"});
    return;
  }
  auto spec = template_;
  spec.id = template_.id + "#" + std::to_string(children_.next_key());
  auto key = add_record(std::move(spec), std::move(extra)).key;
  start_new(key, rp);
}

// Starts a just-added record; a failed start forgets it again.
void supervisor_actor::start_new(uint64_t key, caf::response_promise rp) {
  begin_job();
  start_one(key, [this, key, rp](caf::error err) mutable {
    if (err) {
      // The id first: erasing the record frees it.
      auto id = id_of(key);
      children_.erase(key);
      rp.deliver(caf::error{errc::start_failed, std::move(id), describe(err)});
    } else {
      auto* rec = find(key);
      rp.deliver(rec != nullptr ? rec->handle() : caf::actor{});
    }
    end_job();
  });
}

void supervisor_actor::do_terminate_id(std::string id,
                                       caf::response_promise rp) {
  if (auto* rec = named_child(id, rp))
    do_terminate(rec->key, rp);
}

void supervisor_actor::do_terminate_handle(caf::actor child,
                                           caf::response_promise rp) {
  auto* rec = children_.find_by_address(child.address());
  if (rec == nullptr) {
    rp.deliver(caf::error{errc::not_found, "no such child"});
    return;
  }
  do_terminate(rec->key, rp);
}

void supervisor_actor::do_terminate(uint64_t key, caf::response_promise rp) {
  begin_job();
  stop_one(key, [this, key, rp]() mutable {
    if (auto* rec = find(key);
        rec != nullptr
        && (rec->spec.restart == restart_type::temporary || is_simple()))
      children_.erase(key);
    rp.deliver(caf::ok_atom::value);
    end_job();
  });
}

void supervisor_actor::do_restart_child(std::string id,
                                        caf::response_promise rp) {
  auto* rec = named_child(id, rp);
  if (rec == nullptr)
    return;
  switch (rec->state) {
  case child_state::stopped:
    break;
  case child_state::restarting:
    rp.deliver(caf::error{errc::restarting, id});
    return;
  default:
    rp.deliver(caf::error{errc::running, id});
    return;
  }
  auto key = rec->key;
  begin_job();
  start_one(key, [this, key, rp](caf::error err) mutable {
    if (err) {
      rp.deliver(caf::error{errc::start_failed, id_of(key), describe(err)});
    } else {
      auto* r = find(key);
      rp.deliver(r != nullptr ? r->handle() : caf::actor{});
    }
    end_job();
  });
}

void supervisor_actor::do_delete_child(std::string id,
                                       caf::response_promise rp) {
  auto* rec = named_child(id, rp);
  if (rec == nullptr)
    return;
  if (rec->state == child_state::restarting) {
    rp.deliver(caf::error{errc::restarting, id});
    return;
  }
  if (rec->state != child_state::stopped) {
    rp.deliver(caf::error{errc::running, id});
    return;
  }
  children_.erase(rec->key);
  rp.deliver(caf::ok_atom::value);
}

std::vector<child_info> supervisor_actor::which_children() {
  std::vector<child_info> out;
  for (auto& rec : children_) {
    child_info info;
    info.id = rec.spec.id;
    info.handle = rec.handle();
    info.state = to_cstr(rec.state);
    info.type = rec.spec.type;
    info.restarts = rec.restarts;
    out.emplace_back(std::move(info));
  }
  return out;
}

child_counts supervisor_actor::count_children() {
  child_counts counts;
  for (auto& rec : children_) {
    ++counts.specs;
    if (rec.handle() && rec.state == child_state::running)
      ++counts.active;
    if (rec.spec.type == child_type::supervisor)
      ++counts.supervisors;
    else
      ++counts.workers;
  }
  return counts;
}

tree_node supervisor_actor::own_node() {
  tree_node node;
  node.id = flags_.name;
  node.kind = "supervisor";
  node.strategy = to_string(flags_.strategy);
  node.state = shutting_down_ ? "stopping" : started_ ? "running" : "starting";
  node.actor_id = id();
  return node;
}

// Asks every running child supervisor for its subtree; a child that fails
// to answer in time shows with state "unresponsive".
caf::response_promise supervisor_actor::collect_tree() {
  auto rp = make_response_promise();
  auto root = std::make_shared<tree_node>(own_node());
  std::vector<std::pair<size_t, caf::actor>> asks;
  for (auto& rec : children_) {
    tree_node node;
    node.id = rec.spec.id;
    node.kind =
      rec.spec.type == child_type::supervisor ? "supervisor" : "worker";
    node.state = to_cstr(rec.state);
    node.restarts = rec.restarts;
    node.actor_id = rec.handle() ? rec.handle().id() : 0;
    root->children.emplace_back(std::move(node));
    if (rec.spec.type == child_type::supervisor && rec.handle()
        && rec.state == child_state::running)
      asks.emplace_back(root->children.size() - 1, rec.handle());
  }
  if (asks.empty()) {
    rp.deliver(std::move(*root));
    return rp;
  }
  auto remaining = std::make_shared<size_t>(asks.size());
  for (auto& [index, child] : asks) {
    auto finish = [rp, root, remaining]() mutable {
      if (--*remaining == 0)
        rp.deliver(std::move(*root));
    };
    request(child, std::chrono::seconds(5), tree_atom::value)
      .then(
        [root, index{index}, finish](tree_node& sub) mutable {
          auto& node = root->children[index];
          node.strategy = std::move(sub.strategy);
          node.children = std::move(sub.children);
          finish();
        },
        [root, index{index}, finish](caf::error&) mutable {
          root->children[index].state = "unresponsive";
          finish();
        });
  }
  return rp;
}

} // namespace castor::detail
