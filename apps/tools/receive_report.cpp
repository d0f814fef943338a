#include "receive_report.hpp"

#include <algorithm>
#include <cstdio>

namespace castor::tools {

namespace {

double microseconds(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

stream_row row_of(uint32_t id, const stream_accounting& s, uint64_t expected) {
  const auto& lat = s.latency();
  return stream_row{id,
                    s.received(),
                    s.lost(expected),
                    s.duplicates(),
                    s.reordered(),
                    lat.percentile(0.50),
                    lat.percentile(0.99),
                    lat.max()};
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

} // namespace

void receive_report::record(uint32_t stream, uint64_t sequence,
                            uint64_t latency_ns, uint64_t now_ns) {
  if (datagrams_ == 0)
    first_ns_ = now_ns;
  last_ns_ = now_ns;
  ++datagrams_;
  streams_[stream].record(sequence, latency_ns);
}

bool receive_report::complete(const expectation& expect) const noexcept {
  if (expect.streams == 0 || expect.per_stream == 0
      || streams_.size() < expect.streams)
    return false;
  uint32_t done = 0;
  for (const auto& [id, s] : streams_)
    if (s.received() >= expect.per_stream)
      ++done;
  return done >= expect.streams;
}

std::vector<stream_row> receive_report::rows(const expectation& expect) const {
  std::vector<stream_row> out;
  out.reserve(streams_.size());
  for (const auto& [id, s] : streams_)
    out.push_back(row_of(id, s, expect.per_stream));
  std::sort(out.begin(), out.end(),
            [](const auto& x, const auto& y) { return x.stream < y.stream; });
  return out;
}

report_totals receive_report::totals(const expectation& expect) const {
  report_totals t;
  latency_histogram all;
  for (const auto& [id, s] : streams_) {
    auto row = row_of(id, s, expect.per_stream);
    t.all.received += row.received;
    t.all.lost += row.lost;
    t.all.duplicates += row.duplicates;
    t.all.reordered += row.reordered;
    t.out_of_range += s.out_of_range();
    all.merge(s.latency());
  }
  t.all.stream = static_cast<uint32_t>(streams_.size());
  if (expect.streams > streams_.size()) {
    t.missing_streams = expect.streams - static_cast<uint32_t>(streams_.size());
    t.all.lost += uint64_t{t.missing_streams} * expect.per_stream;
  }
  t.all.p50_ns = all.percentile(0.50);
  t.all.p99_ns = all.percentile(0.99);
  t.all.max_ns = all.max();
  t.foreign = foreign_;
  t.seconds = static_cast<double>(last_ns_ - first_ns_) * 1e-9;
  t.pps = t.seconds > 0 ? static_cast<double>(datagrams_) / t.seconds : 0;
  return t;
}

std::string receive_report::table(const expectation& expect) const {
  std::string out;
  char line[256];
  auto put = [&](const std::string& name, const stream_row& r) {
    std::snprintf(line, sizeof(line),
                  "%-8s %10llu %8llu %6llu %8llu %10s %10s %10s\n",
                  name.c_str(), static_cast<unsigned long long>(r.received),
                  static_cast<unsigned long long>(r.lost),
                  static_cast<unsigned long long>(r.duplicates),
                  static_cast<unsigned long long>(r.reordered),
                  fixed(microseconds(r.p50_ns), 1).c_str(),
                  fixed(microseconds(r.p99_ns), 1).c_str(),
                  fixed(microseconds(r.max_ns), 1).c_str());
    out += line;
  };
  std::snprintf(line, sizeof(line), "%-8s %10s %8s %6s %8s %10s %10s %10s\n",
                "stream", "received", "lost", "dup", "reorder", "p50_us",
                "p99_us", "max_us");
  out += line;
  for (const auto& r : rows(expect))
    put(std::to_string(r.stream), r);
  auto t = totals(expect);
  put("total", t.all);
  if (t.missing_streams > 0)
    out += "missing streams: " + std::to_string(t.missing_streams) + "\n";
  return out;
}

std::string receive_report::summary_line(const expectation& expect) const {
  auto t = totals(expect);
  return "summary streams=" + std::to_string(t.all.stream)
         + " missing_streams=" + std::to_string(t.missing_streams)
         + " received=" + std::to_string(t.all.received)
         + " lost=" + std::to_string(t.all.lost)
         + " duplicates=" + std::to_string(t.all.duplicates)
         + " reordered=" + std::to_string(t.all.reordered)
         + " foreign=" + std::to_string(t.foreign)
         + " p50_us=" + fixed(microseconds(t.all.p50_ns), 1)
         + " p99_us=" + fixed(microseconds(t.all.p99_ns), 1)
         + " max_us=" + fixed(microseconds(t.all.max_ns), 1)
         + " seconds=" + fixed(t.seconds, 3) + " pps=" + fixed(t.pps, 0);
}

nlohmann::json receive_report::to_json(const expectation& expect) const {
  auto row_json = [](const stream_row& r) {
    return nlohmann::json{{"received", r.received},
                          {"lost", r.lost},
                          {"duplicates", r.duplicates},
                          {"reordered", r.reordered},
                          {"latency_us",
                           {{"p50", microseconds(r.p50_ns)},
                            {"p99", microseconds(r.p99_ns)},
                            {"max", microseconds(r.max_ns)}}}};
  };
  auto streams = nlohmann::json::array();
  for (const auto& r : rows(expect)) {
    auto j = row_json(r);
    j["stream"] = r.stream;
    streams.push_back(std::move(j));
  }
  auto t = totals(expect);
  auto total = row_json(t.all);
  total["streams"] = t.all.stream;
  total["missing_streams"] = t.missing_streams;
  total["foreign"] = t.foreign;
  total["out_of_range"] = t.out_of_range;
  total["seconds"] = t.seconds;
  total["pps"] = t.pps;
  return nlohmann::json{{"streams", std::move(streams)},
                        {"total", std::move(total)}};
}

} // namespace castor::tools
