#!/usr/bin/env python3
"""ZeroMQ PUB/SUB over epgm, the baseline of bench/bus (run.sh).

  zmq_epgm.py pub IFADDR GROUP:PORT COUNT RATE SIZE
  zmq_epgm.py sub IFADDR GROUP:PORT COUNT TIMEOUT

Messages carry "index send_ns" (time.monotonic_ns, the same clock as
castor-bus --stamp), padded to SIZE. The settings (printed by both sides):
ZMQ_RATE in kbit/s (the default, 100, would cap everything at 100 kbit/s),
ZMQ_RECOVERY_IVL in ms, and the kernel buffers.
"""
import json
import sys
import time

import zmq

SETTINGS = {"rate_kbit": 1000000, "recovery_ivl_ms": 2000,
            "sndbuf": 4 << 20, "rcvbuf": 4 << 20, "hwm": 1000000}


def endpoint(ifaddr, group):
    return "epgm://%s;%s" % (ifaddr, group)


def configure(sock):
    sock.setsockopt(zmq.RATE, SETTINGS["rate_kbit"])
    sock.setsockopt(zmq.RECOVERY_IVL, SETTINGS["recovery_ivl_ms"])
    sock.setsockopt(zmq.SNDBUF, SETTINGS["sndbuf"])
    sock.setsockopt(zmq.RCVBUF, SETTINGS["rcvbuf"])
    sock.setsockopt(zmq.SNDHWM, SETTINGS["hwm"])
    sock.setsockopt(zmq.RCVHWM, SETTINGS["hwm"])


def pub(ifaddr, group, count, rate, size):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    configure(s)
    s.connect(endpoint(ifaddr, group))
    time.sleep(1.0)
    start = time.monotonic()
    sent = 0
    while sent < count:
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        while sent < due:
            m = ("%d %d" % (sent, time.monotonic_ns())).encode()
            s.send(m.ljust(size, b" "))
            sent += 1
    elapsed = time.monotonic() - start
    time.sleep(2.0)
    print(json.dumps({"sent": sent, "seconds": elapsed, "settings": SETTINGS}))
    s.close(linger=0)
    ctx.term()


def sub(ifaddr, group, count, timeout):
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    configure(s)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint(ifaddr, group))
    print("subscribed", flush=True)
    lat = []
    received = 0
    first = last = None
    deadline = time.monotonic() + timeout
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    while received < count and time.monotonic() < deadline:
        if not poller.poll(100):
            if last is not None and time.monotonic() - last > 2.0:
                break
            continue
        while True:
            try:
                m = s.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            now = time.monotonic_ns()
            parts = m.split()
            lat.append(now - int(parts[1]))
            received += 1
            last = time.monotonic()
            if first is None:
                first = last
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] // 1000 if lat else 0

    print(json.dumps({"received": received,
                      "seconds": (last - first) if first else 0,
                      "p50_us": pct(0.5), "p99_us": pct(0.99),
                      "settings": SETTINGS}))
    s.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    if sys.argv[1] == "pub":
        pub(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]),
            int(sys.argv[6]))
    else:
        sub(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
