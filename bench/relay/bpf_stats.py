#!/usr/bin/env python3
"""What the tc programs on an interface cost per run, from the kernel's
BPF run-time statistics (run.sh's "BPF program ns/pkt" rows).

  bpf_stats.py hold        turns the statistics on and holds them on until
                           SIGTERM or SIGINT; prints "bpf stats on" once on
  bpf_stats.py sample DEV  prints "RUN_TIME_NS RUN_CNT", summed over the
                           programs on DEV's tc ingress (run it in DEV's
                           network namespace; needs bpftool)

bpf(BPF_ENABLE_STATS, BPF_STATS_RUN_TIME) returns a file descriptor; while
any such descriptor is open the kernel counts run_time_ns and run_cnt of
every BPF program. Holding it in a process, rather than writing the
kernel.bpf_stats_enabled sysctl, turns the statistics off again however
the bench ends, even killed. They cost every program run two clock reads,
so the bench holds them only around the trials that read them. run_time_ns
is the program's own time, the helpers it calls included (the clones
bpf_clone_redirect sends out and their transmit to the veth peer), and not
what the stack does with the frames after it.
"""
import ctypes
import json
import os
import platform
import signal
import subprocess
import sys

# __NR_bpf by architecture (asm/unistd.h).
NR_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "riscv64": 280}
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0


def hold() -> int:
    nr = NR_BPF.get(platform.machine())
    if nr is None:
        print(f"bpf stats: no bpf syscall number for {platform.machine()}",
              file=sys.stderr)
        return 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.c_uint32(BPF_STATS_RUN_TIME)  # union bpf_attr.enable_stats
    fd = libc.syscall(ctypes.c_long(nr), ctypes.c_long(BPF_ENABLE_STATS),
                      ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        err = ctypes.get_errno()
        print(f"bpf stats: BPF_ENABLE_STATS: {os.strerror(err)}",
              file=sys.stderr)
        return 1
    # Blocked before the message, so that a SIGTERM sent as soon as it is
    # read is waited for, not lost.
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    print("bpf stats on", flush=True)
    signal.sigwait(signals)
    os.close(fd)
    return 0


def bpftool(*args: str):
    out = subprocess.run(["bpftool", "-j", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else None


def sample(dev: str) -> int:
    ids = []
    for entry in bpftool("net", "show", "dev", dev) or []:
        for prog in entry.get("tc", []):
            if prog.get("kind") == "clsact/ingress":
                ids.append(prog.get("id", prog.get("prog_id")))
    run_ns = runs = 0
    for pid in ids:
        info = bpftool("prog", "show", "id", str(pid)) or {}
        run_ns += info.get("run_time_ns", 0)
        runs += info.get("run_cnt", 0)
    print(run_ns, runs)
    return 0


def main() -> int:
    if len(sys.argv) == 2 and sys.argv[1] == "hold":
        return hold()
    if len(sys.argv) == 3 and sys.argv[1] == "sample":
        return sample(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
