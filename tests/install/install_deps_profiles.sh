#!/usr/bin/env bash
# scripts/install-deps.sh's two profiles (issue 14): the demo installs only
# what building the relay and running the demo need (no clang, no fuzzing,
# no test frameworks, no mmdebstrap), a small part of the test profile,
# which holds all of the demo's.
#
#   install_deps_profiles.sh SOURCE_DIR
set -euo pipefail
deps=$1/scripts/install-deps.sh
demo=$("$deps" --list demo | sort)
test=$("$deps" --list test | sort)
status=0
fail() {
  echo "FAILED: $*"
  status=1
}
for p in clang libclang-rt-dev mmdebstrap libgtest-dev scdoc erlang-base; do
  grep -qx "$p" <<<"$demo" && fail "the demo profile installs $p"
  grep -qx "$p" <<<"$test" || fail "the test profile lacks $p"
done
missing=$(comm -23 <(echo "$demo") <(echo "$test"))
[[ -z $missing ]] || fail "the test profile lacks demo packages: $missing"
nd=$(wc -l <<<"$demo") nt=$(wc -l <<<"$test")
((nd * 2 <= nt)) || fail "the demo profile ($nd packages) is not under half of the test profile ($nt)"
"$deps" --list bogus >/dev/null 2>&1 && fail "an unknown profile is accepted"
echo "install_deps_profiles: demo $nd packages, test $nt"
exit "$status"
