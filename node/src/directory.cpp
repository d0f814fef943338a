#include "directory.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>

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

/// A new connection to `peer` (or none): what was in flight is gone with
/// the old one.
void reset_flow(self_ptr self, const std::string& peer) {
  auto i = self->state.flows.find(peer);
  if (i == self->state.flows.end())
    return;
  i->second.counters.in_flight = 0;
  i->second.since_ack = 0;
  ++i->second.epoch;
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
    reset_flow(self, peer);
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

/// Sends what fits within the peer's bound; drops and counts the rest.
void cast(self_ptr self, const std::string& peer, const caf::actor& target,
          std::vector<caf::message>& msgs) {
  auto& st = self->state;
  auto& f = st.flows[peer];
  f.counters.peer = peer;
  auto i = st.peers.find(peer);
  for (auto& msg : msgs) {
    if (i == st.peers.end() || !target
        || f.counters.in_flight >= st.max_in_flight) {
      ++f.counters.dropped;
      continue;
    }
    target->enqueue(caf::make_mailbox_element(
                      self->ctrl(), caf::make_message_id(), {}, std::move(msg)),
                    self->context());
    ++f.counters.sent;
    ++f.counters.in_flight;
    if (++f.since_ack < st.ack_every)
      continue;
    // The peer's node answers once everything before it on this
    // connection has arrived there.
    auto n = f.since_ack;
    f.since_ack = 0;
    self->request(i->second.remote, caf::infinite, ack_atom::value, n)
      .then(
        [self, peer, epoch = f.epoch](uint64_t acked) {
          auto& fl = self->state.flows[peer];
          if (fl.epoch == epoch)
            fl.counters.in_flight -= std::min(acked, fl.counters.in_flight);
        },
        [](caf::error&) {}); // the connection went: reset_flow did it
  }
}

} // namespace

caf::behavior directory(self_ptr self, std::string node_name,
                        std::chrono::milliseconds lookup_timeout,
                        uint64_t max_in_flight, uint64_t ack_every) {
  self->state.node_name = std::move(node_name);
  self->state.lookup_timeout = lookup_timeout;
  self->state.max_in_flight = max_in_flight;
  self->state.ack_every = ack_every;
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
    [](ack_atom, uint64_t n) { return n; },
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
    [self](cast_atom, const std::string& peer, const caf::actor& target,
           caf::message& msg) {
      if (from_peer(self))
        return;
      std::vector<caf::message> one{std::move(msg)};
      cast(self, peer, target, one);
    },
    [self](cast_atom, const std::string& peer, const caf::actor& target,
           std::vector<caf::message>& msgs) {
      if (!from_peer(self))
        cast(self, peer, target, msgs);
    },
    [self](flows_atom) -> caf::result<std::vector<peer_flow>> {
      if (from_peer(self))
        return refused(self, "flows");
      std::vector<peer_flow> rows;
      for (auto& f : self->state.flows)
        rows.push_back(f.second.counters);
      return rows;
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
      reset_flow(self, peer);
      spdlog::info("node {}: peer {} up", self->state.node_name, peer);
      for (auto& w : self->state.watches)
        if (w.peer == peer)
          resolve(self, w);
      notify(self, caf::make_message(node_up_atom::value, peer));
    },
  };
}

} // namespace castor::node::detail
