#!/usr/bin/env bash
# The operator on call (issue 14), on the seed story "a rule on the wrong
# input interface":
#   1. a rule whose input is out2 while its traffic arrives on in0 shows 0
#      packets; `castorctl diagnose` finds the traffic on in0 and says the
#      input interface is probably wrong;
#   2. the rule that is right forwards, and diagnose says so; `groups`,
#      `status` and `stats` show the rules' traffic and memberships;
#   3. least privilege: a client that is not an admin (uid nobody) may read
#      but is refused `kill` and `remove`, and the daemon goes on;
#   4. a reload of the file, which lacks the runtime-added rule, keeps it
#      and names it.
#
# usage: relay_diagnose.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_diagnose
cst_relay_main "$@" dia
cst_topology 2

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
cst_rule "$config" right 239.57.1.1 5001 out1:239.67.1.1:6001
cst_start_relay "$config"

# The wrong rule: its traffic (239.57.2.1:5002) arrives on in0, but it
# listens on out2.
cst_check "add the rule on the wrong interface" \
  cst_ctl add --name wrong --in out2:239.57.2.1:5002 \
  --out out1:239.67.2.1:6002

# Both streams, for longer than the checks below take.
cst_start send1 "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.57.1.1:5001 --count 4000 --rate 200
cst_start send2 "$CST_NS_SEND" "$CST_SEND" --interface s0 \
  --group 239.57.2.1:5002 --count 4000 --rate 200

# ctl_ns ARGS...: castorctl inside the relay's namespace, where its look at
# the other interfaces must run.
ctl_ns() {
  timeout 20 ip netns exec "$CST_NS_RELAY" "$CST_CTL" -u "$CST_SOCK" "$@"
}
right_forwards() {
  ctl_ns diagnose right --look 0 >"$CST_WORK/right.txt" 2>&1
  grep -q '^ok: forwarding' "$CST_WORK/right.txt"
}
cst_check "diagnose: the right rule forwards" cst_until 15 right_forwards
cat "$CST_WORK/right.txt"

ctl_ns diagnose wrong --look 2 >"$CST_WORK/wrong.txt" 2>&1 || true
cat "$CST_WORK/wrong.txt"
cst_check "diagnose: the wrong rule has seen nothing" \
  grep -q 'packets in: 0 ' "$CST_WORK/wrong.txt"
cst_check "diagnose: traffic found on in0, the input is probably wrong" \
  grep -q '^most likely: traffic for 239.57.2.1:5002 arrives on in0 ([0-9]* datagrams), not on out2: the rule.s input interface is probably wrong' \
  "$CST_WORK/wrong.txt"
cst_check "diagnose --json carries the look" \
  bash -c "ip netns exec $CST_NS_RELAY $CST_CTL -u $CST_SOCK diagnose wrong \
    --json --look 1 | grep -q '\"elsewhere\":{\"interfaces\":{\"in0\"'"

cst_check "groups lists both memberships and their rules" \
  bash -c "$CST_CTL -u $CST_SOCK --plain groups | \
    grep -P '^in0\t239.57.1.1\t\*\tjoined\tright\t' >/dev/null && \
    $CST_CTL -u $CST_SOCK --plain groups | \
    grep -P '^out2\t239.57.2.1\t\*\tjoined\twrong\t0\t' >/dev/null"
cst_check "status names the silent rule" \
  bash -c "$CST_CTL -u $CST_SOCK status | grep -q '^silent rules *1: wrong$'"
cst_check "stats shows the right rule's rate" \
  bash -c "$CST_CTL -u $CST_SOCK --json stats | python3 -c '
import json, sys
rules = {r[\"name\"]: r for r in json.load(sys.stdin)[\"rules\"]}
assert rules[\"right\"][\"rate\"] > 50, rules
assert 0 <= rules[\"right\"][\"last_packet_s\"] < 5, rules
assert rules[\"wrong\"][\"packets\"] == 0, rules
'"

# 3. Least privilege. The socket (and its directory) opened to everyone
# for this test: the daemon, not the file mode, now tells reading from
# changing.
chmod o+x "$CST_WORK"
chmod 0666 "$CST_SOCK"
as_nobody() {
  timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$CST_CTL" -u "$CST_SOCK" "$@"
}
cst_check "a non-admin may list" as_nobody list
if as_nobody kill root/workers >"$CST_WORK/kill.txt" 2>&1; then
  refused=no
else
  refused=yes
fi
cat "$CST_WORK/kill.txt"
cst_expect "a non-admin is refused kill" yes "$refused"
cst_check "with a message that says why" \
  grep -q "permission denied: 'kill root/workers' changes the relay, and uid 65534 is not an admin" \
  "$CST_WORK/kill.txt"
cst_check "a non-admin is refused remove" \
  bash -c "! timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
    $CST_CTL -u $CST_SOCK remove right"
cst_check "the rule is still there" cst_rule_listed right
cst_check "the refusal is logged with uid and pid" \
  grep -q "control: refused 'kill root/workers' from uid 65534 pid" \
  "$CST_WORK/relay.out"
cst_check "an admin's change is logged with uid and pid" \
  grep -q "control: add wrong (uid $(id -u) pid" "$CST_WORK/relay.out"
cst_check "the daemon goes on" cst_ctl ping

# 4. A reload of the file, which lacks the runtime-added rule, says so. It
# keeps the rule (runtime changes persist, relay_persist.sh), and names it.
cst_ctl reload >"$CST_WORK/reload.txt" 2>&1 || true
cat "$CST_WORK/reload.txt"
cst_check "a reload names the runtime-added rule it keeps" \
  grep -q '^warning: kept rule wrong, added at runtime' "$CST_WORK/reload.txt"
cst_check "and logs it" \
  grep -q 'reload: keeps the rules added at runtime that .* lacks: wrong' \
  "$CST_WORK/relay.out"
cst_check "the rule is still there" cst_rule_listed wrong

cst_check "SIGTERM stops it with status 0" cst_stop_relay
cst_finish
