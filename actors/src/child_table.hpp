#pragma once

// The children of one supervisor, as plain C++: records in start order, each
// with a stable key, looked up by key, by id or by the address of its running
// process, and the key lists that starting, stopping and the restart
// strategies walk. The supervisor instantiates it with caf::actor handles;
// the unit tests with a fake handle and no CAF.

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "restart_budget.hpp"

namespace castor::detail {

enum class child_state : uint8_t {
  stopped,    // spec kept, no process (OTP: undefined)
  starting,   // spawned, waiting for its ready answer
  running,    //
  stopping,   // exit sent, waiting for its down message
  restarting, // crashed; waiting for backoff or a retry
};

/// "stopped", "starting", "running", "stopping" or "restarting".
const char* to_cstr(child_state x);

/// `Payload` is what the owner keeps per child besides the table's own
/// fields (the supervisor: the child spec and its start arguments); records
/// derive from it. `Handle` refers to a running process: default-constructed
/// means none, it tests true when set, and `address()` gives a hashable
/// identity of the process that tests false for none.
template <class Payload, class Handle>
class child_table {
public:
  using address_type =
    std::decay_t<decltype(std::declval<const Handle&>().address())>;

  class record : public Payload {
  public:
    /// Stable identity; positions shift when records are erased.
    uint64_t key = 0;
    /// Unique among the siblings.
    std::string id;
    child_state state = child_state::stopped;
    uint64_t restarts = 0;
    restart_backoff backoff;
    /// Matches the pending restart this child waits for.
    uint64_t restart_token = 0;
    /// Ended, with its down message already read but its handling deferred
    /// behind a running job; a stop of it must not wait for another one.
    bool exited = false;

    /// The running process, or none. Changed through the table only.
    const Handle& handle() const noexcept { return handle_; }

  private:
    friend class child_table;
    Handle handle_;
  };

  using iterator = typename std::vector<record>::iterator;
  using const_iterator = typename std::vector<record>::const_iterator;

  /// Appends a stopped child; it starts after all present ones and stops
  /// before them.
  record& add(std::string id, Payload payload) {
    record rec;
    static_cast<Payload&>(rec) = std::move(payload);
    rec.key = next_key_++;
    rec.id = std::move(id);
    records_.emplace_back(std::move(rec));
    return records_.back();
  }

  /// The key the next add() will give.
  uint64_t next_key() const noexcept { return next_key_; }

  record* find(uint64_t key) { return find_in(*this, key); }

  const record* find(uint64_t key) const { return find_in(*this, key); }

  record* find_by_id(const std::string& id) {
    for (auto& rec : records_)
      if (rec.id == id)
        return &rec;
    return nullptr;
  }

  /// The child whose current process has `addr`; none for a process it has
  /// already replaced or forgotten.
  record* find_by_address(const address_type& addr) {
    if (!addr)
      return nullptr;
    auto i = by_address_.find(addr);
    if (i == by_address_.end())
      return nullptr;
    auto* rec = find(i->second);
    if (rec == nullptr || !rec->handle_ || rec->handle_.address() != addr)
      return nullptr;
    return rec;
  }

  /// The id of `key`, or "?" when there is no such child.
  std::string id_of(uint64_t key) const {
    auto* rec = find(key);
    return rec != nullptr ? rec->id : std::string{"?"};
  }

  // Every change of a record's process goes through these two, so that
  // by_address_ always maps exactly the current processes to their records.

  void set_handle(record& rec, Handle child) {
    clear_handle(rec);
    by_address_.emplace(child.address(), rec.key);
    rec.handle_ = std::move(child);
  }

  /// Forgets the child's current process: a down message that still comes
  /// from it finds no record.
  void clear_handle(record& rec) {
    if (rec.handle_) {
      by_address_.erase(rec.handle_.address());
      rec.handle_ = Handle{};
    }
  }

  /// Drops the child and its process mapping; no-op for an unknown key.
  void erase(uint64_t key) {
    auto i = lower_bound(records_, key);
    if (i == records_.end() || i->key != key)
      return;
    clear_handle(*i);
    records_.erase(i);
  }

  // -- key lists, all in start order unless said otherwise -------------------

  std::vector<uint64_t> keys() const {
    std::vector<uint64_t> out;
    out.reserve(records_.size());
    for (auto& rec : records_)
      out.push_back(rec.key);
    return out;
  }

  /// All keys, last started first.
  std::vector<uint64_t> stop_order() const {
    auto out = keys();
    std::reverse(out.begin(), out.end());
    return out;
  }

  /// Every key but `key` (one_for_all's siblings).
  std::vector<uint64_t> keys_except(uint64_t key) const {
    std::vector<uint64_t> out;
    for (auto& rec : records_)
      if (rec.key != key)
        out.push_back(rec.key);
    return out;
  }

  /// `key` and the keys after it (rest_for_one); empty if `key` is unknown.
  std::vector<uint64_t> keys_from(uint64_t key) const {
    std::vector<uint64_t> out;
    auto i = lower_bound(records_, key);
    if (i == records_.end() || i->key != key)
      return out;
    for (; i != records_.end(); ++i)
      out.push_back(i->key);
    return out;
  }

  /// The keys after `key` (rest_for_one's siblings); empty if unknown.
  std::vector<uint64_t> keys_after(uint64_t key) const {
    auto out = keys_from(key);
    if (!out.empty())
      out.erase(out.begin());
    return out;
  }

  iterator begin() noexcept { return records_.begin(); }
  iterator end() noexcept { return records_.end(); }
  const_iterator begin() const noexcept { return records_.begin(); }
  const_iterator end() const noexcept { return records_.end(); }
  size_t size() const noexcept { return records_.size(); }
  bool empty() const noexcept { return records_.empty(); }

private:
  // records_ stays sorted by key: keys grow and records are only ever
  // appended or erased. Lookups are per child event, so with 10,000 children
  // a linear scan here made starting and stopping them quadratic.
  template <class Records>
  static auto lower_bound(Records& records, uint64_t key) {
    return std::lower_bound(
      records.begin(), records.end(), key,
      [](const record& rec, uint64_t k) { return rec.key < k; });
  }

  template <class Self>
  static auto find_in(Self& self, uint64_t key) -> decltype(&*self.begin()) {
    auto i = lower_bound(self.records_, key);
    return i != self.records_.end() && i->key == key ? &*i : nullptr;
  }

  std::vector<record> records_;
  std::unordered_map<address_type, uint64_t> by_address_;
  uint64_t next_key_ = 1;
};

} // namespace castor::detail
