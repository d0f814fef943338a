#include "dataplane/kernel_datapath.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>

#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef CASTOR_HAVE_KERNEL_DATAPATH
#include "relay.skel.h"
#include "relay_maps6.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace castor::relay {

kernel_datapaths_registry& kernel_datapaths() {
  static kernel_datapaths_registry registry;
  return registry;
}

std::shared_ptr<kernel_datapath>
kernel_datapaths_registry::adopt(const std::string& interface,
                                 std::size_t max_frame) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& p = paths_[interface];
  if (!p) {
    try {
      p = std::make_shared<kernel_datapath>(interface, max_frame);
      if (const auto leftover = p->replaced_leftover(); leftover != 0)
        spdlog::warn("kdp-{}: replaced the tc program a previous castor-relay "
                     "left attached (program id {})",
                     interface, leftover);
      else
        spdlog::info("kdp-{}: tc program attached", interface);
    } catch (...) {
      paths_.erase(interface);
      throw;
    }
  }
  return p;
}

void kernel_datapaths_registry::release(const std::string& interface) {
  std::shared_ptr<kernel_datapath> p;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = paths_.find(interface);
    if (i == paths_.end())
      return;
    p = std::move(i->second);
    paths_.erase(i);
  }
  // Detached by its destructor, once the last actor holding it lets go.
}

void kernel_datapaths_registry::release_all() {
  std::map<std::string, std::shared_ptr<kernel_datapath>> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    all.swap(paths_);
  }
}

#ifndef CASTOR_HAVE_KERNEL_DATAPATH

bool kernel_datapath_built() noexcept {
  return false;
}

std::string probe_kernel_datapath() {
  return "this castor-relay was built without the kernel data path (clang, "
         "bpftool or libbpf-dev were missing at build time)";
}

std::vector<std::string> detach_leftovers(const std::vector<std::string>&) {
  return {};
}

kernel_datapath::kernel_datapath(std::string interface, std::size_t)
    : interface_(std::move(interface)) {
  throw std::runtime_error(probe_kernel_datapath());
}

kernel_datapath::~kernel_datapath() = default;
void kernel_datapath::apply(const std::vector<rule>&, uint64_t) {}
bool kernel_datapath::links_changed() const {
  return false;
}
worker_snapshot kernel_datapath::snapshot(const std::string& worker) const {
  worker_snapshot s;
  s.worker = worker;
  s.interface = interface_;
  return s;
}

#else

namespace {

// castor's filter on every input interface's clsact ingress.
constexpr uint32_t filter_handle = 0xca57;
constexpr uint32_t filter_priority = 0xca57;

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG)
    return 0;
  char line[1024];
  const int n = std::vsnprintf(line, sizeof line, fmt, args);
  std::string text{line, n > 0 ? std::min<std::size_t>(n, sizeof line - 1) : 0};
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  spdlog::debug("libbpf: {}", text);
  return n;
}

void quiet_libbpf() {
  static const bool once = [] {
    libbpf_set_print(libbpf_log);
    return true;
  }();
  (void)once;
}

std::string errno_text(int err) {
  return std::strerror(err < 0 ? -err : err);
}

/// Whether an output's rewrite would differ: the interface came, went,
/// went down or up, or changed its address, MAC, MTU or hop limit.
bool same_link(const kernel_link& a, const kernel_link& b) {
  return a.ifindex == b.ifindex && a.up == b.up && a.addr_be == b.addr_be
         && a.addr6 == b.addr6 && a.hop_limit6 == b.hop_limit6
         && std::memcmp(a.mac, b.mac, sizeof a.mac) == 0 && a.mtu == b.mtu;
}

/// The per-CPU values of `slot`, summed with `add`.
template <class T, class Add>
T sum_per_cpu(int fd, uint32_t slot, Add add) {
  const int cpus = libbpf_num_possible_cpus();
  std::vector<T> values(cpus > 0 ? static_cast<std::size_t>(cpus) : 1);
  T total{};
  if (bpf_map_lookup_elem(fd, &slot, values.data()) == 0)
    for (const auto& v : values)
      add(total, v);
  return total;
}

bpf_tc_hook ingress_hook(unsigned ifindex) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = BPF_TC_INGRESS;
  return hook;
}

bpf_tc_opts castor_filter() {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = filter_handle;
  opts.priority = filter_priority;
  return opts;
}

} // namespace

bool kernel_datapath_built() noexcept {
  return true;
}

std::string probe_kernel_datapath() {
  quiet_libbpf();
  auto* skel = castor_relay_bpf::open_and_load();
  if (skel == nullptr)
    return "cannot load the tc program (" + errno_text(errno)
           + "): it needs CAP_BPF and CAP_NET_ADMIN (or root)";
  castor_relay_bpf::destroy(skel);
  return {};
}

std::vector<std::string>
detach_leftovers(const std::vector<std::string>& keep) {
  quiet_libbpf();
  std::vector<std::string> out;
  auto* all = ::if_nameindex();
  if (all == nullptr)
    return out;
  for (auto* i = all; i->if_index != 0; ++i) {
    const std::string name = i->if_name;
    if (std::find(keep.begin(), keep.end(), name) != keep.end())
      continue;
    auto hook = ingress_hook(i->if_index);
    auto query = castor_filter();
    if (bpf_tc_query(&hook, &query) != 0)
      continue; // none there (or no CAP_NET_ADMIN to ask)
    // Only castor's program: another one at this handle is not ours.
    const int fd = bpf_prog_get_fd_by_id(query.prog_id);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    const bool castor = fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0
                        && std::string{info.name} == "castor_relay";
    if (fd >= 0)
      ::close(fd);
    auto opts = castor_filter();
    if (castor && bpf_tc_detach(&hook, &opts) == 0)
      out.push_back(name);
  }
  ::if_freenameindex(all);
  return out;
}

kernel_datapath::kernel_datapath(std::string interface, std::size_t max_frame)
    : interface_(std::move(interface)) {
  quiet_libbpf();
  ifindex_ = ::if_nametoindex(interface_.c_str());
  if (ifindex_ == 0)
    throw std::runtime_error("no input interface " + interface_);
  skel_ = castor_relay_bpf::open();
  if (skel_ == nullptr)
    throw std::runtime_error("cannot open the tc program: "
                             + errno_text(errno));
  skel_->data->max_frame = static_cast<uint32_t>(max_frame);
  if (const int err = castor_relay_bpf::load(skel_); err != 0) {
    castor_relay_bpf::destroy(skel_);
    throw std::runtime_error("cannot load the tc program (" + errno_text(err)
                             + "): it needs CAP_BPF and CAP_NET_ADMIN");
  }
  try {
    attach();
  } catch (...) {
    castor_relay_bpf::destroy(skel_);
    throw;
  }
}

void kernel_datapath::attach() {
  auto hook = ingress_hook(ifindex_);
  if (const int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST)
    throw std::runtime_error("cannot add a clsact qdisc to " + interface_ + ": "
                             + errno_text(err));
  // A filter at castor's handle: a crashed process's. Replaced in place.
  auto query = castor_filter();
  if (bpf_tc_query(&hook, &query) == 0)
    replaced_ = query.prog_id;
  auto opts = castor_filter();
  opts.prog_fd = bpf_program__fd(skel_->progs.castor_relay);
  opts.flags = BPF_TC_F_REPLACE;
  if (const int err = bpf_tc_attach(&hook, &opts); err != 0)
    throw std::runtime_error("cannot attach the tc program to " + interface_
                             + ": " + errno_text(err));
}

kernel_datapath::~kernel_datapath() {
  auto hook = ingress_hook(ifindex_);
  auto opts = castor_filter();
  // Ours unless another process replaced it meanwhile: detach only the
  // program this object attached.
  auto query = castor_filter();
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  const int ours = bpf_program__fd(skel_->progs.castor_relay);
  if (bpf_tc_query(&hook, &query) == 0
      && bpf_obj_get_info_by_fd(ours, &info, &len) == 0
      && query.prog_id == info.id) {
    if (const int err = bpf_tc_detach(&hook, &opts); err != 0)
      spdlog::warn("kdp-{}: cannot detach the tc program: {}", interface_,
                   errno_text(err));
  }
  castor_relay_bpf::destroy(skel_);
}

void kernel_datapath::zero(int map_fd, uint32_t slot, std::size_t value_size) {
  const int cpus = std::max(1, libbpf_num_possible_cpus());
  std::vector<uint8_t> zeros(static_cast<std::size_t>(cpus)
                             * ((value_size + 7) / 8 * 8));
  bpf_map_update_elem(map_fd, &slot, zeros.data(), BPF_ANY);
}

uint32_t kernel_datapath::rule_slot(const std::string& name) {
  if (auto i = rule_slots_.find(name); i != rule_slots_.end())
    return i->second;
  uint32_t slot;
  if (!free_rule_slots_.empty()) {
    slot = free_rule_slots_.back();
    free_rule_slots_.pop_back();
  } else if (next_rule_slot_ < CASTOR_MAX_RULES) {
    slot = next_rule_slot_++;
  } else {
    throw std::runtime_error("more than " + std::to_string(CASTOR_MAX_RULES)
                             + " kernel rules on " + interface_);
  }
  zero(bpf_map__fd(skel_->maps.rule_stats), slot, sizeof(castor_rule_counts));
  rule_slots_[name] = slot;
  return slot;
}

uint32_t kernel_datapath::output_slot(const std::string& key) {
  if (auto i = output_slots_.find(key); i != output_slots_.end())
    return i->second;
  uint32_t slot;
  if (!free_output_slots_.empty()) {
    slot = free_output_slots_.back();
    free_output_slots_.pop_back();
  } else if (next_output_slot_ < CASTOR_MAX_OUTPUT_SLOTS) {
    slot = next_output_slot_++;
  } else {
    throw std::runtime_error("more than "
                             + std::to_string(CASTOR_MAX_OUTPUT_SLOTS)
                             + " kernel outputs on " + interface_);
  }
  zero(bpf_map__fd(skel_->maps.out_stats), slot, sizeof(castor_out_counts));
  output_slots_[key] = slot;
  return slot;
}

void kernel_datapath::apply(const std::vector<rule>& rules, uint64_t epoch) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto rules_fd = [&](bool v6) {
    return bpf_map__fd(v6 ? skel_->maps.rules6 : skel_->maps.rules);
  };
  auto groups_fd = [&](bool v6) {
    return bpf_map__fd(v6 ? skel_->maps.groups6 : skel_->maps.groups);
  };
  // Each output interface looked up once, with its IPv6 source and hop
  // limit where an IPv6 output goes out on it.
  std::map<std::string, bool> wanted;
  for (const auto& r : rules)
    for (const auto& o : r.outputs)
      wanted[o.interface] = wanted[o.interface] || o.address.v6;
  std::map<std::string, kernel_link> links;
  for (const auto& [name, v6] : wanted)
    links.emplace(name, look_up_link(name, v6));
  std::map<std::string, installed_rule> next;
  std::map<entry_ref, uint32_t> groups;
  for (const auto& r : rules) {
    installed_rule ir;
    ir.slot = rule_slot(r.name);
    std::vector<uint32_t> slots;
    const auto count =
      std::min<std::size_t>(r.outputs.size(), CASTOR_MAX_OUTPUTS);
    for (std::size_t i = 0; i < count; ++i) {
      const auto& o = r.outputs[i];
      installed_output io;
      io.spec = o;
      io.key = r.name + "|" + o.address.to_string() + ":"
               + std::to_string(o.port) + "@" + o.interface;
      io.slot = output_slot(io.key);
      const auto l = links.find(o.interface);
      io.state = l == links.end() ? "missing" : l->second.state();
      slots.push_back(io.slot);
      ir.outputs.push_back(std::move(io));
    }
    ir.entry = encode_rule(r, ifindex_, ir.slot, slots, links);
    groups[{ir.entry.v6, ir.entry.group_key}] |= ir.entry.kind;
    next[r.name] = std::move(ir);
  }
  // Groups first, then the rules (new and changed), then what went away:
  // a datagram meets either the old entry or the new one, never none. A
  // group's kinds of rule (which lookups the program makes) are the old
  // and the new ones together until the old rules are gone.
  auto set_group = [&](const entry_ref& g, uint32_t kinds) {
    bpf_map_update_elem(groups_fd(g.first), g.second.data(), &kinds, BPF_ANY);
  };
  for (const auto& [g, kinds] : groups) {
    const auto old = groups_.find(g);
    const uint32_t was = old == groups_.end() ? 0 : old->second;
    if ((was | kinds) != was)
      set_group(g, was | kinds);
  }
  std::set<entry_ref> keys;
  for (const auto& [name, ir] : next) {
    const auto& e = ir.entry;
    keys.insert({e.v6, e.key});
    auto old = rules_.find(name);
    if (old != rules_.end() && old->second.entry.v6 == e.v6
        && old->second.entry.key == e.key && old->second.entry.value == e.value)
      continue;
    if (bpf_map_update_elem(rules_fd(e.v6), e.key.data(), e.value.data(),
                            BPF_ANY)
        != 0)
      throw std::runtime_error("kdp-" + interface_ + ": cannot install rule "
                               + name + ": " + errno_text(errno));
  }
  std::set<std::string> outputs_kept;
  for (const auto& [name, ir] : next)
    for (const auto& o : ir.outputs)
      outputs_kept.insert(o.key);
  for (const auto& [name, ir] : rules_) {
    const auto& e = ir.entry;
    if (keys.count({e.v6, e.key}) == 0)
      bpf_map_delete_elem(rules_fd(e.v6), e.key.data());
    if (next.count(name) == 0) {
      free_rule_slots_.push_back(ir.slot);
      rule_slots_.erase(name);
    }
    for (const auto& o : ir.outputs)
      if (outputs_kept.count(o.key) == 0 && output_slots_.erase(o.key) != 0)
        free_output_slots_.push_back(o.slot);
  }
  for (const auto& [g, was] : groups_) {
    const auto now = groups.find(g);
    if (now == groups.end())
      bpf_map_delete_elem(groups_fd(g.first), g.second.data());
    else if ((was | now->second) != now->second)
      set_group(g, now->second); // a kind of rule the group has no more
  }
  rules_ = std::move(next);
  groups_ = std::move(groups);
  links_.clear();
  for (auto& [name, l] : links)
    links_.emplace(name, std::make_pair(wanted[name], std::move(l)));
  epoch_ = epoch;
}

bool kernel_datapath::links_changed() const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& [name, was] : links_)
    if (!same_link(look_up_link(name, was.first), was.second))
      return true;
  return false;
}

worker_snapshot kernel_datapath::snapshot(const std::string& worker) const {
  std::lock_guard<std::mutex> guard{mtx_};
  worker_snapshot s;
  s.worker = worker;
  s.interface = interface_;
  s.epoch = epoch_;
  s.filter = "kernel";
  const int rule_fd = bpf_map__fd(skel_->maps.rule_stats);
  const int out_fd = bpf_map__fd(skel_->maps.out_stats);
  for (const auto& [name, ir] : rules_) {
    rule_snapshot rs;
    rs.name = name;
    const auto rc = sum_per_cpu<castor_rule_counts>(
      rule_fd, ir.slot, [](castor_rule_counts& t, const castor_rule_counts& v) {
        t.packets += v.packets;
        t.bytes += v.bytes;
      });
    rs.packets = rc.packets;
    rs.bytes = rc.bytes;
    for (const auto& o : ir.outputs) {
      const auto oc = sum_per_cpu<castor_out_counts>(
        out_fd, o.slot, [](castor_out_counts& t, const castor_out_counts& v) {
          t.packets += v.packets;
          t.bytes += v.bytes;
          t.too_big += v.too_big;
          t.ttl_expired += v.ttl_expired;
          t.send_error += v.send_error;
          t.qdisc_drop += v.qdisc_drop;
        });
      output_snapshot os;
      os.key = o.key;
      os.interface = o.spec.interface;
      os.address = o.spec.address.to_string();
      os.port = o.spec.port;
      os.packets = oc.packets;
      os.bytes = oc.bytes;
      os.drops.too_big = oc.too_big;
      os.drops.ttl_expired = oc.ttl_expired;
      os.drops.send_error = oc.send_error;
      os.drops.qdisc_drop = oc.qdisc_drop;
      os.state = o.state;
      s.output_links[o.spec.interface] = o.state;
      rs.outputs.push_back(std::move(os));
    }
    s.rules.push_back(std::move(rs));
  }
  const auto in = sum_per_cpu<castor_in_counts>(
    bpf_map__fd(skel_->maps.in_stats), 0,
    [](castor_in_counts& t, const castor_in_counts& v) {
      t.frames += v.frames;
      for (int i = 0; i < CASTOR_DROP_REASONS; ++i)
        t.drops[i] += v.drops[i];
    });
  s.ingress.frames = in.frames;
  for (std::size_t i = 0; i < s.ingress.malformed.size(); ++i)
    s.ingress.malformed[i] = in.drops[i];
  return s;
}

#endif

} // namespace castor::relay
