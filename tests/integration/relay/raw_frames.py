#!/usr/bin/env python3
"""Hand-built Ethernet frames of IPv4 UDP for relay_vlan.sh: what castor-send
cannot make, sent through an AF_PACKET socket (needs CAP_NET_RAW).

usage: raw_frames.py --interface IF --source ADDR --group ADDR --port N
                     [--vlan VID] [--dst-mac MAC] [--count N] [--size N]
                     [--udp-checksum]

  --vlan VID     an 802.1Q tag with this VLAN id (priority 0) before the
                 IPv4 ethertype;
  --dst-mac MAC  the frame's destination (default: the group's multicast
                 MAC, 01:00:5e + the group's low 23 bits), e.g. another
                 host's, or a macvlan's;
  --count N      frames to send (default 1), --size N payload bytes;
  --udp-checksum a correct UDP checksum instead of 0 (none).

The IPv4 header has a correct checksum and TTL 8. Frames sent this way
reach the next host's kernel with no checksum offload state
(CHECKSUM_NONE), so it checks a UDP checksum in full, unlike one a UDP
socket sent over a veth (relay_identity.sh checks the relay by them). Exits 0 once
every frame was handed to the kernel.
"""
import argparse
import socket
import struct


def checksum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interface", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--vlan", type=int, default=None)
    ap.add_argument("--dst-mac", default=None)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--udp-checksum", action="store_true")
    a = ap.parse_args()
    group = socket.inet_aton(a.group)
    dst = (mac(a.dst_mac) if a.dst_mac
           else bytes([0x01, 0x00, 0x5E, group[1] & 0x7F, group[2], group[3]]))
    with open("/sys/class/net/%s/address" % a.interface) as f:
        src = mac(f.read().strip())
    link = dst + src
    if a.vlan is not None:
        link += struct.pack("!HH", 0x8100, a.vlan & 0x0FFF)
    link += struct.pack("!H", 0x0800)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.interface, 0))
    for i in range(a.count):
        payload = ("castor-raw %d " % i).encode().ljust(a.size, b".")
        udp = struct.pack("!HHHH", 40000, a.port, 8 + len(payload), 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload),
                         i & 0xFFFF, 0, 8, 17, 0, socket.inet_aton(a.source),
                         group)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        if a.udp_checksum:
            # Over the pseudo-header, the UDP header and the payload (padded
            # to even length); a sum of 0 is sent as 0xffff (RFC 768).
            pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp) + len(payload))
            data = pseudo + udp + payload + b"\0" * (len(payload) % 2)
            udp = udp[:6] + struct.pack("!H", checksum(data) or 0xFFFF)
        s.send(link + ip + udp + payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
