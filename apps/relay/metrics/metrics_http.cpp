#include "metrics/metrics_http.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <utility>

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace castor::relay {

struct socket_address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

namespace {

/// `listen` as HOST:PORT, IPv6 in brackets (the config parser checked it).
std::optional<socket_address> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return std::nullopt;
  auto host = listen.substr(0, colon);
  auto port = static_cast<uint16_t>(std::stoul(listen.substr(colon + 1)));
  socket_address out;
  if (host.size() > 2 && host.front() == '[') {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(),
                  &a->sin6_addr)
        != 1)
      return std::nullopt;
    out.length = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&out.storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1)
      return std::nullopt;
    out.length = sizeof(*a);
  }
  return out;
}

/// Why `listen` cannot be bound. civetweb only reports that it failed, so
/// bind a socket the same way and report errno ("Address already in use").
std::string why_bind_fails(const std::string& listen) {
  auto addr = parse_listen(listen);
  if (!addr)
    return "not HOST:PORT with an IP address";
  int fd = ::socket(addr->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return std::string{"socket: "} + std::strerror(errno);
  int one = 1; // as civetweb does
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  std::string why = "the HTTP server could not use it";
  if (::bind(fd, addr->get(), addr->length) != 0)
    why = std::strerror(errno);
  ::close(fd);
  return why;
}

/// Opens and closes a connection to our own listening socket, which makes
/// civetweb's master thread return from poll(). The address is local, so
/// connect() is immediate; the send timeout bounds it all the same.
void poke(const socket_address& addr) {
  int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  timeval limit{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  static_cast<void>(::connect(fd, addr.get(), addr.length));
  ::close(fd);
}

} // namespace

metrics_http_server::metrics_http_server(render_fn render)
    : render_(std::move(render)) {}

std::unique_ptr<metrics_http_server>
metrics_http_server::open(const std::string& listen, render_fn render,
                          std::string& error) {
  std::unique_ptr<metrics_http_server> server{
    new metrics_http_server(std::move(render))};
  // Two request threads: a scrape only copies finished text. A client that
  // stalls is dropped after request_timeout_ms instead of holding a thread
  // (civetweb's default would start 50 threads and wait 30 s).
  const char* options[] = {
    "listening_ports",    listen.c_str(), "num_threads", "2",
    "request_timeout_ms", "5000",         nullptr};
  mg_callbacks callbacks{};
  server->ctx_ = mg_start(&callbacks, nullptr, options);
  if (server->ctx_ == nullptr) {
    error = "metrics: cannot listen on " + listen
            + " ([metrics] listen): " + why_bind_fails(listen);
    return nullptr;
  }
  mg_set_request_handler(server->ctx_, "/metrics", &metrics_http_server::handle,
                         server.get());
  if (auto addr = parse_listen(listen))
    server->address_ = std::make_unique<socket_address>(*addr);
  return server;
}

metrics_http_server::~metrics_http_server() {
  if (ctx_ == nullptr)
    return;
  // civetweb 1.15's master thread sees the stop flag only when its poll()
  // on the listening socket returns, up to 2 s later (mg_stop took 1.5 s
  // on an idle server, and delayed every relay's exit by as much). A
  // connection wakes it at once; poke until mg_stop has returned, since a
  // poke that comes before the flag is set is simply served.
  auto stopped = std::async(std::launch::async, [ctx = ctx_] { mg_stop(ctx); });
  while (stopped.wait_for(std::chrono::milliseconds{20})
         != std::future_status::ready)
    if (address_ != nullptr)
      poke(*address_);
}

int metrics_http_server::handle(mg_connection* conn, void* self) {
  const auto* req = mg_get_request_info(conn);
  const bool head = std::strcmp(req->request_method, "HEAD") == 0;
  if (!head && std::strcmp(req->request_method, "GET") != 0) {
    mg_printf(conn, "HTTP/1.1 405 Method Not Allowed\r\n"
                    "Allow: GET, HEAD\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n");
    return 405;
  }
  const auto body = static_cast<metrics_http_server*>(self)->render_();
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: %zu\r\n"
            "Connection: close\r\n\r\n",
            body.size());
  if (!head)
    mg_write(conn, body.data(), body.size());
  return 200;
}

} // namespace castor::relay
