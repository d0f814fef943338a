#!/usr/bin/env bash
# README command (b): set up a Debian bookworm machine, build castor and run
# every test. Works from a clean clone with no prior state; .ci/run calls it.
#
#   ./scripts/test.sh            build in build/
#   CASTOR_BUILD_DIR=dir ./scripts/test.sh
#
# The namespace integration tests need root (they create network namespaces),
# which is why the README says to run this as root.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${CASTOR_BUILD_DIR:-$root/build}
jobs=${CASTOR_JOBS:-$(nproc)}

"$root/scripts/install-deps.sh"

if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: warning: not root; tests that need network namespaces" \
       "will fail or be skipped" >&2
fi

# --fresh drops a cache left by an earlier configure (say, a sanitizer or
# Release build in the same directory), so that every run tests the default
# configuration. Object files survive, so a rerun recompiles little.
cmake -S "$root" -B "$build_dir" --fresh -DCASTOR_BUILD_TESTS=ON \
      -DCASTOR_BUILD_BENCH=ON
cmake --build "$build_dir" -j "$jobs"

# The default per-test timeout is generous because sanitizer and loaded
# machines are slow; a test that hangs still fails instead of blocking CI.
# Tests run one at a time: each test process already keeps both cores of
# the target machine busy, and the namespace tests change host-wide state.
cd "$build_dir"
ctest --output-on-failure --no-tests=error --timeout 600
