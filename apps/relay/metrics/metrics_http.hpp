#pragma once

// The HTTP side of /metrics: civetweb on threads of its own, answering
// GET and HEAD /metrics with the text `render` returns and
// `Content-Type: text/plain; version=0.0.4; charset=utf-8`; any other path
// is 404.
//
// Why not prometheus::Exposer: it adds families of its own to every scrape
// (exposer_scrapes_total, and exposer_request_latencies, a summary in
// microseconds without our prefix, which breaks Prometheus's naming rules:
// one application prefix, base units) and answers with a Content-Type
// that lacks `version=0.0.4`. prometheus-cpp's core still builds the families and the
// text (metrics_families.hpp); civetweb is what the Exposer uses anyway.

#include <functional>
#include <memory>
#include <string>

struct mg_context;
struct mg_connection;

namespace castor::relay {

/// A parsed [metrics] listen address (sockaddr storage and its length).
struct socket_address;

class metrics_http_server {
public:
  /// Called on a civetweb thread for each scrape; must be thread-safe.
  using render_fn = std::function<std::string()>;

  /// Listens on `listen` (HOST:PORT, IPv6 in brackets). On failure `error`
  /// says why, naming the address and the `[metrics] listen` option.
  static std::unique_ptr<metrics_http_server>
  open(const std::string& listen, render_fn render, std::string& error);

  /// Stops the server: closes the socket and joins civetweb's threads.
  ~metrics_http_server();

  metrics_http_server(const metrics_http_server&) = delete;
  metrics_http_server& operator=(const metrics_http_server&) = delete;

private:
  explicit metrics_http_server(render_fn render);
  static int handle(mg_connection* conn, void* self);

  render_fn render_;
  mg_context* ctx_ = nullptr;
  /// Where the server listens, to wake it on stop (see the destructor).
  std::unique_ptr<socket_address> address_;
};

} // namespace castor::relay
