#include "cbpf_interpreter.hpp"

#include <stdexcept>
#include <string>

namespace castor::packet::test {

namespace {

bool load(const uint8_t* p, std::size_t size, uint64_t off, uint32_t width,
          uint32_t& out) {
  if (off + width > size)
    return false;
  out = 0;
  for (uint32_t i = 0; i < width; ++i)
    out = (out << 8) | p[off + i];
  return true;
}

uint32_t width_of(uint16_t code) {
  switch (BPF_SIZE(code)) {
  case BPF_W:
    return 4;
  case BPF_H:
    return 2;
  case BPF_B:
    return 1;
  }
  throw std::logic_error("cbpf: bad load size");
}

[[noreturn]] void bad(std::size_t pc, const char* what) {
  throw std::logic_error("cbpf: " + std::string(what) + " at "
                         + std::to_string(pc));
}

} // namespace

uint32_t run_cbpf(const bpf_program& prog, const uint8_t* pkt, std::size_t size,
                  uint32_t pkttype, std::size_t* executed) {
  frame_meta meta;
  meta.pkttype = pkttype;
  return run_cbpf(prog, pkt, size, meta, executed);
}

uint32_t run_cbpf(const bpf_program& prog, const uint8_t* pkt, std::size_t size,
                  const frame_meta& meta, std::size_t* executed) {
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t mem[BPF_MEMWORDS] = {};
  std::size_t pc = 0;
  for (std::size_t steps = 0; steps <= prog.size(); ++steps) {
    if (pc >= prog.size())
      bad(pc, "ran off the end");
    if (executed != nullptr)
      *executed = steps + 1;
    const sock_filter& in = prog[pc++];
    const uint32_t k = in.k;
    switch (BPF_CLASS(in.code)) {
    case BPF_LD: {
      const auto mode = BPF_MODE(in.code);
      if (mode == BPF_IMM) {
        a = k;
      } else if (mode == BPF_LEN) {
        a = static_cast<uint32_t>(size);
      } else if (mode == BPF_MEM) {
        a = mem[k % BPF_MEMWORDS];
      } else if (mode == BPF_ABS || mode == BPF_IND) {
        const auto sk = static_cast<int32_t>(k);
        if (mode == BPF_ABS && sk < 0) {
          if (BPF_SIZE(in.code) != BPF_W)
            bad(pc - 1, "ancillary load not of a word");
          else if (sk == SKF_AD_OFF + SKF_AD_PKTTYPE)
            a = meta.pkttype;
          else if (sk == SKF_AD_OFF + SKF_AD_IFINDEX)
            a = meta.ifindex;
          else if (sk == SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)
            a = meta.vlan_tag_present;
          else
            bad(pc - 1, "unsupported ancillary load");
          break;
        }
        const uint64_t off = (mode == BPF_IND ? uint64_t{x} : 0) + k;
        if (!load(pkt, size, off, width_of(in.code), a))
          return 0;
      } else {
        bad(pc - 1, "bad ld mode");
      }
      break;
    }
    case BPF_LDX: {
      const auto mode = BPF_MODE(in.code);
      if (mode == BPF_IMM) {
        x = k;
      } else if (mode == BPF_LEN) {
        x = static_cast<uint32_t>(size);
      } else if (mode == BPF_MEM) {
        x = mem[k % BPF_MEMWORDS];
      } else if (mode == BPF_MSH && BPF_SIZE(in.code) == BPF_B) {
        uint32_t b;
        if (!load(pkt, size, k, 1, b))
          return 0;
        x = (b & 0xf) * 4;
      } else {
        bad(pc - 1, "bad ldx mode");
      }
      break;
    }
    case BPF_ST:
      mem[k % BPF_MEMWORDS] = a;
      break;
    case BPF_STX:
      mem[k % BPF_MEMWORDS] = x;
      break;
    case BPF_ALU: {
      const uint32_t v = BPF_SRC(in.code) == BPF_X ? x : k;
      switch (BPF_OP(in.code)) {
      case BPF_ADD:
        a += v;
        break;
      case BPF_SUB:
        a -= v;
        break;
      case BPF_MUL:
        a *= v;
        break;
      case BPF_DIV:
        if (v == 0)
          return 0;
        a /= v;
        break;
      case BPF_MOD:
        if (v == 0)
          return 0;
        a %= v;
        break;
      case BPF_OR:
        a |= v;
        break;
      case BPF_AND:
        a &= v;
        break;
      case BPF_XOR:
        a ^= v;
        break;
      case BPF_LSH:
        a = v < 32 ? a << v : 0;
        break;
      case BPF_RSH:
        a = v < 32 ? a >> v : 0;
        break;
      case BPF_NEG:
        a = 0 - a;
        break;
      default:
        bad(pc - 1, "bad alu op");
      }
      break;
    }
    case BPF_JMP: {
      if (BPF_OP(in.code) == BPF_JA) {
        pc += k;
        break;
      }
      const uint32_t v = BPF_SRC(in.code) == BPF_X ? x : k;
      bool taken = false;
      switch (BPF_OP(in.code)) {
      case BPF_JEQ:
        taken = a == v;
        break;
      case BPF_JGT:
        taken = a > v;
        break;
      case BPF_JGE:
        taken = a >= v;
        break;
      case BPF_JSET:
        taken = (a & v) != 0;
        break;
      default:
        bad(pc - 1, "bad jump op");
      }
      pc += taken ? in.jt : in.jf;
      break;
    }
    case BPF_RET:
      return BPF_RVAL(in.code) == BPF_A ? a : k;
    case BPF_MISC:
      if (BPF_MISCOP(in.code) == BPF_TAX)
        x = a;
      else
        a = x;
      break;
    default:
      bad(pc - 1, "bad class");
    }
  }
  // cBPF only jumps forward, so a valid program returns within size steps.
  bad(pc, "did not return");
}

} // namespace castor::packet::test
