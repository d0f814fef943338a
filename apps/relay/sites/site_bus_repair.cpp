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

bus_repairer::bus_repairer(limits l) : limits_(l) {
  limits_.ring = std::max<std::size_t>(limits_.ring, 1);
  limits_.publishers = std::max<std::size_t>(limits_.publishers, 1);
  limits_.max_per_nak = std::max<uint32_t>(limits_.max_per_nak, 1);
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
  if (streams_.size() >= limits_.publishers) {
    auto oldest =
      std::min_element(streams_.begin(), streams_.end(), [](auto& x, auto& y) {
        return x.second.heard < y.second.heard;
      });
    if (last_ == &oldest->second)
      last_ = nullptr;
    streams_.erase(oldest);
  }
  auto& s = streams_[origin];
  s.session = session;
  s.slots.resize(limits_.ring);
  return &s;
}

void bus_repairer::keep(const uint8_t* data, std::size_t len) {
  using namespace castor::bus;
  // Most datagrams of a bus topic are data: check the type byte before
  // decoding the rest.
  if (len <= header_size || data[3] != static_cast<uint8_t>(msg_type::data))
    return;
  auto h = decode_header(data, len);
  if (!h || h->seq == 0)
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
  sl.seq = h->seq;
  sl.repaired = {};
  sl.bytes.assign(data, data + len); // the slot's buffer is reused
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
  // Forget upstream asks long past: a range asked again after this is a
  // new loss, or the exporting site's answer was lost too.
  for (auto i = s->asked.begin(); i != s->asked.end();)
    if (now - i->second > 64 * limits_.upstream_holdoff
        || s->asked.size() > 16 * limits_.max_per_nak)
      i = s->asked.erase(i);
    else
      ++i;
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
      sl.repaired = now;
      // The flags are bytes 4-5, big-endian: flag_repair is in byte 5.
      sl.bytes[5] |= static_cast<uint8_t>(flag_repair);
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
  header ncf = *h;
  ncf.type = msg_type::ncf;
  out.ncf = make_range(msg_type::ncf, ncf, n);
  return true;
}

} // namespace castor::relay::sites
