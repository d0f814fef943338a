#include "control/control_connection.hpp"

#include <caf/all.hpp>

#include "control/control_protocol.hpp"
#include "service/logging.hpp"
#include <boost/asio/write.hpp>

namespace castor::relay::detail {

using control::encode_response;
using control::make_error;

std::shared_ptr<spdlog::logger> log() {
  return component_logger("control");
}

rate_limited_log& client_log() {
  static rate_limited_log limited{"control", 1.0, 10};
  return limited;
}

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

void connection::start(caf::weak_actor_ptr client) {
  if (closed_)
    return;
  client_ = std::move(client);
  attached_ = true;
  last_activity_ = clock::now();
  arm_timer(last_activity_ + opts_->idle_timeout);
  process_input();
}

caf::actor connection::client() const {
  return caf::actor_cast<caf::actor>(client_.lock());
}

void connection::arm_read() {
  reading_ = true;
  sock_.async_read_some(
    asio::buffer(buf_),
    [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->on_read(ec, n);
    });
}

void connection::on_read(boost::system::error_code ec, size_t n) {
  reading_ = false;
  if (closed_)
    return;
  if (ec) {
    if (ec != asio::error::eof) {
      close();
      return;
    }
    // The client may half-close after its last request (`nc -N`); its
    // requests are still answered before the connection closes.
    eof_ = true;
    watch_hangup();
  } else {
    in_.append(buf_.data(), n);
  }
  process_input();
}

/// After EOF: a half-closed client still waits for its answers, but one
/// that closed its socket altogether (the usual way to give up) never
/// reads them. The kernel tells the two apart by EPOLLHUP, which only a
/// full close raises; Asio reports it as a wait_error completion (its
/// reactor re-arms the descriptor when the wait starts, so a hangup that
/// came with the EOF is seen too). Closing then ends the client's actor
/// at once instead of when the handler answers.
void connection::watch_hangup() {
  sock_.async_wait(unix_socket::wait_error,
                   [self = shared_from_this()](boost::system::error_code ec) {
                     if (!ec && !self->closed_)
                       self->close();
                   });
}

/// Hands complete lines to the actor while the pipeline has room; reads
/// more when it still has room afterwards.
void connection::process_input() {
  if (closed_ || !attached_)
    return;
  while (!closing_ && in_flight_ < opts_->max_pipelined) {
    auto nl = in_.find('\n');
    if (nl == std::string::npos) {
      if (!eof_ || in_.empty())
        break;
      // At EOF an unterminated last line still counts as a request.
      nl = in_.size();
      in_.push_back('\n');
    }
    std::string line = in_.substr(0, nl);
    in_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.size() > opts_->max_line_bytes) {
      fail("request line of " + std::to_string(line.size())
           + " bytes exceeds the limit of "
           + std::to_string(opts_->max_line_bytes) + " bytes; closing");
      return;
    }
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue; // blank lines are harmless, e.g. from an interactive nc
    auto hdl = client();
    if (!hdl) {
      close();
      return;
    }
    ++in_flight_;
    last_activity_ = clock::now();
    caf::anon_send(hdl, line_atom::value, std::move(line));
  }
  if (closing_)
    return;
  // Without a newline in sight, a line over the limit is refused at once:
  // waiting for the rest of a 100 MiB line would buffer all of it.
  if (in_.size() > opts_->max_line_bytes
      && in_.find('\n') == std::string::npos) {
    fail("request line exceeds the limit of "
         + std::to_string(opts_->max_line_bytes)
         + " bytes without a newline; closing");
    return;
  }
  if (eof_) {
    // No more reads. Lines still buffered wait for pipeline room (each
    // reply calls back here); once all are taken, finish.
    if (in_.empty()) {
      closing_ = true;
      maybe_finish();
    }
    return;
  }
  if (!reading_ && in_flight_ < opts_->max_pipelined)
    arm_read();
}

void connection::on_reply(std::string text) {
  if (closed_)
    return;
  if (in_flight_ > 0)
    --in_flight_;
  last_activity_ = clock::now();
  text.push_back('\n');
  queue(std::move(text));
  if (closed_)
    return;
  if (closing_)
    maybe_finish();
  else
    process_input();
}

/// Ends the session with an error line, after the replies still owed.
void connection::fail(std::string message) {
  closing_ = true;
  pending_error_ = encode_response(make_error(std::move(message))) + "\n";
  maybe_finish();
}

/// Once closing: flush what is owed, then close.
void connection::maybe_finish() {
  if (closed_ || !closing_ || in_flight_ > 0)
    return;
  if (!pending_error_.empty()) {
    queue(std::move(pending_error_));
    pending_error_.clear();
    return; // on_write comes back here
  }
  if (!writing_ && out_.empty())
    close();
}

void connection::queue(std::string text) {
  out_bytes_ += text.size();
  if (out_bytes_ > opts_->max_output_bytes) {
    client_log().warn("control client does not read its replies ({} "
                      "bytes queued, limit {}); closing it",
                      out_bytes_, opts_->max_output_bytes);
    close();
    return;
  }
  out_.push_back(std::move(text));
  if (!writing_)
    write_next();
}

void connection::write_next() {
  writing_ = true;
  write_started_ = clock::now();
  asio::async_write(
    sock_, asio::buffer(out_.front()),
    [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->on_write(ec);
    });
}

void connection::on_write(boost::system::error_code ec) {
  writing_ = false;
  if (closed_)
    return;
  if (ec) {
    close();
    return;
  }
  out_bytes_ -= out_.front().size();
  out_.pop_front();
  last_activity_ = clock::now();
  if (!out_.empty())
    write_next();
  else if (closing_)
    maybe_finish();
}

void connection::arm_timer(clock::time_point when) {
  timer_.expires_at(when);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec)
      self->on_timer();
  });
}

/// One timer covers both limits: a write stuck too long, and no complete
/// request for too long while nothing is owed to the client.
void connection::on_timer() {
  if (closed_)
    return;
  auto now = clock::now();
  if (writing_ && now - write_started_ >= opts_->write_timeout) {
    client_log().warn("control client has not read a reply for {}; "
                      "closing it",
                      seconds_text(opts_->write_timeout));
    close();
    return;
  }
  bool idle = in_flight_ == 0 && !writing_ && out_.empty();
  if (idle && now - last_activity_ >= opts_->idle_timeout) {
    if (closing_) {
      close();
      return;
    }
    fail("no complete request for " + seconds_text(opts_->idle_timeout)
         + "; closing");
    if (closed_)
      return;
    // The farewell line is being written; its own timeout applies.
    last_activity_ = now;
  }
  idle = in_flight_ == 0 && !writing_ && out_.empty();
  auto next =
    idle ? last_activity_ + opts_->idle_timeout : now + opts_->idle_timeout;
  if (writing_)
    next = std::min(next, write_started_ + opts_->write_timeout);
  if (next <= now)
    next = now + std::chrono::milliseconds{1};
  arm_timer(next);
}

void connection::close() {
  if (closed_)
    return;
  auto keep = shared_from_this();
  closed_ = true;
  boost::system::error_code ignored;
  timer_.cancel(ignored);
  sock_.close(ignored);
  out_.clear();
  if (auto hdl = client())
    caf::anon_send(hdl, closed_atom::value);
  client_.reset();
  if (on_closed_)
    on_closed_(this);
}

} // namespace castor::relay::detail
