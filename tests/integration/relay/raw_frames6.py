#!/usr/bin/env python3
"""Hand-built Ethernet frames of IPv6 UDP for relay_ipv6_frames.sh, and a
receiver that reports what arrived: what castor-send cannot make (extension
headers, malformed headers), sent through an AF_PACKET socket (needs
CAP_NET_RAW).

  raw_frames6.py send --interface IF --source ADDR --group ADDR --port N
                      --kind KIND [--count N] [--size N] [--hop-limit N]
                      [--tclass N]
      KIND is one of
        plain          IPv6, UDP with a correct checksum;
        dest_options   a destination options header (8 bytes of padding)
                       before UDP: relayed, the header removed;
        spent_routing  a routing header with no segments left: relayed;
        padded         4 bytes past the UDP length (the payload length
                       counts them): relayed, cut to the UDP length;
        hop_by_hop     a hop-by-hop header before UDP: hop_by_hop;
        mld            hop-by-hop then ICMPv6 (an MLD report's shape):
                       not the relay's, never counted;
        fragment       a fragment header (first fragment): fragment;
        routing_left   a routing header with a segment left: ext_headers;
        dest_then_esp  destination options, then ESP: ext_headers;
        too_many       9 destination options headers: ext_headers;
        dest_then_icmp destination options, then ICMPv6: not_udp;
        zero_checksum  UDP checksum 0: zero_checksum;
        bad_length     a payload length 8 bytes past the frame: bad_length;
        udp_too_long   a UDP length past the payload: bad_length.
      Payloads are "castor-raw6 KIND i" padded with dots to --size bytes.
      Exits 0 once every frame was handed to the kernel.

  raw_frames6.py recv --interface IF --group ADDR --port N --seconds S
                      --expect N
      Joins the group on IF, reads with IPV6_RECVHOPLIMIT and
      IPV6_RECVTCLASS until EXPECT datagrams arrived or S seconds passed,
      and prints one JSON line: {"count", "hop_limits", "tclasses",
      "sources", "kinds": {KIND: count}, "bad_payloads"}. A datagram whose
      UDP checksum is wrong never arrives: the receiving kernel drops it.
"""
import argparse
import json
import select
import socket
import struct
import time

IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
NH_HOP_BY_HOP = 0
NH_ROUTING = 43
NH_FRAGMENT = 44
NH_ESP = 50
NH_DEST = 60
# Linux values, for Pythons that lack the names.
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
IPV6_RECVTCLASS = getattr(socket, "IPV6_RECVTCLASS", 66)
IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_checksum(src, dst, udp):
    pseudo = src + dst + struct.pack("!IxxxB", len(udp), IPPROTO_UDP)
    c = ~ones_sum(pseudo + udp) & 0xFFFF
    return c or 0xFFFF


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def padding_header(next_header):
    """An 8-byte destination options (or hop-by-hop) header: PadN."""
    return bytes([next_header, 0, 1, 4, 0, 0, 0, 0])


def frame(a, i):
    src = socket.inet_pton(socket.AF_INET6, a.source)
    dst = socket.inet_pton(socket.AF_INET6, a.group)
    payload = ("castor-raw6 %s %d " % (a.kind, i)).encode().ljust(a.size, b".")
    udp = struct.pack("!HHHH", 40000, a.port, 8 + len(payload), 0) + payload
    check = 0 if a.kind == "zero_checksum" else udp_checksum(src, dst, udp)
    udp = udp[:6] + struct.pack("!H", check) + udp[8:]
    next_header, ext, tail = IPPROTO_UDP, b"", b""
    if a.kind == "dest_options":
        next_header, ext = NH_DEST, padding_header(IPPROTO_UDP)
    elif a.kind == "spent_routing":
        # type 0 is deprecated; type 253 (experimental), no segments left
        next_header = NH_ROUTING
        ext = bytes([IPPROTO_UDP, 0, 253, 0, 0, 0, 0, 0])
    elif a.kind == "padded":
        tail = b"\xee" * 4
    elif a.kind == "hop_by_hop":
        next_header, ext = NH_HOP_BY_HOP, padding_header(IPPROTO_UDP)
    elif a.kind == "mld":
        next_header = NH_HOP_BY_HOP
        ext = bytes([IPPROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0])  # router alert
        udp = bytes([143, 0, 0, 0, 0, 0, 0, 0])  # an MLDv2 report's start
    elif a.kind == "fragment":
        next_header = NH_FRAGMENT
        ext = struct.pack("!BBHI", IPPROTO_UDP, 0, 0x0001, i)  # M set
    elif a.kind == "routing_left":
        next_header = NH_ROUTING
        ext = bytes([IPPROTO_UDP, 2, 253, 1, 0, 0, 0, 0]) + bytes(16)
    elif a.kind == "dest_then_esp":
        next_header, ext = NH_DEST, padding_header(NH_ESP)
    elif a.kind == "too_many":
        next_header = NH_DEST
        ext = b"".join(padding_header(NH_DEST) for _ in range(8))
        ext += padding_header(IPPROTO_UDP)
    elif a.kind == "dest_then_icmp":
        next_header, ext = NH_DEST, padding_header(IPPROTO_ICMPV6)
    elif a.kind == "udp_too_long":
        udp = udp[:4] + struct.pack("!H", len(udp) + 8) + udp[6:]
    plen = len(ext) + len(udp) + len(tail)
    if a.kind == "bad_length":
        plen += 8
    first = (6 << 28) | (a.tclass << 20) | (i & 0xFFFFF)
    ip = struct.pack("!IHBB", first, plen, next_header, a.hop_limit) + src + dst
    group = dst
    link = bytes([0x33, 0x33]) + group[12:16] + a.src_mac
    return link + struct.pack("!H", 0x86DD) + ip + ext + udp + tail


def send(a):
    with open("/sys/class/net/%s/address" % a.interface) as f:
        a.src_mac = mac(f.read().strip())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.interface, 0))
    for i in range(a.count):
        s.send(frame(a, i))
        if i % 50 == 49:
            time.sleep(0.005)  # bounded bursts: no loss in the veth queue
    return 0


def recv(a):
    index = socket.if_nametoindex(a.interface)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", a.port))
    mreq = socket.inet_pton(socket.AF_INET6, a.group) + struct.pack("@I", index)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
    print("ready", flush=True)
    seen = {"count": 0, "hop_limits": set(), "tclasses": set(),
            "sources": set(), "kinds": {}, "bad_payloads": 0}
    end = time.monotonic() + a.seconds
    while time.monotonic() < end and seen["count"] < a.expect:
        ready, _, _ = select.select([s], [], [], 0.2)
        if not ready:
            continue
        try:
            data, anc, _, addr = s.recvmsg(4096, socket.CMSG_SPACE(4) * 2,
                                           socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue  # readable, then dropped by the kernel (checksum)
        seen["count"] += 1
        seen["sources"].add("[%s]:%d" % (addr[0], addr[1]))
        for level, kind, value in anc:
            if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT:
                seen["hop_limits"].add(struct.unpack("i", value[:4])[0])
            if level == socket.IPPROTO_IPV6 and kind == IPV6_TCLASS:
                seen["tclasses"].add(struct.unpack("i", value[:4])[0])
        words = data.split(b" ")
        if len(words) < 3 or words[0] != b"castor-raw6":
            seen["bad_payloads"] += 1
            continue
        k = words[1].decode()
        seen["kinds"][k] = seen["kinds"].get(k, 0) + 1
        if len(data) != a.size or data.rstrip(b".")[-1:] != b" ":
            seen["bad_payloads"] += 1
    for key in ("hop_limits", "tclasses", "sources"):
        seen[key] = sorted(seen[key])
    print(json.dumps(seen, sort_keys=True), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["send", "recv"])
    ap.add_argument("--interface", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source")
    ap.add_argument("--kind", default="plain")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--hop-limit", type=int, default=9)
    ap.add_argument("--tclass", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--expect", type=int, default=1)
    a = ap.parse_args()
    return send(a) if a.mode == "send" else recv(a)


if __name__ == "__main__":
    raise SystemExit(main())
