#include "castor/bus/publisher_core.hpp"

#include <algorithm>

namespace castor::bus {

publisher_core::publisher_core(publisher_config cfg, time_point now)
    : cfg_(cfg), ring_(cfg.ring_datagrams, cfg.ring_bytes),
      repaired_at_(std::max<size_t>(cfg.ring_datagrams, 1)),
      hb_interval_(cfg.heartbeat_max), next_hb_(now) {
  if (cfg_.max_datagram < header_size + message_overhead + 1)
    cfg_.max_datagram = header_size + message_overhead + 1;
  if (cfg_.max_datagram > 65507)
    cfg_.max_datagram = 65507;
  // A bucket smaller than a datagram would never repair anything.
  if (cfg_.repair_rate > 0 && cfg_.repair_burst < cfg_.max_datagram)
    cfg_.repair_burst = cfg_.max_datagram;
  repair_bucket_ = token_bucket{cfg_.repair_rate, cfg_.repair_burst, now};
}

header publisher_core::make_header(msg_type type) const noexcept {
  header h;
  h.type = type;
  h.origin = cfg_.origin;
  h.session = cfg_.session;
  h.topic = cfg_.topic_hash;
  return h;
}

void publisher_core::open_batch(time_point now) {
  if (batch_.capacity() == 0 && !spare_.empty()) {
    batch_ = std::move(spare_.back());
    spare_.pop_back();
  }
  batch_.clear();
  batch_.reserve(cfg_.max_datagram);
  batch_.resize(header_size);
  count_ = 0;
  batch_opened_ = now;
}

bool publisher_core::publish(const uint8_t* data, size_t size, time_point now,
                             datagrams& out) {
  if (size > max_message()) {
    ++stats_.oversize;
    return false;
  }
  if (batch_full_for(size))
    flush(now, out);
  if (count_ == 0)
    open_batch(now);
  batch_.push_back(static_cast<uint8_t>(size >> 8));
  batch_.push_back(static_cast<uint8_t>(size));
  batch_.insert(batch_.end(), data, data + size);
  ++count_;
  ++stats_.messages;
  if (cfg_.max_delay <= duration::zero())
    flush(now, out);
  return true;
}

size_t publisher_core::publish(const message_pack& pack, time_point now,
                               datagrams& out) {
  if (cfg_.max_delay <= duration::zero()) {
    // A datagram a message: nothing to gain from runs.
    size_t taken = 0;
    pack.for_each([&](const uint8_t* data, size_t size) {
      taken += publish(data, size, now, out) ? 1 : 0;
    });
    return taken;
  }
  const auto* rec = pack.records();
  const auto* end = rec + pack.records_size();
  size_t taken = 0;
  while (rec < end) {
    auto size = message_length(rec);
    if (size > max_message()) {
      ++stats_.oversize;
      rec += message_overhead + size;
      continue;
    }
    if (batch_full_for(size))
      flush(now, out);
    if (count_ == 0)
      open_batch(now);
    // The run: this record and those after it that still fit, copied as
    // they are (a pack's records are the datagram's).
    const auto* run = rec;
    auto room = cfg_.max_datagram - batch_.size();
    size_t run_bytes = 0;
    uint16_t n = 0;
    while (rec < end && count_ + n < UINT16_MAX) {
      auto len = message_length(rec);
      if (len > max_message() || run_bytes + message_overhead + len > room)
        break;
      run_bytes += message_overhead + len;
      rec += message_overhead + len;
      ++n;
    }
    batch_.insert(batch_.end(), run, run + run_bytes);
    count_ = static_cast<uint16_t>(count_ + n);
    stats_.messages += n;
    taken += n;
  }
  return taken;
}

void publisher_core::flush(time_point now, datagrams& out) {
  if (count_ == 0)
    return;
  auto h = make_header(msg_type::data);
  h.count = count_;
  h.seq = next_seq_++;
  encode_header(h, batch_.data());
  ++stats_.datagrams;
  stats_.bytes += batch_.size();
  repaired_at_[h.seq % repaired_at_.size()] = time_point{};
  ring_.push(h.seq, batch_);
  out.push_back(std::move(batch_));
  batch_ = {};
  count_ = 0;
  // Data went out: the next heartbeat comes soon, then backs off.
  hb_interval_ = cfg_.heartbeat_min;
  next_hb_ = now + hb_interval_;
}

void publisher_core::tick(time_point now, datagrams& out) {
  if (count_ > 0 && now - batch_opened_ >= cfg_.max_delay)
    flush(now, out);
  if (now >= next_hb_) {
    out.push_back(heartbeat());
    hb_interval_ = std::min(hb_interval_ * 2, cfg_.heartbeat_max);
    next_hb_ = now + hb_interval_;
  }
}

time_point publisher_core::next_wakeup() const noexcept {
  if (count_ > 0)
    return std::min(next_hb_, batch_opened_ + cfg_.max_delay);
  return next_hb_;
}

std::vector<uint8_t> publisher_core::heartbeat() {
  ++stats_.heartbeats;
  auto h = make_header(msg_type::heartbeat);
  h.seq = next_seq_;
  return make_heartbeat(h, ring_.empty() ? next_seq_ : ring_.trail());
}

nak_answer publisher_core::on_nak(const header& nak, uint32_t count,
                                  time_point now) {
  nak_answer ans;
  if (nak.origin != cfg_.origin || nak.session != cfg_.session
      || nak.topic != cfg_.topic_hash || count == 0)
    return ans;
  ++stats_.naks;
  // Never beyond what was sent.
  auto first = nak.seq;
  auto end = std::min(first + count, next_seq_);
  if (first >= end)
    return ans;
  bool gone = false;
  auto seq = first;
  for (; seq < end; ++seq) {
    if (ans.repairs.size() >= cfg_.max_repairs_per_nak) {
      ++stats_.naks_capped;
      break;
    }
    auto* dg = ring_.find(seq);
    if (dg == nullptr) {
      ++stats_.unavailable;
      gone = true;
      continue;
    }
    auto& at = repaired_at_[seq % repaired_at_.size()];
    if (at != time_point{} && now - at < cfg_.repair_holdoff) {
      ++stats_.repairs_held;
      continue;
    }
    if (!repair_bucket_.take(dg->size(), now)) {
      stats_.repairs_limited += end - seq;
      ++stats_.naks_limited;
      break;
    }
    at = now;
    auto copy = *dg;
    auto flags = static_cast<uint16_t>((copy[4] << 8) | copy[5]) | flag_repair;
    copy[4] = static_cast<uint8_t>(flags >> 8);
    copy[5] = static_cast<uint8_t>(flags);
    ++stats_.repairs;
    ans.repairs.push_back(std::move(copy));
  }
  // Confirm what this answer covers, no more: other subscribers missing
  // the rest must still NAK it.
  if (seq > first) {
    auto h = make_header(msg_type::ncf);
    h.seq = first;
    ans.ncf = make_range(msg_type::ncf, h, static_cast<uint32_t>(seq - first));
  }
  if (gone)
    ans.unavailable = heartbeat();
  return ans;
}

void publisher_core::add_spare_buffers(
  std::vector<std::vector<uint8_t>>& bufs) {
  for (auto& b : bufs)
    if (spare_.size() < max_spare && b.capacity() >= cfg_.max_datagram
        && b.capacity() <= 2 * cfg_.max_datagram)
      spare_.push_back(std::move(b));
  bufs.clear();
}

} // namespace castor::bus
