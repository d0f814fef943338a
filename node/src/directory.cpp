#include "directory.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"

namespace castor::node::detail {

namespace {

using self_ptr = caf::stateful_actor<directory_state>*;

/// True for a message that came over BASP: peers may only say hello and
/// look up names.
bool from_peer(self_ptr self) {
  auto& src = self->current_sender();
  return src && src->node() != self->node();
}

void notify(self_ptr self, const caf::message& msg) {
  for (auto& s : self->state.subscribers)
    self->send(s, msg);
}

/// Looks the watched name up on its peer, and tells the subscriber.
void resolve(self_ptr self, watch_entry& w) {
  auto i = self->state.peers.find(w.peer);
  if (i == self->state.peers.end())
    return;
  auto gen = ++w.generation;
  auto sub = w.subscriber;
  auto peer = w.peer;
  auto name = w.name;
  auto find = [self, sub, peer, name, gen]() -> watch_entry* {
    for (auto& x : self->state.watches)
      if (x.subscriber == sub && x.peer == peer && x.name == name
          && x.generation == gen)
        return &x;
    return nullptr;
  };
  self
    ->request(i->second.remote, self->state.lookup_timeout, whereis_atom::value,
              name)
    .then(
      [self, find](caf::actor& remote) {
        auto* w = find();
        if (w == nullptr || !remote)
          return;
        w->current = remote;
        self->monitor(remote);
        self->send(w->subscriber, name_up_atom::value, w->peer, w->name,
                   remote);
      },
      [self, find](caf::error& err) {
        auto* w = find();
        if (w == nullptr)
          return;
        spdlog::warn("node {}: watch of {} on {}: {}", self->state.node_name,
                     w->name, w->peer, describe(err));
        self->send(w->subscriber, name_down_atom::value, w->peer, w->name, err);
      });
}

void unresolve(self_ptr self, watch_entry& w, const caf::error& reason) {
  if (!w.current)
    return;
  w.current = nullptr;
  ++w.generation;
  self->send(w.subscriber, name_down_atom::value, w.peer, w.name, reason);
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  // A peer actor ended: its node is down (it reconnects under its
  // supervisor and says peer_up again).
  for (auto i = st.peers.begin(); i != st.peers.end();) {
    if (i->second.peer_actor != dm.source) {
      ++i;
      continue;
    }
    auto peer = i->first;
    i = st.peers.erase(i);
    caf::error reason = dm.reason;
    if (!reason || is_clean_exit(reason)) {
      // Our own stop (the peer supervisor ends its children).
      reason = caf::make_error(errc::not_connected, peer);
      spdlog::info("node {}: peer {} closed", st.node_name, peer);
    } else {
      spdlog::warn("node {}: peer {} down: {}", st.node_name, peer,
                   describe(reason));
    }
    for (auto& w : st.watches)
      if (w.peer == peer)
        unresolve(self, w, reason);
    notify(self, caf::make_message(node_down_atom::value, peer, reason));
  }
  // A watched remote actor ended, or its connection went.
  for (auto& w : st.watches)
    if (w.current && w.current.address() == dm.source)
      unresolve(self, w, dm.reason);
  // A subscriber ended: forget it and its watches.
  auto gone = [&](const caf::actor& x) { return x.address() == dm.source; };
  st.subscribers.erase(
    std::remove_if(st.subscribers.begin(), st.subscribers.end(), gone),
    st.subscribers.end());
  st.watches.erase(
    std::remove_if(st.watches.begin(), st.watches.end(),
                   [&](const watch_entry& w) { return gone(w.subscriber); }),
    st.watches.end());
  // A published actor ended: its name goes.
  for (auto i = st.published.begin(); i != st.published.end();)
    i = gone(i->second) ? st.published.erase(i) : std::next(i);
}

caf::error refused(self_ptr self, const char* what) {
  spdlog::warn("node {}: refused {} from a peer", self->state.node_name, what);
  return caf::make_error(errc::not_allowed, what);
}

} // namespace

caf::behavior directory(self_ptr self, std::string node_name,
                        std::chrono::milliseconds lookup_timeout) {
  self->state.node_name = std::move(node_name);
  self->state.lookup_timeout = lookup_timeout;
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  return {
    // -- what peers may ask ---------------------------------------------------
    [self](hello_atom,
           const std::string& peer) -> caf::result<hello_atom, std::string> {
      spdlog::info("node {}: hello from {}", self->state.node_name, peer);
      return {hello_atom::value, self->state.node_name};
    },
    [self](whereis_atom, const std::string& name) -> caf::result<caf::actor> {
      auto i = self->state.published.find(name);
      if (i == self->state.published.end())
        return caf::make_error(castor::errc::not_found, name);
      return i->second;
    },
    // -- local only -----------------------------------------------------------
    [self](caf::publish_atom, const std::string& name,
           const caf::actor& whom) -> caf::result<caf::ok_atom> {
      if (from_peer(self))
        return refused(self, "publish");
      if (name.empty() || !whom)
        return caf::make_error(castor::errc::invalid_argument, name);
      auto& pub = self->state.published;
      if (auto i = pub.find(name); i != pub.end() && i->second != whom)
        return caf::make_error(castor::errc::name_taken, name);
      pub[name] = whom;
      self->monitor(whom);
      return caf::ok_atom::value;
    },
    [self](caf::unpublish_atom,
           const std::string& name) -> caf::result<caf::ok_atom> {
      if (from_peer(self))
        return refused(self, "unpublish");
      if (self->state.published.erase(name) == 0)
        return caf::make_error(castor::errc::not_found, name);
      return caf::ok_atom::value;
    },
    [self](whereis_atom, const std::string& peer,
           const std::string& name) -> caf::result<caf::actor> {
      if (from_peer(self))
        return refused(self, "whereis on a third node");
      auto i = self->state.peers.find(peer);
      if (i == self->state.peers.end())
        return caf::make_error(errc::not_connected, peer);
      auto rp = self->make_response_promise<caf::actor>();
      self
        ->request(i->second.remote, self->state.lookup_timeout,
                  whereis_atom::value, name)
        .then([rp](caf::actor& x) mutable { rp.deliver(std::move(x)); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](subscribe_atom, const caf::actor& who) -> caf::result<caf::ok_atom> {
      if (from_peer(self))
        return refused(self, "subscribe");
      if (!who)
        return caf::make_error(castor::errc::invalid_argument, "subscriber");
      self->monitor(who);
      self->state.subscribers.push_back(who);
      for (auto& p : self->state.peers)
        self->send(who, node_up_atom::value, p.first);
      return caf::ok_atom::value;
    },
    [self](watch_atom, const caf::actor& who, const std::string& peer,
           const std::string& name) -> caf::result<caf::ok_atom> {
      if (from_peer(self))
        return refused(self, "watch");
      if (!who || peer.empty() || name.empty())
        return caf::make_error(castor::errc::invalid_argument, "watch");
      self->monitor(who);
      self->state.watches.push_back(watch_entry{who, peer, name, {}, 0});
      resolve(self, self->state.watches.back());
      return caf::ok_atom::value;
    },
    [self](peers_atom) -> caf::result<std::vector<std::string>> {
      if (from_peer(self))
        return refused(self, "peers");
      std::vector<std::string> up;
      for (auto& p : self->state.peers)
        up.push_back(p.first);
      return up;
    },
    // -- from the node's peer actors --------------------------------------------
    [self](peer_up_atom, const std::string& peer, const caf::actor& remote) {
      if (from_peer(self))
        return;
      auto src = caf::actor_cast<caf::actor>(self->current_sender());
      if (!src)
        return;
      self->monitor(src);
      self->state.peers[peer] = peer_entry{src.address(), remote};
      spdlog::info("node {}: peer {} up", self->state.node_name, peer);
      for (auto& w : self->state.watches)
        if (w.peer == peer)
          resolve(self, w);
      notify(self, caf::make_message(node_up_atom::value, peer));
    },
  };
}

} // namespace castor::node::detail
