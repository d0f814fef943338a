#include "probe_header.hpp"

#include <ctime>

namespace castor::tools {

namespace {

template <class T>
void put_be(T value, uint8_t* out) noexcept {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out[i] = static_cast<uint8_t>(value >> (8 * (sizeof(T) - 1 - i)));
}

template <class T>
T get_be(const uint8_t* in) noexcept {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    value = static_cast<T>((value << 8) | in[i]);
  return value;
}

} // namespace

void write_probe_header(const probe_header& header, uint8_t* out) noexcept {
  put_be<uint32_t>(probe_magic, out);
  put_be<uint32_t>(header.stream, out + 4);
  put_be<uint64_t>(header.sequence, out + 8);
  put_be<uint64_t>(header.sent_ns, out + 16);
}

std::optional<probe_header> read_probe_header(const uint8_t* data,
                                              std::size_t size) noexcept {
  if (size < probe_header_size || get_be<uint32_t>(data) != probe_magic)
    return std::nullopt;
  return probe_header{get_be<uint32_t>(data + 4), get_be<uint64_t>(data + 8),
                      get_be<uint64_t>(data + 16)};
}

uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u
         + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace castor::tools
