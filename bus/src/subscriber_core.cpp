#include "castor/bus/subscriber_core.hpp"

#include <algorithm>
#include <optional>

namespace castor::bus {

namespace {

/// Serial-number order of sessions (RFC 1982): b is newer than a.
bool newer_session(uint32_t a, uint32_t b) noexcept {
  return static_cast<int32_t>(b - a) > 0;
}

/// Spreads small seeds (minstd_rand's first draws from 1, 2, 3... are
/// close together) and keeps 0 out, which minstd_rand does not take.
uint32_t mix(uint32_t seed) noexcept {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  auto x = static_cast<uint32_t>((z ^ (z >> 31)) % 2147483646u);
  return x + 1;
}

} // namespace

subscriber_core::subscriber_core(subscriber_config cfg)
    : cfg_(cfg), rng_(mix(cfg.seed)) {
  if (cfg_.window == 0)
    cfg_.window = 1;
}

uint64_t subscriber_core::next_of(uint64_t origin) const noexcept {
  auto i = streams_.find(origin);
  return i == streams_.end() ? 0 : i->second.next;
}

duration subscriber_core::backoff() {
  auto max = cfg_.nak_backoff_max.count();
  if (max <= 0)
    return duration::zero();
  std::uniform_int_distribution<duration::rep> pick{0, max - 1};
  return duration{pick(rng_)};
}

std::optional<header> subscriber_core::on_datagram(const uint8_t* data,
                                                   size_t size, time_point now,
                                                   subscriber_output& out) {
  auto h = decode_header(data, size);
  if (!h) {
    ++stats_.malformed;
    return std::nullopt;
  }
  if (h->topic != cfg_.topic_hash) {
    ++stats_.foreign;
    return std::nullopt;
  }
  switch (h->type) {
  case msg_type::data:
    if (!for_each_message(data, size, h->count,
                          [](const uint8_t*, size_t) {})) {
      ++stats_.malformed;
      return std::nullopt;
    }
    on_data(*h, data, size, now, out);
    break;
  case msg_type::heartbeat: {
    auto trail = heartbeat_trail(data, size);
    if (!trail) {
      ++stats_.malformed;
      return std::nullopt;
    }
    on_heartbeat(*h, *trail, now, out);
    break;
  }
  case msg_type::ncf: {
    auto count = range_count(data, size);
    if (!count) {
      ++stats_.malformed;
      return std::nullopt;
    }
    on_ncf(*h, *count, now);
    break;
  }
  case msg_type::nak:
  case msg_type::announce:
  case msg_type::announce_v2:
    break;
  }
  return h;
}

subscriber_core::stream* subscriber_core::find_or_start(const header& h,
                                                        time_point now,
                                                        bool may_start) {
  auto i = streams_.find(h.origin);
  if (i != streams_.end() && i->second.session == h.session) {
    i->second.heard = now;
    return &i->second;
  }
  if (!may_start
      || (i != streams_.end() && !newer_session(i->second.session, h.session)))
    return nullptr;
  // Late join (or a restarted publisher): start from live, or from the
  // session's first datagram if it is young. A heartbeat's seq is the next
  // to be sent, a datagram's its own: either way [1, seq) came before. The
  // caller's extend() then marks them missing.
  stream s;
  s.session = h.session;
  s.next = s.lead = h.seq;
  if (h.seq > 1 && h.seq - 1 <= cfg_.join_recovery)
    s.next = s.lead = 1;
  s.heard = now;
  ++stats_.streams;
  auto& slot = streams_[h.origin];
  slot = std::move(s);
  return &slot;
}

void subscriber_core::on_data(const header& h, const uint8_t* data, size_t size,
                              time_point now, subscriber_output& out) {
  bool repair = (h.flags & flag_repair) != 0;
  auto* s = find_or_start(h, now, !repair);
  if (s == nullptr)
    return;
  ++stats_.datagrams;
  if (repair)
    ++stats_.repairs;
  if (h.seq < s->next) {
    ++stats_.duplicates;
    return;
  }
  if (h.seq == s->next && s->next == s->lead) {
    // In order, nothing outstanding: the fast path.
    deliver(h.origin, h.seq, h.count, data, size, out);
    s->next = s->lead = h.seq + 1;
    return;
  }
  if (h.seq >= s->lead)
    extend(h.origin, *s, h.seq + 1, now, out);
  auto i = s->slots.find(h.seq);
  if (i == s->slots.end()) {
    ++stats_.duplicates;
    return;
  }
  switch (i->second.state) {
  case slot_state::held:
    ++stats_.duplicates;
    return;
  case slot_state::lost:
    ++stats_.late;
    return;
  case slot_state::missing:
    break;
  }
  if (h.seq == s->next) {
    s->slots.erase(i);
    deliver(h.origin, h.seq, h.count, data, size, out);
    ++s->next;
    drain(h.origin, *s, out);
  } else {
    i->second.state = slot_state::held;
    i->second.data.assign(data, data + size);
  }
}

void subscriber_core::on_heartbeat(const header& h, uint64_t trail,
                                   time_point now, subscriber_output& out) {
  auto* s = find_or_start(h, now, true);
  if (s == nullptr)
    return;
  if (h.seq > s->lead)
    extend(h.origin, *s, h.seq, now, out); // loss at the tail
  if (trail > s->next) {
    // The publisher no longer holds anything before `trail`.
    for (auto i = s->slots.begin(); i != s->slots.end() && i->first < trail;
         ++i)
      if (i->second.state == slot_state::missing)
        i->second.state = slot_state::lost;
    drain(h.origin, *s, out);
  }
}

void subscriber_core::on_ncf(const header& h, uint32_t count, time_point now) {
  auto i = streams_.find(h.origin);
  if (i == streams_.end() || i->second.session != h.session)
    return;
  auto& slots = i->second.slots;
  for (auto j = slots.lower_bound(h.seq);
       j != slots.end() && j->first < h.seq + count; ++j) {
    auto& sl = j->second;
    if (sl.state != slot_state::missing)
      continue;
    if (sl.attempts == 0)
      ++stats_.suppressed; // ours was not sent yet: it never will be
    sl.due = std::max(sl.due, now + cfg_.nak_repeat);
  }
}

void subscriber_core::extend(uint64_t origin, stream& s, uint64_t end,
                             time_point now, subscriber_output& out) {
  if (end <= s.lead)
    return;
  if (end - s.next > cfg_.window) {
    // What does not fit the window is given up, oldest first.
    auto keep_from = end - cfg_.window;
    drain(origin, s, out, std::min(keep_from, s.lead));
    if (keep_from > s.next) {
      // Never seen at all: one notice for the whole run.
      out.gaps.push_back({origin, s.next, keep_from - 1});
      ++stats_.gaps;
      stats_.lost += keep_from - s.next;
      s.next = s.lead = keep_from;
    }
  }
  auto due = now + backoff();
  for (auto seq = s.lead; seq < end; ++seq) {
    auto& sl = s.slots[seq];
    sl.state = slot_state::missing;
    sl.due = due;
  }
  if (end > s.lead)
    next_due_ = std::min(next_due_, due);
  s.lead = end;
}

void subscriber_core::deliver(uint64_t origin, uint64_t seq, uint16_t count,
                              const uint8_t* data, size_t size,
                              subscriber_output& out) {
  uint16_t index = 0;
  for_each_message(data, size, count, [&](const uint8_t* p, size_t n) {
    out.add(origin, seq, index++, p, n);
  });
  stats_.messages += count;
}

void subscriber_core::drain(uint64_t origin, stream& s, subscriber_output& out,
                            uint64_t until) {
  std::optional<gap_notice> gap;
  auto emit_gap = [&] {
    if (gap) {
      out.gaps.push_back(*gap);
      ++stats_.gaps;
      gap.reset();
    }
  };
  while (!s.slots.empty() && s.slots.begin()->first == s.next) {
    auto i = s.slots.begin();
    auto& sl = i->second;
    if (sl.state == slot_state::missing) {
      if (s.next >= until)
        break;
      sl.state = slot_state::lost;
    }
    if (sl.state == slot_state::lost) {
      ++stats_.lost;
      if (gap)
        gap->last = s.next;
      else
        gap = gap_notice{origin, s.next, s.next};
    } else {
      emit_gap();
      auto h = decode_header(sl.data.data(), sl.data.size());
      deliver(origin, s.next, h ? h->count : 0, sl.data.data(), sl.data.size(),
              out);
    }
    s.slots.erase(i);
    ++s.next;
  }
  emit_gap();
}

void subscriber_core::tick(time_point now, subscriber_output& out) {
  // The earliest NAK due after this tick, found on the way.
  auto next = time_point::max();
  for (auto i = streams_.begin(); i != streams_.end();) {
    auto origin = i->first;
    auto& s = i->second;
    if (now - s.heard > cfg_.stream_timeout) {
      i = streams_.erase(i);
      continue;
    }
    bool gave_up = false;
    std::optional<nak_request> range;
    auto emit_range = [&] {
      if (range) {
        out.naks.push_back(*range);
        ++stats_.naks;
        range.reset();
      }
    };
    for (auto& [seq, sl] : s.slots) {
      if (sl.state != slot_state::missing || sl.due > now) {
        if (sl.state == slot_state::missing)
          next = std::min(next, sl.due);
        emit_range();
        continue;
      }
      if (sl.attempts >= cfg_.nak_attempts) {
        sl.state = slot_state::lost;
        gave_up = true;
        emit_range();
        continue;
      }
      ++sl.attempts;
      sl.due = now + cfg_.nak_repeat;
      next = std::min(next, sl.due);
      if (range && range->first + range->count == seq)
        ++range->count;
      else {
        emit_range();
        range = nak_request{origin, s.session, seq, 1};
      }
    }
    emit_range();
    if (gave_up)
      drain(origin, s, out);
    ++i;
  }
  next_due_ = next;
}

time_point subscriber_core::next_wakeup() const noexcept {
  return next_due_;
}

} // namespace castor::bus
