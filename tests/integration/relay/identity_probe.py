#!/usr/bin/env python3
"""Sender and receiver for relay_identity.sh: what the relay writes into the
IP and UDP headers of each datagram it relays.

  identity_probe.py send GROUP:PORT TTL TOS FLOWS COUNT
      COUNT datagrams on each of FLOWS sockets (FLOWS source ports, so that
      the fanout's flow hash spreads them over the workers), sent with the
      given multicast TTL and TOS byte, paced, bounded.

  identity_probe.py recv INTERFACE_ADDRESS SECONDS EXPECTED GROUP:PORT...
      Joins the groups on the interface with that address, reads with
      IP_RECVTTL / IP_RECVTOS and the source address, and once EXPECTED
      datagrams arrived in all, or after SECONDS, prints one JSON object per
      destination port: {"port": P, "count": N, "ttl": [...], "tos": [...],
      "sources": ["A:P", ...]} with the distinct values seen, sorted.
"""

import json
import select
import socket
import struct
import sys
import time

# Linux values; Python's socket module lacks IP_RECVTTL.
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL = getattr(socket, "IP_TTL", 2)


def send(group_port, ttl, tos, flows, count):
    group, port = group_port.split(":")
    socks = []
    for _ in range(flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        s.bind(("0.0.0.0", 0))
        socks.append(s)
    for seq in range(count):
        for f, s in enumerate(socks):
            s.sendto(b"f%d s%d ttl%d" % (f, seq, ttl), (group, int(port)))
        time.sleep(0.002)  # about 500 rounds a second: no loss from bursts


def recv(local, seconds, expect, groups):
    socks = {}
    for gp in groups:
        group, port = gp.split(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((group, int(port)))
        mreq = struct.pack("4s4s", socket.inet_aton(group),
                           socket.inet_aton(local))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        socks[s.fileno()] = (s, int(port))
    seen = {port: {"port": port, "count": 0, "ttl": set(), "tos": set(),
                   "sources": set()} for _, port in socks.values()}
    print("ready", flush=True)
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end and total < expect:
        ready, _, _ = select.select(list(socks), [], [], 0.2)
        for fd in ready:
            s, port = socks[fd]
            try:
                _, anc, _, addr = s.recvmsg(2048, socket.CMSG_SPACE(4) * 2,
                                            socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue  # readable, then dropped by the kernel (checksum)
            total += 1
            x = seen[port]
            x["count"] += 1
            x["sources"].add("%s:%d" % addr)
            for level, kind, data in anc:
                if level != socket.IPPROTO_IP:
                    continue
                if kind == IP_TTL:
                    x["ttl"].add(struct.unpack("i", data[:4])[0])
                elif kind == socket.IP_TOS:
                    x["tos"].add(data[0])
    with open("/proc/net/snmp") as f:
        udp = [line.split() for line in f if line.startswith("Udp:")]
    print("snmp", dict(zip(udp[0][1:], udp[1][1:])), flush=True)
    for x in seen.values():
        print(json.dumps({k: sorted(v) if isinstance(v, set) else v
                          for k, v in x.items()}), flush=True)


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "send":
        send(sys.argv[2], *(int(a) for a in sys.argv[3:7]))
    elif len(sys.argv) >= 6 and sys.argv[1] == "recv":
        recv(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
