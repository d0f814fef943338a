#!/usr/bin/env python3
"""Checks the shipped Prometheus alert rules and Grafana dashboard
(packaging/monitoring/, issue 14):

  - the rules file is valid YAML of the rule-file shape (groups, each rule
    with alert, expr, labels.severity and annotations.summary), and, when
    `promtool check rules` accepts it and `promtool test rules` runs the
    alerts' unit tests (tests/install/castor-alerts_test.yml): relay down,
    drops rising and rule silent fire when they should, and only then;
  - the dashboard is JSON with panels whose targets have expressions;
  - every castor_ metric named in either exists: it is a family the relay
    exports (apps/relay/metrics/metrics_families.cpp), so a renamed metric
    fails this test until the rules and dashboard follow.

Debian's `prometheus` package (which has promtool) installs ~100 MB and
starts a server: scripts/install-deps.sh takes only promtool out of it.

  monitoring_check.py SOURCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

src = sys.argv[1]
mon = src + "/packaging/monitoring"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAILED: " + msg)


families = set(
    re.findall(r'family\(\s*"([a-z_]+)"',
               open(src + "/apps/relay/metrics/metrics_families.cpp").read()))
families |= set(
    re.findall(r'one\(\s*"([a-z_]+)"',
               open(src + "/apps/relay/metrics/metrics_families.cpp").read()))
if "castor_rule_packets_total" not in families:
    fail("could not read the metric families from metrics_families.cpp")


def check_names(where, expr):
    for name in re.findall(r"\b((?:castor|process)_[a-z_]+)", expr):
        if name not in families:
            fail(f"{where}: {name} is not a metric castor-relay exports")


rules = yaml.safe_load(open(mon + "/castor-alerts.yml"))
alerts = []
for g in rules.get("groups", []):
    if not g.get("name"):
        fail("a rule group without a name")
    for r in g.get("rules", []):
        name = r.get("alert")
        alerts.append(name)
        if not name or not r.get("expr"):
            fail(f"rule {r}: needs alert and expr")
            continue
        if "severity" not in r.get("labels", {}):
            fail(f"{name}: no severity label")
        if "summary" not in r.get("annotations", {}):
            fail(f"{name}: no summary annotation")
        check_names(name, r["expr"])
for wanted in ("CastorRelayDown", "CastorOutputDropsRising",
               "CastorRuleSilent"):
    if wanted not in alerts:
        fail(f"no alert {wanted}")

# promtool: $CASTOR_PROMTOOL, the one scripts/install-deps.sh takes out of
# Debian's prometheus package, or one on PATH. Required: the issue asks for
# the rules to be checked by promtool, and for its unit tests of the alerts
# (tests/install/castor-alerts_test.yml) to pass.
promtool = os.environ.get("CASTOR_PROMTOOL") or next(
    (p for p in (os.environ.get("CASTOR_DEB_TEST_CACHE",
                                "/var/cache/castor-test") + "/promtool",
                 shutil.which("promtool")) if p and os.access(p, os.X_OK)),
    None)
if not promtool:
    fail("no promtool: run scripts/install-deps.sh (test), which takes it "
         "out of Debian's prometheus package, or set CASTOR_PROMTOOL")
else:
    if subprocess.run([promtool, "check", "rules",
                       mon + "/castor-alerts.yml"]).returncode != 0:
        fail("promtool check rules")
    if subprocess.run([promtool, "test", "rules",
                       src + "/tests/install/castor-alerts_test.yml"
                       ]).returncode != 0:
        fail("promtool test rules (tests/install/castor-alerts_test.yml)")

dash = json.load(open(mon + "/castor-dashboard.json"))
panels = dash.get("panels", [])
if not panels:
    fail("the dashboard has no panels")
for p in panels:
    targets = p.get("targets", [])
    if not targets or not all(t.get("expr") for t in targets):
        fail(f"panel {p.get('title')}: a target without an expression")
    for t in targets:
        check_names("panel " + p.get("title", "?"), t.get("expr", ""))

if failures:
    print(f"monitoring_check: {len(failures)} failure(s)")
    sys.exit(1)
print(f"monitoring_check: ok ({len(alerts)} alerts, {len(panels)} panels)")
