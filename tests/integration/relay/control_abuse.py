#!/usr/bin/env python3
"""Abusive clients for castor-relay's control socket (relay_control_abuse.sh).

usage: control_abuse.py SOCKET MODE [ARG]

Each mode prints one `result ...` line of key=value pairs and exits 0 when
the daemon behaved as the control server promises (control_server.hpp),
1 when it did not, 2 on bad usage. Every wait is bounded.

  crowd N      N clients connected at once; each sends one request (ping,
               list, stats, workers, version, tree in turn) only once all
               are connected; every one must get one line with "ok":true.
  silent S     connects and never writes; the daemon must close it (after
               its idle timeout, with an error line) within S seconds.
  flood MIB    sends MIB MiB without a newline; the daemon must close the
               connection before taking all of it.
  malformed    pipelines malformed lines (bad JSON, binary, invalid UTF-8,
               deep nesting, wrong types) on one connection, then a ping:
               one error line each, in order, then "ok":true.
"""

import json
import os
import resource
import select
import socket
import sys
import time

REQUESTS = [
    '{"cmd":"ping"}',
    '{"cmd":"list"}',
    '{"cmd":"stats"}',
    '{"cmd":"workers"}',
    '{"cmd":"version"}',
    '{"cmd":"tree"}',
]


def result(passed, **fields):
    print("result " + " ".join(f"{k}={v}" for k, v in fields.items()) +
          f" verdict={'ok' if passed else 'FAILED'}", flush=True)
    return 0 if passed else 1


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def crowd(path, n):
    # One descriptor per client, plus a few: raise the soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    socks = []
    refused = 0
    start = time.monotonic()
    for _ in range(n):
        try:
            socks.append(connect(path))
        except OSError:
            refused += 1
    # All connected; now every client asks.
    for i, s in enumerate(socks):
        s.sendall((REQUESTS[i % len(REQUESTS)] + "\n").encode())
        s.setblocking(False)
    buf = {s.fileno(): b"" for s in socks}
    pending = {s.fileno(): s for s in socks}
    ok = errors = closed = 0
    deadline = time.monotonic() + 60
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(500):
            s = pending.get(fd)
            if s is None:
                continue
            try:
                chunk = s.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                closed += 1
                poller.unregister(fd)
                del pending[fd]
                continue
            buf[fd] += chunk
            if b"\n" in buf[fd]:
                line = buf[fd].split(b"\n", 1)[0]
                try:
                    answer = json.loads(line)
                    if answer.get("ok") is True:
                        ok += 1
                    else:
                        errors += 1
                except ValueError:
                    errors += 1
                poller.unregister(fd)
                del pending[fd]
    for s in socks:
        s.close()
    return result(ok == n and refused == 0, clients=n, connected=len(socks),
                  refused=refused, ok=ok, errors=errors, closed=closed,
                  unanswered=len(pending),
                  seconds=f"{time.monotonic() - start:.2f}")


def silent(path, seconds):
    s = connect(path)
    start = time.monotonic()
    s.settimeout(seconds)
    got = b""
    closed = False
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    except OSError:
        closed = True
    elapsed = time.monotonic() - start
    s.close()
    answer = got.decode(errors="replace").strip().replace(" ", "_")[:120]
    return result(closed and b'"ok":false' in got, closed=closed,
                  after_s=f"{elapsed:.1f}", answer=answer or "none")


def flood(path, mib):
    s = connect(path)
    total = mib << 20
    chunk = b"a" * (1 << 16)
    sent = 0
    closed_by_server = False
    start = time.monotonic()
    s.settimeout(20)
    try:
        while sent < total and time.monotonic() - start < 60:
            sent += s.send(chunk[: min(len(chunk), total - sent)])
    except (BrokenPipeError, ConnectionResetError):
        closed_by_server = True
    except socket.timeout:
        pass  # the daemon stopped reading without closing: a failure
    answer = b""
    if not closed_by_server:
        # Everything went out: the daemon must still hang up, not wait for
        # a newline forever.
        try:
            s.shutdown(socket.SHUT_WR)
            while True:
                part = s.recv(4096)
                if not part:
                    break
                answer += part
            closed_by_server = sent < total
        except OSError:
            closed_by_server = True
    s.close()
    return result(closed_by_server and sent < total, mib=mib,
                  sent_bytes=sent, closed_by_server=closed_by_server,
                  seconds=f"{time.monotonic() - start:.2f}")


MALFORMED = [
    b"this is not json",
    b"{",
    b"[1,2,3]",
    b"null",
    b'{"cmd":42}',
    b'{"cmd":"ping","extra":{"deep":[1,2,3]}}',
    b'{"cmd":"add","rule":"not a rule"}',
    b'{"cmd":"remove","name":["x"]}',
    b'{"cmd":"kill","path":""}',
    b'{"cmd":"\xff\xfe\xfd"}',                    # invalid UTF-8
    b"\x00\x01\x02 binary \x7f\x80",              # NULs and control bytes
    b"[" * 30000 + b"]" * 30000,                  # deep nesting, < 64 KiB
    b'{"cmd":"ping","cmd":"list"}',               # duplicate member
    b'{"cmd":"stats"} trailing',
]


def malformed(path):
    s = connect(path)
    payload = b"".join(line + b"\n" for line in MALFORMED)
    payload += b'{"cmd":"ping"}\n'
    s.sendall(payload)
    s.settimeout(20)
    data = b""
    want = len(MALFORMED) + 1
    try:
        while data.count(b"\n") < want:
            part = s.recv(1 << 16)
            if not part:
                break
            data += part
    except socket.timeout:
        pass
    s.close()
    lines = data.split(b"\n")[:-1]
    rejected = 0
    for sent, line in zip(MALFORMED, lines):
        try:
            answer = json.loads(line)
            if answer.get("ok") is False and answer.get("error"):
                rejected += 1
                continue
        except ValueError:
            pass
        print(f"not rejected: {sent[:60]!r} -> {line[:200]!r}", flush=True)
    ping_ok = False
    if len(lines) == want:
        try:
            ping_ok = json.loads(lines[-1]).get("ok") is True
        except ValueError:
            pass
    return result(rejected == len(MALFORMED) and ping_ok,
                  lines_sent=len(MALFORMED), answers=len(lines),
                  rejected=rejected, ping_after=ping_ok)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, mode = argv[1], argv[2]
    if mode == "crowd" and len(argv) == 4:
        return crowd(path, int(argv[3]))
    if mode == "silent" and len(argv) == 4:
        return silent(path, float(argv[3]))
    if mode == "flood" and len(argv) == 4:
        return flood(path, int(argv[3]))
    if mode == "malformed" and len(argv) == 3:
        return malformed(path)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
