#!/usr/bin/env python3
"""arrivals.py: the gaps in a steady flow, for reconnect.sh.

Joins GROUP:PORT on the receiving host's LAN and stamps every datagram
with the kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME: one clock
for every namespace). It keeps only the gaps longer than --gap ms. On
SIGTERM it reads the events file (lines "LABEL KIND T_NS", KIND "cut" when
the path went away and "back" when it returned, written by reconnect.sh
with `date +%s%N`) and prints for each LABEL:
  event LABEL resume_ms=R outage_ms=O
R: from "back" to the first datagram after it (the issue's "reconnects
within 2 s of the path returning, and traffic resumes"); O: the whole
gap in the flow around the event. A label whose flow never resumed prints
resume_ms=none.
"""
import argparse
import signal
import socket
import sys

import stamped

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", required=True, help="GROUP:PORT")
    ap.add_argument("--listen-if", required=True, help="receiver's address")
    ap.add_argument("--events", required=True)
    ap.add_argument("--gap", type=float, default=20.0, help="ms")
    a = ap.parse_args()

    s = stamped.join(a.group, a.listen_if)
    s.settimeout(0.2)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("arrivals: ready", flush=True)
    gaps = []  # (last before, first after), both ns
    last = 0
    received = 0
    gap_ns = int(a.gap * 1e6)
    while not stop:
        try:
            t = stamped.recv_stamp(s)
        except (socket.timeout, InterruptedError):
            continue
        received += 1
        if last and t - last > gap_ns:
            gaps.append((last, t))
        last = t

    events = {}
    with open(a.events) as f:
        for line in f:
            label, kind, t = line.split()
            events.setdefault(label, {})[kind] = int(t)
    print(f"received {received}, {len(gaps)} gaps over {a.gap} ms", flush=True)
    for label, ev in events.items():
        back, cut = ev.get("back"), ev.get("cut")
        if back is None:
            continue
        # The gap the outage made: the first one that ends after the cut.
        # Its end before "back" (resume_ms <= 0): the flow was back before
        # the script saw the path return (a link that comes up brings its
        # routes back with it).
        resume, outage = None, None
        for before, after in gaps:
            # (an outage is seconds long; a short gap is the scheduler)
            if (cut is not None and after > cut and before < back
                    and after - before > 250e6):
                resume, outage = after - back, after - before
                break
        if resume is None:
            print(f"event {label} resume_ms=none", flush=True)
        else:
            print(f"event {label} resume_ms={resume / 1e6:.1f} "
                  f"outage_ms={outage / 1e6:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
