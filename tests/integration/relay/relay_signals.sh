#!/usr/bin/env bash
# Signals and log files (issue 14):
#   1. SIGUSR1 dumps the state to the log (rules, a runtime-added one among
#      them, the workers and the supervision tree) and the daemon lives on;
#   2. SIGUSR2 does not end it either, and the runtime-added rule stays;
#   3. after the log file is moved away, SIGUSR2 makes the relay write a
#      new one at the same path, and later lines go there;
#   4. the shipped logrotate snippet (packaging/castor-relay.logrotate),
#      pointed at this test's log directory: `logrotate -d` accepts it, and
#      `logrotate -f` rotates the file and its postrotate signals the relay
#      (systemctl kill, stubbed here to signal this test's relay by PID),
#      which starts a new file;
#   5. SIGTERM still stops it cleanly (exit 0, no socket left behind).
#
# usage: relay_signals.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
snippet=$here/../../../packaging/castor-relay.logrotate
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_signals
cst_relay_main "$@" sig
cst_topology 1

logdir=$CST_WORK/log
mkdir -p "$logdir"
log=$logdir/relay.log
config=$CST_WORK/relay.toml
cst_relay_config "$config" 1 packet
sed -i "/^\[relay\]/a log_target = \"file:$log\"" "$config"
cst_rule "$config" static 239.56.1.1 5001 out1:239.66.1.1:6001
cst_start_relay "$config"
pid=$(cst_pid relay)

cst_check "add a rule at runtime" \
  cst_ctl add --name runtime --in in0:239.56.1.2:5002 \
  --out out1:239.66.1.2:6002

alive() { kill -0 "$pid" 2>/dev/null; }
# in_log FILE PATTERN: FILE has a line matching PATTERN (bounded 10 s: the
# file sink flushes info lines every second).
in_log() { cst_until 10 grep -q -- "$2" "$1"; }
dumps() { grep -c 'end of state dump' "$1" 2>/dev/null || true; }

# 1. USR1: the dump.
kill -USR1 "$pid"
cst_check "SIGUSR1: the dump ends in the log" in_log "$log" 'end of state dump'
cst_check "SIGUSR1: the daemon lives" alive
cst_check "the dump lists the runtime-added rule" \
  grep -q 'dump rules: runtime  *in0 239.56.1.2:5002' "$log"
cst_check "the dump lists the static rule" \
  grep -q 'dump rules: static  *in0 239.56.1.1:5001' "$log"
cst_check "the dump lists the workers" \
  grep -q 'dump workers: fwd-in0-1  *in0  *running' "$log"
cst_check "the dump shows the tree" \
  grep -q 'dump tree: root/.*fwd-in0-1 ' "$log"

# 2. USR2 without a rotation: nothing changes, nothing is lost.
kill -USR2 "$pid"
cst_check "SIGUSR2: logged" in_log "$log" 'reopened the log file'
cst_check "SIGUSR2: the daemon lives" alive
cst_check "the runtime-added rule is still there" cst_rule_listed runtime
cst_check "it still answers" cst_ctl ping

# 3. A rotation by hand: move the file, USR2, a new file at the path.
mv "$log" "$log.moved"
kill -USR2 "$pid"
cst_check "after a move and SIGUSR2 a new file is written" \
  in_log "$log" 'reopened the log file'
kill -USR1 "$pid"
cst_check "later lines go to the new file" in_log "$log" 'end of state dump'
cst_expect "the moved file got no new dump" 1 "$(dumps "$log.moved")"
cst_check "the daemon lives" alive

# 4. The shipped snippet, on this test's directory, with its own state
# file. systemctl is stubbed: it records its arguments and signals this
# relay as `systemctl kill --signal=USR2` would signal the unit's main PID.
cst_need logrotate
conf=$CST_WORK/logrotate.conf
sed "s|^/var/log/castor/\*\.log|$logdir/*.log|" "$snippet" >"$conf"
chmod 0644 "$conf"
stub=$CST_WORK/bin
mkdir -p "$stub"
cat >"$stub/systemctl" <<STUB
#!/bin/sh
echo "\$*" >>"$CST_WORK/systemctl.args"
case " \$* " in
*" kill "*--signal=USR2*) kill -USR2 $pid ;;
esac
STUB
chmod 0755 "$stub/systemctl"
rm -f "$log.moved"
debug_out=$CST_WORK/logrotate-d.out
cst_check "logrotate -d accepts the snippet" \
  bash -c "logrotate -d -s '$CST_WORK/state' '$conf' >'$debug_out' 2>&1"
cst_check "logrotate -d considers the relay's log" grep -q "$log" "$debug_out"
cst_check "logrotate -d reports no error" \
  bash -c "! grep -qi 'error' '$debug_out'"
cat "$debug_out"
cst_check "logrotate -f rotates" \
  env PATH="$stub:$PATH" logrotate -f -s "$CST_WORK/state" "$conf"
cst_check "the old file is relay.log.1" grep -q 'end of state dump' "$log.1"
cst_check "postrotate ran systemctl kill with USR2 for the relay's units" \
  grep -q -- "kill --kill-who=main --signal=USR2 castor-relay\*.service" \
  "$CST_WORK/systemctl.args"
cst_check "the relay started a new file" in_log "$log" 'reopened the log file'
cst_check "the daemon lives" alive
cst_check "a second rotation compresses the first" \
  env PATH="$stub:$PATH" logrotate -f -s "$CST_WORK/state" "$conf"
cst_check "relay.log.2.gz holds the first rotation" \
  bash -c "zcat '$log.2.gz' | grep -q 'end of state dump'"
cst_check "the runtime-added rule survived all of it" cst_rule_listed runtime

# 5. TERM still stops it cleanly.
rc=0
cst_stop_relay || rc=$?
cst_expect "SIGTERM: exit 0" 0 "$rc"
cst_check "no control socket left behind" test ! -e "$CST_SOCK"
cst_finish
