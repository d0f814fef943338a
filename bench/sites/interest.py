#!/usr/bin/env python3
"""interest.py: how long a change of interest takes to start or stop a flow
across sites (issue 17: "Adding or removing the rule on site-b starts or
stops the flow within 100 ms, with no change on site-a").

Run by interest.sh in the receiving host's namespace while site-a's host
sends the group at a steady rate and site-a exports it to site-b. Each
round, on site-b only:
  add     writes site-b's config with the import rule and has the relay
          re-read it (PATH "reload": `castorctl reload`, timed from its
          answer; PATH "sighup": SIGHUP to the relay, timed from the
          signal), then waits for the first datagram on site-b's LAN:
          latency = first arrival - answer (or signal);
  remove  writes the config without the rule, has it re-read, and reads
          until the LAN is silent for SILENCE s: latency = last arrival -
          answer (or signal).
Arrivals are the kernel's receive stamps (stamped.py); the answer's time
is time.time_ns(), the same clock. Prints one line per round and a
summary line:
  summary path=P rounds=N add_p50_ms=... add_max_ms=... remove_p50_ms=...
          remove_max_ms=... missed=M
A round whose first datagram does not come within TIMEOUT s, or whose
flow does not stop, counts as missed.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import stamped


def ms(ns):
    return ns / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True, help="castorctl")
    ap.add_argument("--socket", required=True, help="site-b's control socket")
    ap.add_argument("--config", required=True, help="site-b's config file")
    ap.add_argument("--with-rule", required=True, help="the config with the import")
    ap.add_argument("--without-rule", required=True, help="the config without it")
    ap.add_argument("--pid", type=int, required=True, help="site-b's relay")
    ap.add_argument("--path", choices=["reload", "sighup"], required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--group", required=True, help="GROUP:PORT on site-b's LAN")
    ap.add_argument("--listen-if", required=True, help="receiver's address")
    ap.add_argument("--silence", type=float, default=0.3)
    ap.add_argument("--timeout", type=float, default=2.0)
    a = ap.parse_args()

    s = stamped.join(a.group, a.listen_if)

    def recv_stamp():
        return stamped.recv_stamp(s)

    def apply(config):
        """Puts `config` in place and has site-b re-read it; returns when
        the reload answered (or the signal was sent)."""
        shutil.copyfile(config, a.config + ".next")
        os.replace(a.config + ".next", a.config)
        if a.path == "reload":
            subprocess.run([a.ctl, "-u", a.socket, "reload"], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            os.kill(a.pid, signal.SIGHUP)
        return time.time_ns()

    def drain_until_silent():
        """Reads until SILENCE s pass without a datagram; returns the last
        arrival's time (0 if none came)."""
        last = 0
        s.settimeout(a.silence)
        while True:
            try:
                last = recv_stamp()
            except socket.timeout:
                return last

    adds, removes = [], []
    missed = 0
    apply(a.without_rule)
    drain_until_silent()
    for r in range(a.rounds):
        answered = apply(a.with_rule)
        s.settimeout(a.timeout)
        try:
            first = recv_stamp()
        except socket.timeout:
            first = 0
        # The flow runs for a while; read it as it comes, so that nothing
        # is queued when the removal is timed.
        until = time.monotonic() + 0.2
        s.settimeout(0.05)
        while time.monotonic() < until:
            try:
                recv_stamp()
            except socket.timeout:
                pass
        answered_rm = apply(a.without_rule)
        last = drain_until_silent()
        if first == 0 or last == 0:
            missed += 1
            print(f"round {r} missed (first={first} last={last})", flush=True)
            continue
        adds.append(ms(first - answered))
        removes.append(ms(last - answered_rm))
        print(f"round {r} add_ms={adds[-1]:.3f} remove_ms={removes[-1]:.3f}",
              flush=True)
    if not adds:
        print(f"summary path={a.path} rounds={a.rounds} missed={missed}",
              flush=True)
        return 1
    print(f"summary path={a.path} rounds={a.rounds} "
          f"add_p50_ms={statistics.median(adds):.3f} add_max_ms={max(adds):.3f} "
          f"remove_p50_ms={statistics.median(removes):.3f} "
          f"remove_max_ms={max(removes):.3f} missed={missed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
