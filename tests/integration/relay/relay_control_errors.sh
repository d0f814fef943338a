#!/usr/bin/env bash
# Bad control requests get error answers ({"ok":false,"error":...}) and the
# daemon keeps running: malformed JSON, unknown commands and members, an
# invalid or duplicate rule, removing or killing what does not exist, rules
# over the buffer memory cap (by add, add --from and reload: the need and
# the cap are stated, nothing is installed). A
# client that connects and says nothing, and one that sends an oversized
# line, must not block anyone else. Afterwards the relay still answers,
# still has exactly its rule, and still forwards.
#
# Raw requests go through socat (UNIX-CONNECT), since castorctl refuses to
# send malformed ones.
#
# usage: relay_control_errors.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_control_errors
cst_relay_main "$@" ctl
cst_need socat
cst_topology 1

config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
# A 2 MiB cap on buffer memory: feed's one output group with one worker
# takes 1152 KiB (a send ring of 256 frames of 2048 bytes and 2048 slots of
# 256 bytes, and 64 receive frames); a second group would make it 2176 KiB.
sed -i 's/^\[relay\]$/[relay]\nmax_buffer_memory_mib = 2/' "$config"
cst_rule "$config" feed 239.57.1.1 5001 out1:239.67.1.1:6001
cst_start_relay "$config"

# raw LINE: one request on a connection of its own; prints the answer.
raw() {
  printf '%s\n' "$1" | timeout 10 socat -t 2 - "UNIX-CONNECT:$CST_SOCK"
}

# rejected LINE: the answer is one line with "ok":false and an error text.
rejected() {
  local answer
  answer=$(raw "$1") || true
  echo "request: ${1:0:120}"
  echo "answer:  ${answer:0:300}"
  [[ $(wc -l <<<"$answer") -eq 1 ]] &&
    grep -q '"ok":false' <<<"$answer" &&
    grep -q '"error":"[^"]' <<<"$answer"
}

good_rule='{"name":"feed","input":{"interface":"in0","group":"239.57.1.1","port":5001},"outputs":[{"interface":"out1","address":"239.67.1.1","port":6001}]}'
cst_check "malformed JSON" rejected 'this is not json'
cst_check "not an object" rejected '[1,2,3]'
cst_check "no cmd" rejected '{"name":"feed"}'
cst_check "unknown command" rejected '{"cmd":"frobnicate"}'
cst_check "unknown member" rejected '{"cmd":"ping","extra":1}'
cst_check "wrong member type" rejected '{"cmd":"remove","name":42}'
cst_check "invalid rule" rejected \
  '{"cmd":"add","rule":{"name":"x","input":{"interface":"in0","group":"10.1.1.1","port":0},"outputs":[]}}'
cst_check "duplicate rule" rejected "{\"cmd\":\"add\",\"rule\":$good_rule}"
cst_check "remove an unknown rule" rejected \
  '{"cmd":"remove","name":"no-such-rule"}'
cst_check "kill an unknown actor" rejected \
  '{"cmd":"kill","path":"root/no/such/actor"}'

# over_cap CMD...: castorctl CMD fails and states the need and the cap.
over_cap() {
  local out rc=0
  out=$(cst_ctl "$@" 2>&1) || rc=$?
  echo "castorctl $*: $out"
  [[ $rc -ne 0 ]] &&
    grep -q "need 3 MiB of buffer memory" <<<"$out" &&
    grep -q "max_buffer_memory_mib, is 2 MiB" <<<"$out"
}
cst_check "add over the memory cap is refused, stating need and cap" \
  over_cap add --name big --in in0:239.57.1.2:5002 \
  --out out1:239.67.1.2:6002:ttl=2
echo "big2 in0:239.57.1.3:5003 out1:239.67.1.3:6003:tos=184" \
  >"$CST_WORK/more.rules"
cst_check "add --from over the memory cap is refused" \
  over_cap add --from "$CST_WORK/more.rules"
cp "$config" "$CST_WORK/relay.toml.saved"
cst_rule "$config" big3 239.57.1.4 5004 out1:239.67.1.4:6004:4
cst_check "a reload over the memory cap is refused" over_cap reload
cp "$CST_WORK/relay.toml.saved" "$config"

alive() { kill -0 "$(cst_pid relay)" && cst_ctl ping >/dev/null; }

oversized() {
  # 4 MiB without a newline: the daemon may answer with an error or close
  # the connection, but must not buffer without end or stop serving.
  head -c $((4 << 20)) /dev/zero | tr '\0' 'a' |
    timeout 10 socat -t 2 - "UNIX-CONNECT:$CST_SOCK" >/dev/null 2>&1 || true
  alive
}
cst_check "an oversized request leaves the daemon serving" oversized

silent_client_blocks_nobody() {
  # Connects and says nothing for 4 s; meanwhile others are served.
  cst_start silent "$CST_NS_RELAY" bash -c \
    "sleep 4 | socat -t 1 - UNIX-CONNECT:$CST_SOCK"
  sleep 0.3
  local i
  for i in 1 2 3; do
    timeout 5 "$CST_CTL" -u "$CST_SOCK" -t 2 ping >/dev/null || return 1
  done
}
cst_check "a silent client blocks nobody" silent_client_blocks_nobody

cst_check "the daemon is still running and answers" alive
only_feed() {
  local listed
  listed=$(cst_ctl list | awk 'NR > 1 && $1 != "" { print $1 }')
  echo "rules: $listed"
  [[ $listed == feed ]]
}
cst_check "exactly the configured rule remains" only_feed

cst_check "and still forwards" \
  cst_pass fwd "${CST_NS_RECV[1]}" --group 239.67.1.1:6001 --interface c0 \
  --expect-count 1000 --expect-zero-loss --expect-no-duplicates \
  --duration 20 -- --group 239.57.1.1:5001 --count 1000 --rate 10000
cst_finish
