"""stamped.py: a multicast receiver whose datagrams carry the kernel's
receive stamp (SO_TIMESTAMPNS: CLOCK_REALTIME, one clock for every
namespace), for interest.py and arrivals.py: a datagram read late is not
counted late."""
import socket
import struct
import time

# SO_TIMESTAMPNS (and SCM_TIMESTAMPNS) on Linux, absent from older Pythons.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def join(group_port, listen_if):
    """A socket bound to GROUP:PORT, joined on the interface whose address
    is `listen_if`, with receive stamps on."""
    group, port = group_port.split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((group, int(port)))
    mreq = struct.pack("4s4s", socket.inet_aton(group),
                       socket.inet_aton(listen_if))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return s


def recv_stamp(s):
    """One datagram; its arrival in ns since the epoch (the kernel's
    stamp, or now if it gave none)."""
    _, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(16))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    return time.time_ns()
