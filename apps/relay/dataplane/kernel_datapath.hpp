#pragma once

// The kernel data path of one input interface (issue 16): the tc program
// (kernel/relay.bpf.c, with its IPv6 part kernel/relay6.bpf.h: one program
// for both families) loaded with libbpf, attached to the interface's
// clsact ingress, and its maps (kernel/relay_maps.h, relay_maps6.h;
// entries encoded by kernel_entries.hpp). CAF-free; the datapath actor
// (datapath_actor.hpp) is its supervised owner.
//
// Lifetime. The attachment outlives the actor on purpose: a datapath actor
// that crashes or is killed leaves the program forwarding from its maps,
// and its replacement adopts the same object (kernel_datapaths(), one per
// interface for the life of the process), so a restart has no gap and no
// duplicate, and the per-CPU counters in the maps stay monotonic. Only a
// clean stop (the interface has no rule any more, or the process
// ends) detaches it.
//
// Attaching. The filter always goes in at one handle and priority
// (castor's), with replace semantics: a program a crashed castor-relay
// left there is swapped for ours atomically (cls_bpf replaces the program
// of an existing filter in place), so a restarted process neither loses
// nor duplicates a datagram while it takes over.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/kernel_entries.hpp"
#include "model/counters.hpp"
#include "model/rule.hpp"

struct castor_relay_bpf;

namespace castor::relay {

/// Whether this build has the kernel data path (clang and libbpf found).
bool kernel_datapath_built() noexcept;

/// Loads the program without attaching it: empty if it loads, else why not
/// (no CAP_BPF, not built, a kernel without cls_bpf ...).
std::string probe_kernel_datapath();

/// Detaches the castor filters a crashed process left on interfaces not
/// in `keep` (whose datapath actors will replace theirs in place), so that
/// an orphan program does not forward next to this process's forwarders.
/// Returns the interfaces it detached one from.
std::vector<std::string> detach_leftovers(const std::vector<std::string>& keep);

class kernel_datapath {
public:
  /// Loads and attaches (throws std::runtime_error with the reason).
  kernel_datapath(std::string interface, std::size_t max_frame);
  /// Detaches.
  ~kernel_datapath();

  kernel_datapath(const kernel_datapath&) = delete;
  kernel_datapath& operator=(const kernel_datapath&) = delete;

  /// Makes the maps forward exactly `rules` (all on this interface, all
  /// served by the kernel): adds and changes entries before it removes
  /// the old ones. Output interfaces are looked up again, so calling it
  /// again with the same rules picks up a re-created interface.
  void apply(const std::vector<rule>& rules, uint64_t epoch);

  /// Whether an output interface of the installed rules has changed
  /// (index, up/down, address, MAC or MTU) since the last apply(): the
  /// datapath actor's link refresh re-applies only then, so that an idle
  /// relay with many rules does not rebuild every entry every second.
  bool links_changed() const;

  /// The counters, as a forwarder reports them (worker `worker`).
  worker_snapshot snapshot(const std::string& worker) const;

  /// The program id a crashed process had left attached and this one
  /// replaced; 0 if none.
  uint32_t replaced_leftover() const noexcept { return replaced_; }

  const std::string& interface() const noexcept { return interface_; }

private:
  struct installed_output {
    std::string key;
    rule_output spec;
    uint32_t slot = 0;
    std::string state; ///< "up", "down" or "missing" at the last apply
  };

  struct installed_rule {
    kernel_entry entry; ///< its key, group and value, of either family
    uint32_t slot = 0;
    std::vector<installed_output> outputs;
  };
  /// A map entry's identity: the family (which map) and the key's bytes.
  using entry_ref = std::pair<bool, std::vector<uint8_t>>;

  void attach();
  uint32_t rule_slot(const std::string& name);
  uint32_t output_slot(const std::string& key);
  void zero(int map_fd, uint32_t slot, std::size_t value_size);

  std::string interface_;
  unsigned ifindex_ = 0;
  castor_relay_bpf* skel_ = nullptr;
  uint32_t replaced_ = 0;
  mutable std::mutex mtx_;
  uint64_t epoch_ = 0;
  std::map<std::string, installed_rule> rules_; ///< by rule name
  std::map<std::string, uint32_t> rule_slots_, output_slots_;
  std::vector<uint32_t> free_rule_slots_, free_output_slots_;
  uint32_t next_rule_slot_ = 0, next_output_slot_ = 0;
  /// (family, castor_group_key[6] bytes) -> CASTOR_GROUP_* kinds.
  std::map<entry_ref, uint32_t> groups_;
  /// At the last apply(): each output interface, whether it was looked up
  /// for IPv6, and what it was (links_changed() compares).
  std::map<std::string, std::pair<bool, kernel_link>> links_;
};

/// The process's kernel data paths, one per input interface.
class kernel_datapaths_registry {
public:
  /// The interface's data path: the one a previous datapath actor left,
  /// or a new one (loaded and attached; throws on failure).
  std::shared_ptr<kernel_datapath> adopt(const std::string& interface,
                                         std::size_t max_frame);
  /// Detaches and forgets the interface's data path.
  void release(const std::string& interface);
  /// Detaches all (at the end of the process).
  void release_all();

private:
  std::mutex mtx_;
  std::map<std::string, std::shared_ptr<kernel_datapath>> paths_;
};

kernel_datapaths_registry& kernel_datapaths();

} // namespace castor::relay
