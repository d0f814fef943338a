// ZeroMQ PUB/SUB over epgm from C++ (libzmq's C API): the same peer as
// zmq_epgm.py, without Python's cost per message, so that bench/bus's
// ZeroMQ figures are ZeroMQ's and not the interpreter's.
//
//   zmq_epgm_peer pub IFADDR GROUP:PORT COUNT RATE SIZE
//   zmq_epgm_peer sub IFADDR GROUP:PORT COUNT TIMEOUT
//
// Same messages ("index send_ns", steady clock, padded with spaces to
// SIZE), same pacing (everything due by now, then check the clock again),
// same settings and the same one-line JSON summaries as zmq_epgm.py, so
// run.sh reads either. ZMQ_RATE_KBIT in the environment overrides the rate
// limit (kbit/s) to look for the best the machine allows.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

namespace {

struct settings {
  int rate_kbit = 1000000;
  int recovery_ivl_ms = 2000;
  int sndbuf = 4 << 20;
  int rcvbuf = 4 << 20;
  int hwm = 1000000;

  std::string json() const {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "{\"rate_kbit\": %d, \"recovery_ivl_ms\": %d, \"sndbuf\": "
                  "%d, \"rcvbuf\": %d, \"hwm\": %d}",
                  rate_kbit, recovery_ivl_ms, sndbuf, rcvbuf, hwm);
    return buf;
  }
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
    .count();
}

bool set(void* s, int option, int value, const char* name) {
  if (zmq_setsockopt(s, option, &value, sizeof value) == 0)
    return true;
  std::fprintf(stderr, "zmq_epgm_peer: %s: %s\n", name,
               zmq_strerror(zmq_errno()));
  return false;
}

bool configure(void* s, const settings& st) {
  return set(s, ZMQ_RATE, st.rate_kbit, "ZMQ_RATE")
         && set(s, ZMQ_RECOVERY_IVL, st.recovery_ivl_ms, "ZMQ_RECOVERY_IVL")
         && set(s, ZMQ_SNDBUF, st.sndbuf, "ZMQ_SNDBUF")
         && set(s, ZMQ_RCVBUF, st.rcvbuf, "ZMQ_RCVBUF")
         && set(s, ZMQ_SNDHWM, st.hwm, "ZMQ_SNDHWM")
         && set(s, ZMQ_RCVHWM, st.hwm, "ZMQ_RCVHWM");
}

std::string endpoint(const char* ifaddr, const char* group) {
  return std::string{"epgm://"} + ifaddr + ";" + group;
}

int pub(void* ctx, const settings& st, const char* ifaddr, const char* group,
        long count, double rate, size_t size) {
  void* s = zmq_socket(ctx, ZMQ_PUB);
  if (s == nullptr || !configure(s, st)
      || zmq_connect(s, endpoint(ifaddr, group).c_str()) != 0) {
    std::fprintf(stderr, "zmq_epgm_peer: pub: %s\n", zmq_strerror(zmq_errno()));
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds{1});
  std::vector<char> m(std::max<size_t>(size, 48));
  auto start = std::chrono::steady_clock::now();
  long sent = 0;
  while (sent < count) {
    auto due =
      std::min(count, static_cast<long>(seconds_since(start) * rate) + 1);
    // One clock read for what is due now, as castor-bus pub stamps a batch.
    auto stamp = now_ns();
    for (; sent < due; ++sent) {
      auto* end = std::to_chars(m.data(), m.data() + 20, sent).ptr;
      *end = ' ';
      end = std::to_chars(end + 1, m.data() + m.size(), stamp).ptr;
      auto len = static_cast<size_t>(end - m.data());
      if (len < size)
        std::memset(end, ' ', size - len);
      zmq_send(s, m.data(), std::max(len, size), 0);
    }
  }
  auto elapsed = seconds_since(start);
  std::this_thread::sleep_for(std::chrono::seconds{2});
  std::printf("{\"sent\": %ld, \"seconds\": %.6f, \"settings\": %s}\n", sent,
              elapsed, st.json().c_str());
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_close(s);
  return 0;
}

int sub(void* ctx, const settings& st, const char* ifaddr, const char* group,
        long count, double timeout) {
  void* s = zmq_socket(ctx, ZMQ_SUB);
  if (s == nullptr || !configure(s, st)
      || zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0) != 0
      || zmq_connect(s, endpoint(ifaddr, group).c_str()) != 0) {
    std::fprintf(stderr, "zmq_epgm_peer: sub: %s\n", zmq_strerror(zmq_errno()));
    return 1;
  }
  std::printf("subscribed\n");
  std::fflush(stdout);
  std::vector<int64_t> lat;
  lat.reserve(static_cast<size_t>(std::min<long>(count, long{1} << 25)));
  long received = 0;
  std::vector<char> buf(65536);
  auto begin = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point first{};
  std::chrono::steady_clock::time_point last{};
  zmq_pollitem_t item{s, 0, ZMQ_POLLIN, 0};
  while (received < count && seconds_since(begin) < timeout) {
    if (zmq_poll(&item, 1, 100) <= 0) {
      if (received > 0 && seconds_since(last) > 2.0)
        break;
      continue;
    }
    for (;;) {
      auto n = zmq_recv(s, buf.data(), buf.size(), ZMQ_DONTWAIT);
      if (n < 0)
        break;
      last = std::chrono::steady_clock::now();
      auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 last.time_since_epoch())
                 .count();
      auto len = std::min(static_cast<size_t>(n), buf.size());
      const char* p = buf.data();
      const char* sp = static_cast<const char*>(std::memchr(p, ' ', len));
      int64_t sent = 0;
      if (sp != nullptr)
        std::from_chars(sp + 1, p + len, sent);
      lat.push_back(t - sent);
      ++received;
      if (received == 1)
        first = last;
    }
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) -> long long {
    if (lat.empty())
      return 0;
    auto i = std::min(lat.size() - 1, static_cast<size_t>(q * lat.size()));
    return lat[i] / 1000;
  };
  std::printf("{\"received\": %ld, \"seconds\": %.6f, \"p50_us\": %lld, "
              "\"p99_us\": %lld, \"settings\": %s}\n",
              received,
              received > 0 ? std::chrono::duration<double>(last - first).count()
                           : 0.0,
              pct(0.5), pct(0.99), st.json().c_str());
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_close(s);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  bool is_pub = argc == 7 && std::strcmp(argv[1], "pub") == 0;
  bool is_sub = argc == 6 && std::strcmp(argv[1], "sub") == 0;
  if (!is_pub && !is_sub) {
    std::fprintf(stderr,
                 "usage: zmq_epgm_peer pub IFADDR GROUP:PORT COUNT RATE SIZE\n"
                 "       zmq_epgm_peer sub IFADDR GROUP:PORT COUNT TIMEOUT\n");
    return 2;
  }
  settings st;
  if (const char* r = std::getenv("ZMQ_RATE_KBIT"))
    st.rate_kbit = std::atoi(r);
  void* ctx = zmq_ctx_new();
  auto count = std::atol(argv[4]);
  int rc = is_pub ? pub(ctx, st, argv[2], argv[3], count, std::atof(argv[5]),
                        static_cast<size_t>(std::atol(argv[6])))
                  : sub(ctx, st, argv[2], argv[3], count, std::atof(argv[5]));
  zmq_ctx_term(ctx);
  return rc;
}
