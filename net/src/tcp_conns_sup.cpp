// The connection supervisor of a listener (Ranch's ranch_conns_sup).
//
// It spawns a handler per accepted socket, wraps the socket into a
// connection actor owned by that handler, and monitors both. Connections
// are counted against max_connections; handlers are supervised as
// temporary children (never restarted, stopped with the listener).
//
// Throttling: an acceptor that hands over a socket gets tcp_resume_atom back
// only when a slot was free. At the limit the socket is parked here, the
// acceptor stays silent, and each connection that ends starts one parked
// socket and resumes its acceptor.
//
// Its parent supervisor counts it as a supervisor child, so it answers
// tree_atom like one: a node per handler ("handler <peer>"), with that
// handler's connection as its one child while it runs.

#include <algorithm>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "tcp_listener_shared.hpp"
#include "tcp_session.hpp"
#include <boost/asio/ip/tcp.hpp>
#include <spdlog/spdlog.h>

#include "castor/actors/atoms.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/net/errors.hpp"
#include "castor/net/shard_actor.hpp"

namespace castor::net::detail {

namespace {

using stop_timeout_atom = caf::atom_constant<caf::atom("tcp_stop_t")>;

class conns_sup final : public caf::event_based_actor {
public:
  conns_sup(caf::actor_config& cfg, std::shared_ptr<listener_shared> ctx)
      : caf::event_based_actor(cfg), ctx_(std::move(ctx)) {}

  const char* name() const override { return "castor.tcp_conns_sup"; }

  // Whatever still runs when we end (killed, or the shutdown timeout) goes
  // down with us.
  void on_exit() override {
    caf::error reason = fail_state();
    if (!reason)
      reason = caf::exit_reason::kill;
    for (auto& kv : conns_)
      caf::anon_send(kv.second, caf::exit_msg{caf::actor_addr{}, reason});
    for (auto& kv : handlers_)
      caf::anon_send(kv.second.hdl, caf::exit_msg{caf::actor_addr{}, reason});
    ctx_->connections() -= conns_.size();
    ctx_->parked() -= parked_.size();
    conns_.clear();
    handlers_.clear();
    parked_.clear();
  }

  caf::behavior make_behavior() override {
    set_exit_handler([this](caf::exit_msg& msg) {
      // Our parent stops us with user_shutdown; normal exits of anything
      // linked to us mean nothing here.
      if (msg.reason)
        begin_stop(std::move(msg.reason));
    });
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    return {
      [this](tcp_start_atom, accepted_socket& sock) {
        auto acceptor = caf::actor_cast<caf::actor>(current_sender());
        if (stopping_)
          return; // the socket closes with the message
        if (conns_.size() < ctx_->opts.max_connections) {
          start_connection(sock);
          if (acceptor)
            send(acceptor, tcp_resume_atom::value);
          return;
        }
        parked_.push_back(parked{std::move(sock), std::move(acceptor)});
        ++ctx_->parked();
      },
      [this](stop_timeout_atom) {
        if (!stopping_)
          return;
        spdlog::warn("tcp listener: {} connections ignored shutdown, "
                     "killing them",
                     conns_.size());
        quit(stop_reason_); // on_exit kills the rest
      },
      [this](castor::tree_atom) { return tree(); },
    };
  }

private:
  struct parked {
    accepted_socket sock;
    caf::actor acceptor;
  };

  struct handler_entry {
    caf::actor hdl;
    caf::actor_addr conn;
    tcp_endpoint peer;
  };

  // Our subtree, children in start order (actor ids grow).
  castor::tree_node tree() {
    castor::tree_node node;
    node.id = name();
    node.kind = "supervisor";
    // What it does: temporary children of one kind, started on demand.
    node.strategy = "simple_one_for_one";
    node.state = stopping_ ? "stopping" : "running";
    node.actor_id = id();
    for (auto& kv : handlers_) {
      auto& h = kv.second;
      castor::tree_node child;
      child.id = "handler " + h.peer.address().to_string() + ":"
                 + std::to_string(h.peer.port());
      child.kind = "worker";
      child.state = node.state;
      child.actor_id = h.hdl.id();
      if (auto c = conns_.find(h.conn); c != conns_.end()) {
        castor::tree_node conn;
        conn.id = "connection";
        conn.kind = "worker";
        conn.state = node.state;
        conn.actor_id = c->second.id();
        child.children.emplace_back(std::move(conn));
      }
      node.children.emplace_back(std::move(child));
    }
    std::sort(
      node.children.begin(), node.children.end(),
      [](const auto& x, const auto& y) { return x.actor_id < y.actor_id; });
    return node;
  }

  void start_connection(const accepted_socket& sock) {
    int fd = sock.release();
    if (fd < 0)
      return;
    auto peer = sock.peer();
    auto shards = ctx_->shards.lock();
    if (!shards) {
      ::close(fd); // the io shards are gone: refuse, as a stopped shard does
      return;
    }
    auto& shard = shards->pick();
    caf::actor handler;
    try {
      if (ctx_->shard_handler) {
        auto h =
          spawn_on_shard(system(), shard, [&](caf::actor_companion* self) {
            return ctx_->shard_handler(self, peer);
          });
        if (h)
          handler = std::move(*h);
      } else {
        handler = ctx_->handler(this, peer);
      }
    } catch (const std::exception& e) {
      spdlog::error("tcp listener: handler factory threw: {}", e.what());
    }
    if (!handler) {
      ::close(fd);
      return;
    }
    boost::asio::ip::tcp::socket s{shard.context()};
    boost::system::error_code ec;
    s.assign(ctx_->opts.local.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      spdlog::error("tcp listener: cannot adopt accepted socket: {}",
                    ec.message());
      send_exit(handler, caf::exit_reason::user_shutdown);
      return;
    }
    auto conn = make_connection(
      system(), shard, handler, std::move(s), ctx_->opts.connection,
      [&](const caf::actor& c) {
        // Ranch's handshake: the handler learns its connection before any
        // data can come from it.
        caf::send_as(c, handler, tcp_accepted_atom::value, peer);
      });
    if (!conn) {
      spdlog::error("tcp listener: cannot start connection: {}",
                    describe(conn.error()));
      send_exit(handler, caf::exit_reason::user_shutdown);
      return;
    }
    monitor(conn->actor);
    monitor(handler);
    conns_.emplace(conn->actor.address(), conn->actor);
    handlers_.emplace(handler.address(),
                      handler_entry{handler, conn->actor.address(), peer});
    ++ctx_->connections();
    ++ctx_->accepted();
  }

  void on_down(const caf::down_msg& msg) {
    if (conns_.erase(msg.source) > 0) {
      --ctx_->connections();
      // One slot freed: start one parked socket, wake its acceptor.
      while (!stopping_ && !parked_.empty()
             && conns_.size() < ctx_->opts.max_connections) {
        auto p = std::move(parked_.front());
        parked_.pop_front();
        --ctx_->parked();
        start_connection(p.sock);
        if (p.acceptor)
          send(p.acceptor, tcp_resume_atom::value);
      }
    }
    handlers_.erase(msg.source);
    if (stopping_ && conns_.empty() && handlers_.empty())
      quit(stop_reason_);
  }

  void begin_stop(caf::error reason) {
    if (stopping_)
      return;
    stopping_ = true;
    stop_reason_ = std::move(reason);
    ctx_->parked() -= parked_.size();
    parked_.clear(); // closes their sockets
    if (conns_.empty() && handlers_.empty()) {
      quit(stop_reason_);
      return;
    }
    for (auto& kv : conns_)
      send_exit(kv.second, caf::exit_reason::user_shutdown);
    for (auto& kv : handlers_)
      send_exit(kv.second.hdl, caf::exit_reason::user_shutdown);
    delayed_send(this, ctx_->opts.shutdown, stop_timeout_atom::value);
  }

  std::shared_ptr<listener_shared> ctx_;
  std::unordered_map<caf::actor_addr, caf::actor> conns_;
  std::unordered_map<caf::actor_addr, handler_entry> handlers_;
  std::deque<parked> parked_;
  bool stopping_ = false;
  caf::error stop_reason_;
};

} // namespace

caf::actor spawn_conns_sup(caf::local_actor* parent,
                           std::shared_ptr<listener_shared> ctx) {
  auto hdl = parent->spawn<conns_sup>(ctx);
  ctx->set_conns(hdl);
  return hdl;
}

} // namespace castor::net::detail
