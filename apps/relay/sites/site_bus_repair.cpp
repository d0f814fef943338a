// The designated local repairer for castor::bus topics across sites
// (site_bus_repair.hpp).

#include "sites/site_bus_repair.hpp"

#include <algorithm>

#include "castor/bus/wire.hpp"

namespace castor::relay::sites {

namespace {

/// Whether session `b` is a later epoch of a publisher than `a` (serial
/// number arithmetic, as the subscriber compares them).
bool newer(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(b - a) > 0;
}

} // namespace

bus_repairer::bus_repairer() : bus_repairer(limits{}) {}

bus_repairer::bus_repairer(limits l)
    : limits_(l),
      // Starts full; a burst below one datagram would never let one go.
      bucket_(l.repair_rate, std::max<uint64_t>(l.repair_burst, l.max_datagram),
              clock::time_point{}) {
  limits_.ring = std::max<std::size_t>(limits_.ring, 1);
  limits_.publishers = std::max<std::size_t>(limits_.publishers, 1);
  limits_.max_per_nak = std::max<uint32_t>(limits_.max_per_nak, 1);
}

void bus_repairer::release(stream& s) {
  for (auto& sl : s.slots) {
    bytes_ -= sl.bytes.capacity();
    sl.bytes = std::vector<uint8_t>{};
    sl.seq = 0;
  }
}

bool bus_repairer::evict_other(const stream* keep) {
  auto oldest = streams_.end();
  for (auto i = streams_.begin(); i != streams_.end(); ++i)
    if (&i->second != keep
        && (oldest == streams_.end() || i->second.heard < oldest->second.heard))
      oldest = i;
  if (oldest == streams_.end())
    return false;
  if (last_ == &oldest->second)
    last_ = nullptr;
  release(oldest->second);
  streams_.erase(oldest);
  return true;
}

bus_repairer::stream* bus_repairer::find(uint64_t origin, uint32_t session,
                                         bool start) {
  auto i = streams_.find(origin);
  if (i != streams_.end()) {
    auto& s = i->second;
    if (s.session == session)
      return &s;
    if (!start || !newer(s.session, session))
      return nullptr;
    // The publisher restarted: its old numbers mean nothing now.
    s.session = session;
    for (auto& sl : s.slots)
      sl.seq = 0;
    s.asked.clear();
    return &s;
  }
  if (!start)
    return nullptr;
  if (streams_.size() >= limits_.publishers)
    evict_other(nullptr);
  auto& s = streams_[origin];
  s.session = session;
  s.slots.resize(limits_.ring);
  return &s;
}

void bus_repairer::keep(const uint8_t* data, std::size_t len) {
  using namespace castor::bus;
  auto h = decode_header(data, len);
  if (!h || h->type != msg_type::data || h->seq == 0)
    return;
  stream* s = nullptr;
  if (last_ != nullptr && last_origin_ == h->origin
      && last_->session == h->session)
    s = last_;
  else {
    s = find(h->origin, h->session, true);
    if (s == nullptr)
      return; // an older session's late datagram
    last_origin_ = h->origin;
    last_ = s;
  }
  s->heard = ++ticks_;
  auto& sl = s->slots[h->seq % s->slots.size()];
  if (sl.seq == h->seq)
    return; // a repair of what is kept already
  if (len > limits_.max_datagram) {
    ++stats_.not_kept;
    return;
  }
  // The ring's first round grows its buffers; later rounds reuse them.
  if (sl.bytes.capacity() < len) {
    auto before = sl.bytes.capacity();
    while (bytes_ + (len - before) > limits_.bytes)
      if (!evict_other(s)) {
        ++stats_.not_kept;
        return;
      }
    sl.bytes.reserve(len);
    bytes_ += sl.bytes.capacity() - before;
  }
  sl.seq = h->seq;
  sl.repaired = {};
  sl.bytes.assign(data, data + len);
  ++stats_.kept;
  if (!s->asked.empty())
    s->asked.erase(h->seq);
}

bool bus_repairer::on_nak(const uint8_t* data, std::size_t len,
                          clock::time_point now, answer& out) {
  using namespace castor::bus;
  out.clear();
  auto h = decode_header(data, len);
  auto count =
    h && h->type == msg_type::nak ? range_count(data, len) : std::nullopt;
  if (!count || h->seq == 0) {
    ++stats_.malformed;
    return false;
  }
  ++stats_.naks;
  auto* s = find(h->origin, h->session, false);
  if (s == nullptr) {
    ++stats_.unknown;
    return true;
  }
  auto n = std::min(*count, limits_.max_per_nak);
  auto first = h->seq;
  auto end = first + n;
  if (end < first) { // wraps: only what fits
    end = ~uint64_t{0};
    n = static_cast<uint32_t>(end - first);
  }
  // Forget upstream asks long past (a range asked again after that is a
  // new loss, or the exporting site's answer was lost too): a scan now
  // and then, and the lowest numbers whenever the map is over its bound.
  auto forget = 64 * limits_.upstream_holdoff;
  if (now - s->pruned_at > forget) {
    s->pruned_at = now;
    for (auto i = s->asked.begin(); i != s->asked.end();)
      i = now - i->second > forget ? s->asked.erase(i) : std::next(i);
  }
  while (s->asked.size() > 16 * std::size_t{limits_.max_per_nak})
    s->asked.erase(s->asked.begin());
  uint64_t run_first = 0;
  uint32_t run_count = 0;
  auto close_run = [&] {
    if (run_count == 0)
      return;
    header nak = *h;
    nak.seq = run_first;
    out.upstream.push_back(make_range(msg_type::nak, nak, run_count));
    ++stats_.upstream;
    run_count = 0;
  };
  for (auto seq = first; seq < end; ++seq) {
    auto& sl = s->slots[seq % s->slots.size()];
    if (sl.seq == seq) {
      close_run();
      if (sl.repaired != clock::time_point{}
          && now - sl.repaired < limits_.repair_holdoff)
        continue;
      if (!bucket_.take(sl.bytes.size(), now)) {
        // Held back: confirmed only this far, so that the subscribers
        // NAK the rest again after their repeat interval.
        ++stats_.limited;
        n = static_cast<uint32_t>(seq - first);
        break;
      }
      sl.repaired = now;
      // Kept as emitted: a repair says so in its header.
      auto kept = *decode_header(sl.bytes.data(), sl.bytes.size());
      kept.flags |= flag_repair;
      encode_header(kept, sl.bytes.data());
      out.repairs.emplace_back(sl.bytes.data(), sl.bytes.size());
      ++stats_.repairs;
      continue;
    }
    auto [at, fresh] = s->asked.emplace(seq, now);
    if (!fresh && now - at->second < limits_.upstream_holdoff) {
      close_run();
      continue;
    }
    at->second = now;
    if (run_count == 0)
      run_first = seq;
    ++run_count;
  }
  close_run();
  if (n > 0) {
    header ncf = *h;
    ncf.type = msg_type::ncf;
    out.ncf = make_range(msg_type::ncf, ncf, n);
  }
  return true;
}

} // namespace castor::relay::sites
