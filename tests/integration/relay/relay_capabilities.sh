#!/usr/bin/env bash
# castor-relay with least privilege, as castor-relay.service runs it: a
# non-root user (nobody) holding exactly CAP_NET_RAW and CAP_NET_ADMIN as
# ambient capabilities (setpriv, like AmbientCapabilities=). Checks:
#
#   1. with both capabilities, ingress = "packet": the process runs as
#      nobody with exactly those two in its effective set and forwards
#      every datagram; it speaks systemd's notify protocol to a socket of
#      ours (READY=1, WATCHDOG=1 beats at WATCHDOG_USEC/2 that come from the
#      root supervisor answering, STOPPING=1 at SIGTERM); castorctl changes
#      one component's log level;
#   2. with none, ingress = "packet": it exits 2 at once with a message
#      naming CAP_NET_RAW and the option, and opens no control socket;
#   3. with none, ingress = "auto": it says it falls back to UDP sockets,
#      warns about CAP_NET_ADMIN, and still forwards every datagram.
#
# usage: relay_capabilities.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_capabilities
cst_relay_main "$@" cap
cst_need setpriv
cst_topology 1

relay_bin=$CST_RELAY
unprivileged_uid=65534
# The relay, running as nobody, reaches its config, its control socket and
# the notify socket here; the scratch directory itself is root's (0700).
chmod 0711 "$CST_WORK"
run_dir=$CST_WORK/run
mkdir "$run_dir"
chown "$unprivileged_uid:$unprivileged_uid" "$run_dir"
chmod 0770 "$run_dir"

# as_nobody CAPS: a wrapper that runs the relay as nobody with CAPS ("" for
# none; e.g. "+net_raw,+net_admin") inherited and ambient, as systemd's
# User= and AmbientCapabilities= do. cst_start_relay runs $CST_RELAY.
as_nobody() {
  local caps=$1 wrapper=$CST_WORK/relay-as-nobody.sh
  {
    echo '#!/bin/sh'
    if [[ -n $caps ]]; then
      echo "exec setpriv --reuid=$unprivileged_uid --regid=$unprivileged_uid \
--clear-groups --inh-caps=$caps --ambient-caps=$caps \"$relay_bin\" \"\$@\""
    else
      echo "exec setpriv --reuid=$unprivileged_uid --regid=$unprivileged_uid \
--clear-groups --inh-caps=-all \"$relay_bin\" \"\$@\""
    fi
  } >"$wrapper"
  chmod 0755 "$wrapper"
  CST_RELAY=$wrapper
}

# write_config INGRESS: one rule 239.71.0.1:5601 on in0 -> 239.72.0.1:5602
# on out1, control socket in the run directory.
config=$CST_WORK/relay.toml
write_config() {
  cst_relay_config "$config" 1 "$1"
  CST_SOCK=$run_dir/relay.sock
  sed -i "s|^control_socket = .*|control_socket = \"$CST_SOCK\"|" "$config"
  cst_rule "$config" caps 239.71.0.1 5601 out1:239.72.0.1:5602
  chmod 0644 "$config"
}

forwards_all() {
  cst_pass "recv-$1" "${CST_NS_RECV[1]}" --group 239.72.0.1:5602 \
    --interface c0 --expect-count 2000 --expect-zero-loss \
    --expect-no-duplicates --duration 20 -- \
    --group 239.71.0.1:5601 --count 2000 --rate 10000
}

# The status line of the relay's process: "Uid: ...", "CapEff: ...".
proc_field() { awk -v k="$1:" '$1 == k { print $2; exit }' "/proc/$(cst_pid relay)/status"; }

runs_as_nobody() { [[ $(proc_field Uid) == "$unprivileged_uid" ]]; }

# CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13: 0x3000 and nothing else.
has_exactly_net_raw_and_admin() {
  local eff
  eff=$(proc_field CapEff)
  [[ $((16#$eff)) -eq $((1 << 12 | 1 << 13)) ]] || {
    echo "CapEff is $eff" >&2
    return 1
  }
}

unknown_component_refused() {
  local out rc=0
  out=$(cst_ctl log-level fowarder debug 2>&1) || rc=$?
  echo "$out"
  [[ $rc -ne 0 && $out == *"all, relay, forwarder, control, config"* ]]
}

# -- the notify socket: a recorder that prints one datagram a line ----------
notify_log=$CST_WORK/notify.log
notify_sock=$run_dir/notify.sock
start_notify_recorder() {
  # Bounded: it ends after 60 s whatever happens.
  python3 - "$notify_sock" "$notify_log" "$unprivileged_uid" <<'PY' &
import os, socket, sys, time
path, log, uid = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chown(path, uid, uid)
s.settimeout(0.2)
end = time.monotonic() + 60
with open(log, "w", buffering=1) as out:
    out.write("listening\n")
    while time.monotonic() < end:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        out.write(data.decode(errors="replace").replace("\n", " ") + "\n")
PY
  cst_track notify $!
  local i
  for ((i = 0; i < 250; i++)); do
    grep -q '^listening$' "$notify_log" 2>/dev/null && return 0
    sleep 0.02
  done
  echo "$CST_NAME: the notify recorder did not start" >&2
  return 1
}

# notified PATTERN COUNT SECONDS: until the recorder has COUNT lines
# matching PATTERN (bounded).
notified() {
  local pattern=$1 count=$2 limit=$3 i
  for ((i = 0; i < limit * 50; i++)); do
    (($(grep -c -- "$pattern" "$notify_log" || true) >= count)) && return 0
    sleep 0.02
  done
  echo "$CST_NAME: fewer than $count '$pattern' notifications:" >&2
  cat "$notify_log" >&2
  return 1
}

# -- 1. exactly the two capabilities, packet ingress ----------------------------
have_python=0
command -v python3 >/dev/null && have_python=1
write_config packet
as_nobody "+net_raw,+net_admin"
if ((have_python)); then
  start_notify_recorder
  # Through the wrapper's environment, as systemd would set them. 400 ms:
  # beats every 200 ms, each after the root answered within 100 ms.
  export NOTIFY_SOCKET=$notify_sock WATCHDOG_USEC=400000
fi
cst_start_relay "$config"
unset NOTIFY_SOCKET WATCHDOG_USEC
cst_check "the relay runs as nobody" runs_as_nobody
cst_check "with exactly CAP_NET_RAW and CAP_NET_ADMIN effective" \
  has_exactly_net_raw_and_admin
cst_check "and says nothing about missing capabilities" \
  bash -c "! grep -q 'CAP_NET' '$CST_WORK/relay.out'"
cst_check "AF_PACKET ingress as nobody forwards 2000 of 2000" forwards_all packet
cst_check "castorctl log-level forwarder debug" \
  cst_ctl log-level forwarder debug
cst_check "an unknown component is refused, naming the known ones" \
  unknown_component_refused
if ((have_python)); then
  cst_check "READY=1 once the tree is up" notified '^READY=1$' 1 5
  cst_check "STATUS= with the rule count" notified '^STATUS=1 rules' 1 5
  cst_check "WATCHDOG=1 beats while the root answers" \
    notified '^WATCHDOG=1$' 3 10
fi
cst_check "SIGTERM stops it with status 0" cst_stop_relay
if ((have_python)); then
  cst_check "STOPPING=1 when the tree shuts down" notified '^STOPPING=1$' 1 5
else
  echo "note: no python3, the notify protocol was not checked"
fi

# -- 2. no capabilities, packet ingress: refuses to start ------------------------
as_nobody ""
rm -f "$CST_SOCK"
rc=0
timeout 20 ip netns exec "$CST_NS_RELAY" "$CST_RELAY" -n -f "$config" \
  >"$CST_WORK/nocaps.out" 2>&1 || rc=$?
cat "$CST_WORK/nocaps.out"
cst_check "without CAP_NET_RAW it exits 2" test "$rc" -eq 2
cst_check "naming CAP_NET_RAW and the ingress option" \
  grep -q 'ingress = "packet" needs CAP_NET_RAW (AF_PACKET sockets); grant it (AmbientCapabilities=CAP_NET_RAW) or set \[relay\] ingress = "socket"' \
  "$CST_WORK/nocaps.out"
cst_check "before it opened the control socket" test ! -e "$CST_SOCK"

# -- 3. no capabilities, ingress = "auto": falls back to sockets -----------------
write_config auto
cst_start_relay "$config"
cst_check "auto says it falls back to UDP sockets" \
  grep -q 'ingress = "auto": no CAP_NET_RAW, using UDP sockets' \
  "$CST_WORK/relay.out"
cst_check "and warns that CAP_NET_ADMIN is missing" \
  grep -q 'no CAP_NET_ADMIN: socket buffers fall back' "$CST_WORK/relay.out"
cst_check "the forwarder uses UDP sockets" \
  grep -q 'forwarding from in0 (UDP sockets)' "$CST_WORK/relay.out"
cst_check "socket ingress as nobody without capabilities forwards 2000 of 2000" \
  forwards_all auto
cst_check "SIGTERM stops it with status 0" cst_stop_relay

# -- 4. the kernel data path (issue 16) without CAP_BPF --------------------------
# As the unit runs it minus CAP_BPF: datapath = "kernel" is refused at -t
# and at start, naming the capability; "auto" falls back and forwards.
as_nobody "+net_raw,+net_admin"
write_config packet
sed -i 's|^\[relay\]$|[relay]\ndatapath = "kernel"|' "$config"
rc=0
timeout 20 ip netns exec "$CST_NS_RELAY" "$CST_RELAY" -t -f "$config" \
  >"$CST_WORK/nobpf-t.out" 2>&1 || rc=$?
cat "$CST_WORK/nobpf-t.out"
cst_check "-t says datapath = kernel needs CAP_BPF" \
  grep -q 'datapath = "kernel": the kernel data path needs CAP_BPF' \
  "$CST_WORK/nobpf-t.out"
rm -f "$CST_SOCK"
rc=0
timeout 20 ip netns exec "$CST_NS_RELAY" "$CST_RELAY" -n -f "$config" \
  >"$CST_WORK/nobpf.out" 2>&1 || rc=$?
cat "$CST_WORK/nobpf.out"
cst_check "without CAP_BPF datapath = kernel exits 2" test "$rc" -eq 2
cst_check "naming CAP_BPF" \
  grep -q 'datapath = "kernel": the kernel data path needs CAP_BPF' \
  "$CST_WORK/nobpf.out"
sed -i 's|^datapath = "kernel"$|datapath = "auto"|' "$config"
cst_start_relay "$config"
cst_check "auto warns and uses the packet data path" \
  grep -q 'datapath = "auto": the kernel data path needs CAP_BPF.*using the packet data path' \
  "$CST_WORK/relay.out"
cst_check "and forwards 2000 of 2000" forwards_all nobpf
cst_check "SIGTERM stops it with status 0" cst_stop_relay

cst_finish
