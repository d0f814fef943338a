#include "sites/site_frame.hpp"

#include <cstring>
#include <unordered_map>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace castor::relay::sites {

namespace {

void put16(std::vector<uint8_t>& b, uint16_t x) {
  b.push_back(static_cast<uint8_t>(x >> 8));
  b.push_back(static_cast<uint8_t>(x));
}

void put32(std::vector<uint8_t>& b, uint32_t x) {
  put16(b, static_cast<uint16_t>(x >> 16));
  put16(b, static_cast<uint16_t>(x));
}

void put64(std::vector<uint8_t>& b, uint64_t x) {
  put32(b, static_cast<uint32_t>(x >> 32));
  put32(b, static_cast<uint32_t>(x));
}

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

uint32_t get32(const uint8_t* p) {
  return (static_cast<uint32_t>(get16(p)) << 16) | get16(p + 2);
}

uint64_t get64(const uint8_t* p) {
  return (static_cast<uint64_t>(get32(p)) << 32) | get32(p + 4);
}

/// HMAC-SHA256 contexts already keyed, one per key this thread has used.
/// OpenSSL 3's one-shot HMAC() fetches the algorithm, allocates three
/// digest contexts and hashes the padded key for every frame: at 1400 B a
/// frame, that cost as much as hashing the frame itself. A keyed context
/// re-initialised with no key starts from its saved state instead (the
/// same MAC, bit for bit). The keys are few (two per peer and run), and
/// the cache is emptied should it ever hold more than `max_keys`.
class keyed_macs {
public:
  ~keyed_macs() {
    clear();
    EVP_MAC_free(hmac_);
  }

  /// The context for `key`, ready for EVP_MAC_update; null on failure.
  EVP_MAC_CTX* get(const std::string& key) {
    auto i = contexts_.find(key);
    if (i == contexts_.end()) {
      if (contexts_.size() >= max_keys)
        clear();
      auto* ctx = make(key);
      if (ctx == nullptr)
        return nullptr;
      i = contexts_.emplace(key, ctx).first;
    }
    if (EVP_MAC_init(i->second, nullptr, 0, nullptr) != 1)
      return nullptr;
    return i->second;
  }

private:
  static constexpr std::size_t max_keys = 1024;

  EVP_MAC_CTX* make(const std::string& key) {
    if (hmac_ == nullptr)
      hmac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (hmac_ == nullptr)
      return nullptr;
    auto* ctx = EVP_MAC_CTX_new(hmac_);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
    if (ctx == nullptr
        || EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()),
                        key.size(), params)
             != 1) {
      EVP_MAC_CTX_free(ctx);
      return nullptr;
    }
    return ctx;
  }

  void clear() {
    for (auto& [key, ctx] : contexts_)
      EVP_MAC_CTX_free(ctx);
    contexts_.clear();
  }

  EVP_MAC* hmac_ = nullptr;
  std::unordered_map<std::string, EVP_MAC_CTX*> contexts_;
};

/// The first `frame_mac_size` bytes of HMAC-SHA256(key, data) to `out`;
/// false (and `out` zeroed) if OpenSSL fails.
bool mac(const std::string& key, const uint8_t* data, std::size_t size,
         uint8_t* out) {
  static thread_local keyed_macs macs;
  unsigned char md[EVP_MAX_MD_SIZE];
  std::size_t md_len = 0;
  auto* ctx = macs.get(key);
  if (ctx == nullptr || EVP_MAC_update(ctx, data, size) != 1
      || EVP_MAC_final(ctx, md, &md_len, sizeof(md)) != 1
      || md_len < frame_mac_size) {
    std::memset(out, 0, frame_mac_size);
    return false;
  }
  std::memcpy(out, md, frame_mac_size);
  return true;
}

/// Whether the `frame_mac_size` bytes after `body` bytes are their MAC.
bool mac_ok(const std::string& key, const uint8_t* frame, std::size_t body) {
  uint8_t expected[frame_mac_size];
  return mac(key, frame, body, expected) && !key.empty()
         && CRYPTO_memcmp(expected, frame + body, frame_mac_size) == 0;
}

void put_header(std::vector<uint8_t>& b, uint8_t type, uint64_t sender) {
  b.insert(b.end(), frame_magic, frame_magic + 3);
  b.push_back(frame_version);
  b.push_back(type);
  b.push_back(0); // flags
  put16(b, 0);    // count
  put64(b, sender);
}

bool has_magic(const uint8_t* frame, std::size_t size) {
  return size >= 4 && std::memcmp(frame, frame_magic, 3) == 0;
}

std::size_t record_header_size(bool v6) {
  return v6 ? record_header_size_v6 : record_header_size_v4;
}

} // namespace

frame_builder::frame_builder(uint64_t sender, std::size_t capacity,
                             uint8_t type)
    : sender_(sender), capacity_(capacity), type_(type) {
  buf_.reserve(capacity_);
  clear();
}

void frame_builder::clear() {
  buf_.clear();
  count_ = 0;
  put_header(buf_, type_, sender_);
  spread_ = false;
  v6_ = false;
}

bool frame_builder::fits(std::size_t len, const ip_addr& group,
                         const std::string* spread) const noexcept {
  auto after = buf_.size() + record_header_size(group.v6) + len + frame_mac_size
               + (spread ? 2 + spread->size() : 0);
  if (count_ == 0)
    return after <= max_frame_size;
  return after <= capacity_ && count_ < 0xffff && spread_ == (spread != nullptr)
         && v6_ == group.v6;
}

void frame_builder::add(const record_view& r, const std::string* spread) {
  if (count_ == 0) {
    spread_ = spread != nullptr;
    v6_ = r.group.v6;
  }
  put64(buf_, r.origin);
  put64(buf_, r.seq);
  // Network order already: copied as it is.
  buf_.insert(buf_.end(), r.group.bytes.begin(),
              r.group.bytes.begin() + (v6_ ? 16 : 4));
  put16(buf_, r.port);
  put16(buf_, r.len);
  if (spread_) {
    auto block = spread ? spread->size() : 0;
    put16(buf_, static_cast<uint16_t>(block));
    if (block > 0)
      buf_.insert(buf_.end(), spread->begin(), spread->end());
  }
  buf_.insert(buf_.end(), r.data, r.data + r.len);
  ++count_;
}

const std::vector<uint8_t>& frame_builder::seal(const std::string& key) {
  buf_[5] = static_cast<uint8_t>((spread_ ? frame_flag_spread : 0)
                                 | (v6_ ? frame_flag_ipv6 : 0));
  buf_[6] = static_cast<uint8_t>(count_ >> 8);
  buf_[7] = static_cast<uint8_t>(count_);
  append_mac(buf_, key);
  return buf_;
}

frame_error parse_frame(const uint8_t* frame, std::size_t size,
                        const std::string& key, uint64_t& sender,
                        std::vector<record_view>& out) {
  out.clear();
  if (has_magic(frame, size) && frame[3] != frame_version)
    return frame_error::version;
  if (size < frame_header_size + frame_mac_size || !has_magic(frame, size)
      || (frame[4] != frame_type_data && frame[4] != frame_type_nak))
    return frame_error::malformed;
  auto body = size - frame_mac_size;
  if (!mac_ok(key, frame, body))
    return frame_error::auth;
  auto count = get16(frame + 6);
  bool spread = (frame[5] & frame_flag_spread) != 0;
  bool v6 = (frame[5] & frame_flag_ipv6) != 0;
  std::size_t group_size = v6 ? 16 : 4;
  sender = get64(frame + 8);
  std::size_t at = frame_header_size;
  for (uint16_t i = 0; i < count; ++i) {
    if (body - at < record_header_size(v6))
      return frame_error::malformed;
    record_view r;
    const auto* p = frame + at;
    r.origin = get64(p);
    r.seq = get64(p + 8);
    r.group.v6 = v6;
    std::memcpy(r.group.bytes.data(), p + 16, group_size);
    r.port = get16(p + 16 + group_size);
    r.len = get16(p + 18 + group_size);
    at += record_header_size(v6);
    if (spread) {
      if (body - at < 2)
        return frame_error::malformed;
      r.spread_len = get16(frame + at);
      at += 2;
      if (body - at < r.spread_len)
        return frame_error::malformed;
      r.spread = frame + at;
      at += r.spread_len;
    }
    if (body - at < r.len)
      return frame_error::malformed;
    r.data = frame + at;
    at += r.len;
    out.push_back(r);
  }
  return at == body ? frame_error::none : frame_error::malformed;
}

void append_mac(std::vector<uint8_t>& frame, const std::string& key) {
  auto at = frame.size();
  frame.resize(at + frame_mac_size);
  mac(key, frame.data(), at, frame.data() + at);
}

uint8_t frame_type_of(const uint8_t* frame, std::size_t size) {
  if (size < frame_header_size + frame_mac_size || !has_magic(frame, size)
      || frame[3] != frame_version)
    return 0;
  return frame[4];
}

std::vector<uint8_t> make_probe(uint8_t type, uint64_t sender, uint64_t stamp,
                                const std::string& key) {
  std::vector<uint8_t> out;
  put_header(out, type, sender);
  put64(out, stamp);
  append_mac(out, key);
  return out;
}

frame_error parse_probe(const uint8_t* frame, std::size_t size,
                        const std::string& key, uint8_t& type,
                        uint64_t& stamp) {
  constexpr auto probe_size = frame_header_size + 8 + frame_mac_size;
  type = frame_type_of(frame, size);
  if (has_magic(frame, size) && frame[3] != frame_version)
    return frame_error::version;
  if (size != probe_size
      || (type != frame_type_ping && type != frame_type_pong))
    return frame_error::malformed;
  auto body = size - frame_mac_size;
  if (!mac_ok(key, frame, body))
    return frame_error::auth;
  stamp = get64(frame + frame_header_size);
  return frame_error::none;
}

dedup_window::verdict dedup_window::check(uint64_t seq) noexcept {
  auto bit = [this](uint64_t s) -> uint64_t& {
    return bits_[(s % window) / 64];
  };
  auto mask = [](uint64_t s) { return uint64_t{1} << (s % 64); };
  if (!started_ || seq > highest_) {
    // Clear the slots between the old highest and the new one.
    if (started_) {
      auto gap = seq - highest_;
      if (gap >= window)
        std::memset(bits_, 0, sizeof(bits_));
      else
        for (uint64_t s = highest_ + 1; s < seq; ++s)
          bit(s) &= ~mask(s);
    } else
      std::memset(bits_, 0, sizeof(bits_));
    started_ = true;
    highest_ = seq;
    bit(seq) |= mask(seq);
    return verdict::fresh;
  }
  if (highest_ - seq >= window)
    return verdict::stale;
  if (bit(seq) & mask(seq))
    return verdict::duplicate;
  bit(seq) |= mask(seq);
  return verdict::fresh;
}

} // namespace castor::relay::sites
