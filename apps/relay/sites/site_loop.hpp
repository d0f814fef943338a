#pragma once

// The engine thread of the cross-site data path (site_engine.hpp): one
// struct, its members defined by concern in three files:
//
//   site_loop.cpp  the plan (peers, exports, imports) copied from the
//                  control side when its version changes, the spreading
//                  plan, round-trip probes, and the poll loop
//   site_wan.cpp   the WAN: records batched into frames per peer and sent;
//                  frames read from the data socket, checked, deduplicated,
//                  delivered and (spread = "log") forwarded
//   site_lan.cpp   the LANs: exports read from their groups, and what peers
//                  sent emitted as multicast on the imports' outputs
//   site_loop_bus.cpp  castor::bus repair across sites: the imports'
//                  repairers answering NAKs, NAKs sent up to the exporting
//                  site and handed there to the publisher
//
// It owns every socket but the data socket.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sites/site_bus_repair.hpp"
#include "sites/site_engine_state.hpp"
#include "sites/site_frame.hpp"
#include <sys/socket.h>

namespace castor::relay::sites {

struct site_engine::loop {
  using clock_type = std::chrono::steady_clock;

  struct export_socket {
    site_export spec;
    int fd = -1;
    std::vector<std::size_t> peers; ///< indexes into `peers`
    site_group key;
    /// spread = "log": the peers this site sends to and the spread block
    /// each gets (whom it forwards to), planned over the listed peers that
    /// are up and want the group.
    std::vector<std::pair<std::size_t, std::string>> hops;
    /// castor::bus: each publisher's (origin's) address as this socket
    /// heard it, for the NAKs a repairing peer sends up; the socket they
    /// are sent from (opened at the first), whose unicast answers (a
    /// heartbeat, or repairs when the publisher repairs by unicast) go
    /// out like the group's datagrams.
    std::map<uint64_t, socket_address> publishers;
    uint64_t last_origin = 0;
    const socket_address* last_publisher = nullptr; ///< in `publishers`
    int repair_fd = -1;
    bool repair_warned = false;
  };
  struct emit_target {
    int fd;
    socket_address to;
    /// The largest datagram a GSO send may carry to this output: what its
    /// interface's MTU takes (site_lan.cpp).
    uint16_t max_segment;
  };

  loop(site_engine& e, int fd) : eng(e), data_fd(fd) {}
  ~loop();

  site_engine& eng;
  int data_fd;
  uint64_t version = ~uint64_t{0};
  std::string self;
  std::vector<peer_state> peers;
  std::vector<frame_builder> frames;
  std::vector<export_socket> exports;
  std::vector<site_import> imports;
  std::vector<int> output_fds;
  std::vector<std::vector<emit_target>> import_targets;
  struct route {
    std::vector<emit_target> targets;
    /// Set when an import of the route has repair = "bus".
    bus_repairer* repair = nullptr;
  };
  /// (peer index, group key) -> where to emit.
  std::map<std::pair<std::size_t, site_group>, route> routes;
  /// The repairers by (peer name, group key): they keep their rings
  /// across reconfigurations that leave their import alone.
  std::map<std::pair<std::string, site_group>, std::unique_ptr<bus_repairer>>
    repairers;
  /// An output socket of a repairing import: subscribers NAK it.
  struct nak_socket {
    emit_target target;
    bus_repairer* repair;
    std::string peer;
    site_group key;
  };
  std::vector<nak_socket> nak_sockets;
  bus_repairer::answer repair_answer;
  uint64_t nak_seq = 0;
  /// NAK records seen, per sending site (a replayed NAK frame is dropped).
  std::map<uint64_t, dedup_window> nak_dedup;
  std::map<uint64_t, dedup_window> dedup;
  uint64_t seq = 0;
  clock_type::time_point next_retry{};
  clock_type::time_point next_probe{};

  // -- the plan and the loop (site_loop.cpp) ---------------------------------

  std::size_t peer_index(const std::string& name) const;
  void sync();
  void sync_exports(const plan& p);
  /// The origin's plan for a spread = "log" export: over the listed peers
  /// that are up and asked for the group, in the listed order.
  std::vector<std::pair<std::size_t, std::string>>
  spread_hops(const std::vector<std::size_t>& listed,
              const site_group& key) const;
  /// The sends that cover `sites` (peer indexes), each with its block.
  std::vector<std::pair<std::size_t, std::string>>
  hops_over(const std::vector<std::size_t>& sites,
            const std::string* origin = nullptr) const;
  void sync_imports(const plan& p);
  void open_missing(bool log);
  void on_probe(std::size_t i, const uint8_t* buf, std::size_t size);
  void probe();
  void run();

  // -- the WAN: frames to and from peers (site_wan.cpp) ----------------------

  /// A peer's sealed frames, sent together at the end of the loop's round
  /// (or when full): runs of equal-sized frames leave as one UDP GSO send
  /// (UDP_SEGMENT) that the kernel cuts into the frames, so that a stream
  /// of 1400 B datagrams (a frame each) costs one system call and one trip
  /// down the stack per batch instead of per datagram.
  struct wan_batch {
    std::vector<uint8_t> bytes; ///< the frames back to back
    std::vector<uint32_t> sizes;
    std::vector<uint32_t> datagrams; ///< records per frame
    /// Off for this peer once the kernel refuses a GSO send.
    bool gso = true;
  };
  std::vector<wan_batch> batches; ///< per peer
  /// At most this many frames and bytes a batch: a GSO send carries at
  /// most 64 segments and one UDP datagram's worth of bytes.
  static constexpr std::size_t batch_frames = 64;
  static constexpr std::size_t batch_bytes = 65000;
  std::vector<mmsghdr> wan_msgs;
  std::vector<iovec> wan_iov;
  std::vector<std::array<char, CMSG_SPACE(sizeof(uint16_t))>> wan_ctl;
  /// The first frame and the number of frames of each message.
  std::vector<std::size_t> wan_first;
  std::vector<std::size_t> wan_count;

  /// Frames from peers, `batch_in` datagrams per recvmmsg; with UDP_GRO
  /// each may hold several frames of one sender (site_wan.cpp).
  static constexpr unsigned batch_in = 16;
  struct data_slots {
    std::vector<uint8_t> bufs = std::vector<uint8_t>(batch_in * 65536);
    std::array<iovec, batch_in> iov{};
    std::array<sockaddr_storage, batch_in> from{};
    std::array<mmsghdr, batch_in> msgs{};
    std::array<std::array<char, CMSG_SPACE(sizeof(int))>, batch_in> ctl{};
  };
  std::unique_ptr<data_slots> data_in = std::make_unique<data_slots>();
  std::vector<record_view> records;

  /// Asks the kernel for coalesced frames (UDP_GRO) on the data socket.
  void enable_gro();
  /// A probe to peer `i` (no datagrams: not counted as a frame).
  void send_to(std::size_t i, const std::vector<uint8_t>& buf);
  /// Seals peer `i`'s frame in progress into its batch.
  void send_frame(std::size_t i);
  void send_batch(std::size_t i);
  /// The frames [first, first + count) of peer `i`'s batch, one by one.
  void send_singly(std::size_t i, std::size_t first, std::size_t count);
  void flush();
  void enqueue(std::size_t i, const record_view& r,
               const std::string* spread = nullptr);
  void read_data();
  /// One frame (or probe) from peer `i`.
  void on_frame(std::size_t i, const uint8_t* buf, std::size_t size);
  /// Whether the record is new here: each (origin, sequence number) is
  /// emitted (and forwarded) once.
  bool fresh(peer_counters& c, const record_view& r);
  /// Whether (r.origin, r.seq) is new to `windows`: duplicates and stale
  /// numbers are counted on `c`.
  static bool first_time(std::map<uint64_t, dedup_window>& windows,
                         peer_counters& c, const record_view& r);
  void deliver(std::size_t i, const record_view& r);
  /// Sends `r` on to the sites of `share` this site reaches, halving the
  /// list again; a site of the share that is down here is left out and
  /// the rest of its part is covered by the others.
  void forward(std::size_t from, std::size_t origin,
               const std::string& origin_name, const record_view& r,
               const std::vector<std::string>& share);

  // -- the LANs: exports in, emits out (site_lan.cpp) ------------------------

  /// Up to `batch` datagrams per recvmmsg: one system call for a burst.
  static constexpr unsigned batch = 16;
  struct receive_slots {
    std::vector<uint8_t> bufs = std::vector<uint8_t>(batch * 65536);
    std::array<iovec, batch> iov{};
    std::array<sockaddr_storage, batch> from{};
    std::array<mmsghdr, batch> msgs{};
  };
  std::unique_ptr<receive_slots> slots = std::make_unique<receive_slots>();

  /// Reads `fd`: the export's joined socket, or its NAK socket
  /// (e.repair_fd), which takes only what its publishers answer.
  void read_export(export_socket& e, int fd);
  void export_one(export_socket& e, const sockaddr_storage& from,
                  const uint8_t* data, std::size_t n);

  /// A datagram to emit locally, gathered per batch of frames read and
  /// sent with one sendmmsg per run of the same socket; a run of
  /// equal-sized datagrams to one address goes as one UDP GSO send
  /// (UDP_SEGMENT): the kernel cuts it into the datagrams, at a fraction
  /// of the cost per datagram.
  struct pending_emit {
    const emit_target* target;
    const uint8_t* data;
    uint16_t len;
    peer_counters* owner;
  };
  using control_space = std::array<char, CMSG_SPACE(sizeof(uint16_t))>;
  std::vector<pending_emit> emits;
  std::vector<mmsghdr> emit_msgs;
  std::vector<iovec> emit_iov;
  std::vector<control_space> emit_ctl;
  /// The first emit and the number of datagrams of each message.
  std::vector<std::size_t> emit_first;
  std::vector<uint16_t> emit_count;
  /// The emits of a whole recvmmsg batch of frames are gathered: room for
  /// all their GSO runs.
  std::vector<uint8_t> gso_buf = std::vector<uint8_t>(batch_in * 65536);
  /// Off for good once the kernel refuses a GSO send.
  bool gso = true;
  /// A GSO send is one UDP datagram for the kernel until it is cut: at
  /// most 64 KiB less the headers.
  static constexpr std::size_t max_gso_bytes = 65000;

  static bool same_to(const pending_emit& x, const pending_emit& y) {
    return x.target == y.target;
  }
  void emit_pending();
  /// One message for emits [k, j): a GSO send, or a single datagram.
  void add_message(std::size_t k, std::size_t j, std::size_t& used);
  void emit_run(int fd, std::size_t at, std::size_t end);

  // -- castor::bus repair across sites (site_loop_bus.cpp) -------------------

  /// Repairers and NAK sockets for the imports with repair = "bus".
  void sync_repairers();
  /// NAKs from this site's subscribers on a repairing output.
  void read_naks(nak_socket& s);
  /// A bus NAK for the exporting site `i`, in a NAK frame.
  void send_upstream(std::size_t i, const site_group& key,
                     const std::vector<uint8_t>& nak);
  /// A NAK frame's record from peer `i`: to the publisher.
  void on_upstream(std::size_t i, const record_view& r);
  /// Learns the publisher of a bus datagram an export read.
  static void learn_publisher(export_socket& e, const sockaddr_storage& from,
                              const uint8_t* data, std::size_t n);
  /// Whether `from` is a publisher `e` learned: the only senders its NAK
  /// socket forwards (anyone else could otherwise inject into the group
  /// at other sites by unicast).
  static bool from_publisher(const export_socket& e,
                             const sockaddr_storage& from);
};

} // namespace castor::relay::sites
