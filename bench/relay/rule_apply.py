#!/usr/bin/env python3
"""rule_apply.py: how long a rule change takes to reach the data path.

Run inside the receiver's namespace by rule_apply.sh, while a sender sends
to the rule's input group at a steady rate. Each round:
  add     runs `castorctl add` for the rule, then waits for the first
          datagram on its output: latency = first arrival - add answered
          (and - add sent, which includes castorctl's own start);
  remove  runs `castorctl remove`, then reads until the output is silent
          for SILENCE s: latency = last arrival - remove answered.
All times are CLOCK_MONOTONIC (time.monotonic_ns), one clock for every
namespace. Prints one line per round and a summary line:
  round N add_answered_ms=A add_sent_ms=B remove_answered_ms=C
  summary rounds=N add_p50_ms=... add_max_ms=... remove_p50_ms=...
          remove_max_ms=... missed=M
A round whose first datagram does not come within TIMEOUT s counts as
missed.
"""
import argparse
import socket
import statistics
import struct
import subprocess
import sys
import time


def ms(ns):
    return ns / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True, help="castorctl")
    ap.add_argument("--socket", required=True, help="the relay's control socket")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--in", dest="input", required=True, help="IF:GROUP:PORT")
    ap.add_argument("--out", required=True, help="IF:GROUP:PORT")
    ap.add_argument("--listen-if", required=True, help="receiver's address")
    ap.add_argument("--silence", type=float, default=0.3)
    ap.add_argument("--timeout", type=float, default=2.0)
    a = ap.parse_args()

    _, group, port = a.out.split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((group, int(port)))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(a.listen_if))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)

    def ctl(*args):
        subprocess.run([a.ctl, "-u", a.socket, *args], check=True,
                       stdout=subprocess.DEVNULL)

    def drain_until_silent():
        """Reads until SILENCE s pass without a datagram; returns the last
        arrival's time (0 if none came)."""
        last = 0
        s.settimeout(a.silence)
        while True:
            try:
                s.recv(2048)
                last = time.monotonic_ns()
            except socket.timeout:
                return last

    adds, adds_sent, removes = [], [], []
    missed = 0
    drain_until_silent()
    for r in range(a.rounds):
        sent = time.monotonic_ns()
        ctl("add", "--name", "apply_probe", "--in", a.input, "--out", a.out)
        answered = time.monotonic_ns()
        s.settimeout(a.timeout)
        try:
            s.recv(2048)
            first = time.monotonic_ns()
        except socket.timeout:
            first = 0
        # Traffic flows through the rule for a while; read it as it comes,
        # so that nothing is queued when the remove is timed.
        until = time.monotonic() + 0.2
        s.settimeout(0.05)
        while time.monotonic() < until:
            try:
                s.recv(2048)
            except socket.timeout:
                pass
        sent_rm = time.monotonic_ns()
        ctl("remove", "apply_probe")
        answered_rm = time.monotonic_ns()
        last = drain_until_silent()
        if first == 0 or last == 0:
            missed += 1
            print(f"round {r} missed", flush=True)
            continue
        adds.append(ms(first - answered))
        adds_sent.append(ms(first - sent))
        removes.append(ms(last - answered_rm))
        print(f"round {r} add_answered_ms={adds[-1]:.3f} "
              f"add_sent_ms={adds_sent[-1]:.3f} "
              f"remove_answered_ms={removes[-1]:.3f} "
              f"remove_sent_ms={ms(last - sent_rm):.3f}", flush=True)
    if not adds:
        print(f"summary rounds={a.rounds} missed={missed}", flush=True)
        return 1
    print(f"summary rounds={a.rounds} add_p50_ms={statistics.median(adds):.3f} "
          f"add_max_ms={max(adds):.3f} "
          f"add_sent_p50_ms={statistics.median(adds_sent):.3f} "
          f"remove_p50_ms={statistics.median(removes):.3f} "
          f"remove_max_ms={max(removes):.3f} missed={missed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
