#!/usr/bin/env python3
"""The operator's documentation (issue 14) says what the issue asked for:

  - the README points operators at docs/operations.md first;
  - operations.md has a quick start on real interfaces, a troubleshooting
    section built around `castorctl diagnose`, the control protocol, and
    says which address families each part serves (issue 19: rules take
    IPv4 and IPv6, and so do the kernel path, peers and the bus; a rule
    that mixes the families takes the packet path);
  - the protocol section names every command the daemon decodes (the
    `commands` list of apps/relay/control/control_requests.cpp), so a new
    command fails this test until it is documented;
  - the shipped files say relay.toml, not relay.conf.

  operator_docs.py SOURCE_DIR
"""
import re
import sys

src = sys.argv[1]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAILED: " + msg)


readme = open(src + "/README.md").read()
if "**Operators:** start with [docs/operations.md]" not in readme:
    fail("README does not point operators at docs/operations.md")

ops = open(src + "/docs/operations.md").read()
for heading in ("## Quick start on real interfaces",
                "## Why is there no traffic?", "## The control protocol",
                "### Runtime changes that persist"):
    if heading not in ops:
        fail(f"operations.md lacks '{heading}'")
if "castorctl diagnose" not in ops.split("## Why is there no traffic?")[1][:4000]:
    fail("the troubleshooting section does not use castorctl diagnose")
if "IPv4 or IPv6" not in ops or "mixed-family rule takes the packet" not in \
        " ".join(ops.split()):
    fail("operations.md does not say which parts serve IPv6, and that a "
         "mixed-family rule takes the packet path")

protocol = ops.split("## The control protocol")[1].split("\n## ")[0]
code = open(src + "/apps/relay/control/control_requests.cpp").read()
listed = re.search(r"commands\{([^}]*)\}", code)
if not listed:
    fail("cannot read the command list of control_requests.cpp")
else:
    for cmd in re.findall(r'"([a-z_]+)"', listed.group(1)):
        if f"`{cmd}`" not in protocol:
            fail(f"the control protocol section does not name `{cmd}`")

for shipped in ("packaging/relay.toml", "config/castor-relay.service",
                "packaging/castor-relay.default"):
    if "relay.conf" in open(src + "/" + shipped).read():
        fail(f"{shipped} says relay.conf")

if failures:
    print(f"operator_docs: {len(failures)} failure(s)")
    sys.exit(1)
print("operator_docs: ok")
