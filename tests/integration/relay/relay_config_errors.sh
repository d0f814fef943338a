#!/usr/bin/env bash
# Bad config files: `castor-relay -t -f FILE` exits non-zero and prints each
# problem as FILE:LINE:COL: message, at the line where it is, and all of
# them when there are several. A good file passes. No namespaces needed,
# but like every relay test it runs as root only (77 otherwise).
#
# usage: relay_config_errors.sh TOOLS_DIR CASTOR_RELAY CASTORCTL
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CST_NAME=relay_config_errors
cst_relay_main "$@" cfg

dir=$CST_WORK

# expect_errors FILE LINE...: -t fails and reports every LINE of FILE.
expect_errors() {
  local file=$1 out rc=0 line
  shift
  out=$(timeout 10 "$CST_RELAY" -t -f "$file" 2>&1) || rc=$?
  echo "$out"
  if [[ $rc -eq 0 ]]; then
    echo "castor-relay -t accepted $file"
    return 1
  fi
  for line in "$@"; do
    if ! grep -qF -- "$file:$line:" <<<"$out" ||
       ! grep -qE -- ":$line:[0-9]+: [^ ]" <<<"$out"; then
      echo "no '$file:$line:COL: message' in the output"
      return 1
    fi
  done
}

cat >"$dir/unknown-key.toml" <<'TOML'
[relay]
workers = 2
colour = "blue"
TOML
cst_check "unknown key" expect_errors "$dir/unknown-key.toml" 3

cat >"$dir/bad-address.toml" <<'TOML'
[relay]
workers = 1

[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.300", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]
TOML
cst_check "bad address" expect_errors "$dir/bad-address.toml" 6

cat >"$dir/bad-port.toml" <<'TOML'
[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 70000 },
]
TOML
cst_check "port out of range" expect_errors "$dir/bad-port.toml" 5

cat >"$dir/duplicate-name.toml" <<'TOML'
[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]

[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.2", port = 5002 }
outputs = [ { interface = "eth1", address = "239.2.2.3", port = 6002 } ]
TOML
cst_check "duplicate rule name" expect_errors "$dir/duplicate-name.toml" 7

# Two rules sending one flow (same output, same fixed source port): the
# second is refused at its line, naming the first.
cat >"$dir/same-flow.toml" <<'TOML'
[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, source_port = 7000 } ]

[[rule]]
name = "b"
input = { interface = "eth0", group = "239.1.1.2", port = 5002 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, source_port = 7000 } ]
TOML
names_rule_a() {
  local out
  expect_errors "$@" || return 1
  out=$(timeout 10 "$CST_RELAY" -t -f "$1" 2>&1) || true
  [[ $out == *"of rule 'a'"*"rule 'b''s"* ]]
}
cst_check "two rules' outputs sending one flow from a fixed source port" \
  names_rule_a "$dir/same-flow.toml" 9

cat >"$dir/output-is-input.toml" <<'TOML'
[[rule]]
name = "loop"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth0", address = "239.1.1.1", port = 5001 } ]
TOML
cst_check "output equal to its input" \
  expect_errors "$dir/output-is-input.toml" 4

cat >"$dir/syntax.toml" <<'TOML'
[relay]
workers = 2
ingress = "packet
TOML
cst_check "syntax error" expect_errors "$dir/syntax.toml" 3

cat >"$dir/unknown-output-key.toml" <<'TOML'
[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, tll = 4 } ]
TOML
cst_check "unknown key in an output" \
  expect_errors "$dir/unknown-output-key.toml" 4

cat >"$dir/several.toml" <<'TOML'
[relay]
workers = 2
ingress = "carrier-pigeon"

[[rule]]
name = "a"
input = { interface = "eth0", group = "10.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 0 } ]
TOML
cst_check "several errors, all reported" \
  expect_errors "$dir/several.toml" 3 7 8

cat >"$dir/good.toml" <<'TOML'
[relay]
workers = 2
ingress = "packet"

[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001, source = "10.0.0.5" }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = 4 },
  { interface = "eth2", address = "10.9.9.9", port = 7000 },
]
TOML
good() { timeout 10 "$CST_RELAY" -t -f "$dir/good.toml"; }
cst_check "a good file passes -t" good

# Two output groups (TTL 1 and 4 on eth1) x 2 workers, each group a send
# ring of 256 x 2048 bytes of payload and 2048 slots of 256 bytes, plus 64
# receive frames per worker: 2 x (2 x 1 MiB + 128 KiB) = 4.25 MiB of
# buffers, over a 4 MiB cap; 9216-byte frames make one group 6.6 MiB,
# over a 6 MiB cap.
over_cap_file() {
  cat >"$dir/$1.toml" <<TOML
[relay]
workers = 2
max_buffer_memory_mib = $2
max_frame = $3

[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]
TOML
  [[ $4 == 1 ]] || cat >>"$dir/$1.toml" <<TOML

[[rule]]
name = "b"
input = { interface = "eth0", group = "239.1.1.2", port = 5002 }
outputs = [ { interface = "eth1", address = "239.2.2.3", port = 6002, ttl = 4 } ]
TOML
}
# expect_over_cap FILE NEED CAP: -t fails, stating the need and the cap.
expect_over_cap() {
  local out rc=0
  out=$(timeout 10 "$CST_RELAY" -t -f "$1" 2>&1) || rc=$?
  echo "$out"
  [[ $rc -ne 0 ]] && grep -qF "$1: " <<<"$out" &&
    grep -qF "need $2 MiB of buffer memory" <<<"$out" &&
    grep -qF "max_buffer_memory_mib, is $3 MiB" <<<"$out"
}
over_cap_file mem-groups 4 2048 2
cst_check "-t refuses rules over the memory cap, stating need and cap" \
  expect_over_cap "$dir/mem-groups.toml" 5 4
over_cap_file mem-fits 5 2048 2
cst_check "the same rules pass -t under a cap they fit" \
  timeout 10 "$CST_RELAY" -t -f "$dir/mem-fits.toml"
over_cap_file mem-jumbo 6 9216 1
cst_check "max_frame counts in the memory need" \
  expect_over_cap "$dir/mem-jumbo.toml" 7 6

missing() {
  local rc=0
  timeout 10 "$CST_RELAY" -t -f "$dir/does-not-exist.toml" || rc=$?
  [[ $rc -ne 0 ]]
}
cst_check "a missing file fails" missing

# -- a stricter -t (issue 14) ---------------------------------------------------

# exit_code CMD...: prints CMD's output, then "rc=N" on a line of its own.
exit_code() {
  local rc=0
  timeout 10 "$@" 2>&1 || rc=$?
  echo "rc=$rc"
}

out=$(exit_code "$CST_RELAY" -t -f /etc)
echo "$out"
cst_expect "-f DIRECTORY: exit 1" rc=1 "$(tail -n1 <<<"$out")"
cst_check "-f DIRECTORY: says it is a directory" \
  grep -q '^/etc: cannot read config file: it is a directory' <<<"$out"

mkdir -p "$dir/relay.d"
cp "$dir/good.toml" "$dir/relay.d/good.toml"
cat >"$dir/include-dir.toml" <<TOML
include = ["$dir/relay.d"]
TOML
out=$(exit_code "$CST_RELAY" -t -f "$dir/include-dir.toml")
echo "$out"
cst_expect "include of a directory: exit 1" rc=1 "$(tail -n1 <<<"$out")"
cst_check "include of a directory: positioned, with the pattern to use" \
  grep -qF "$dir/include-dir.toml:1:12: include: '$dir/relay.d' is a directory; name its files with a pattern, such as '$dir/relay.d/*.toml'" <<<"$out"

# Interfaces: lo exists everywhere; castornoif0 nowhere.
cat >"$dir/relay.d/10-lo.toml" <<'TOML'
[[rule]]
name = "typo"
input = { interface = "lo", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "castornoif0", address = "239.2.2.2", port = 6001 } ]
TOML
rm "$dir/relay.d/good.toml"
cat >"$dir/warn.toml" <<TOML
include = ["relay.d/*.toml"]

[relay]
ingress = "socket"
workers = 3
TOML
out=$(exit_code "$CST_RELAY" -t -f "$dir/warn.toml")
echo "$out"
cst_expect "warnings only: exit 0" rc=0 "$(tail -n1 <<<"$out")"
cst_check "-t warns about an interface missing on this host" \
  grep -qF "$dir/warn.toml: warning: interface 'castornoif0' does not exist on this host; nothing is forwarded through it until it appears (used by rule 'typo' (output))" <<<"$out"
cst_check "-t prints the start's warnings" \
  grep -qF "$dir/warn.toml: warning: ingress = \"socket\" runs one forwarder per input interface (3 configured)" <<<"$out"
cst_check "-t does not warn about lo" bash -c "! grep -q \"'lo'\" <<<\"\$1\"" _ "$out"
cst_check "-t still says ok" grep -qF "$dir/warn.toml: ok, 1 rule" <<<"$out"

# --print-config: the effective config, included rules inline; it reads
# back to the same rules.
out=$(exit_code "$CST_RELAY" --print-config -f "$dir/warn.toml")
echo "$out"
cst_expect "--print-config: exit 0" rc=0 "$(tail -n1 <<<"$out")"
sed '$d' <<<"$out" >"$dir/printed.toml"
cst_check "--print-config holds the included rule" \
  grep -q '^name = "typo"' "$dir/printed.toml"
cst_check "--print-config fills in the settings" \
  grep -q '^workers = 3' "$dir/printed.toml"
cst_check "--print-config's output passes -t with the same rule" \
  bash -c "timeout 10 '$CST_RELAY' -t -f '$dir/printed.toml' 2>/dev/null | grep -q ': ok, 1 rule'"
out=$(exit_code "$CST_RELAY" --print-config -f "$dir/syntax.toml")
cst_expect "--print-config of a bad file: exit 1" rc=1 "$(tail -n1 <<<"$out")"

# Exit codes: usage errors are 2, whatever CLI11 would say.
for args in "--no-such-option" "-t" "-f" "-t --print-config -f $dir/good.toml" \
            "-f $dir/good.toml extra"; do
  # shellcheck disable=SC2086 # word splitting is the point
  out=$(exit_code "$CST_RELAY" $args)
  cst_expect "usage error '$args': exit 2" rc=2 "$(tail -n1 <<<"$out")"
done
out=$(exit_code "$CST_RELAY" --help)
cst_expect "--help: exit 0" rc=0 "$(tail -n1 <<<"$out")"
cst_check "--help lists --print-config" grep -q -- --print-config <<<"$out"
out=$(exit_code "$CST_RELAY" --version)
cst_expect "--version: exit 0" rc=0 "$(tail -n1 <<<"$out")"
cst_finish
