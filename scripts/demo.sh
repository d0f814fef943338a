#!/usr/bin/env bash
# README command (a): set up a Debian bookworm machine, build castor and run
# its main job. Works from a clean clone; run it as root.
#
#   ./scripts/demo.sh           build in build/ (or $CASTOR_BUILD_DIR)
#
# The main job is defined in one place, main_job below, together with the
# targets it needs, so that a later main job (the relay's network-namespace
# demo) replaces just that part.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${CASTOR_BUILD_DIR:-$root/build}
jobs=${CASTOR_JOBS:-$(nproc)}

# -- the main job --------------------------------------------------------------

# Targets the main job runs; only these are built.
main_job_targets=(castor-relay castorctl castor-send castor-recv)

# The relay in network namespaces: sender -> castor-relay -> receiver, with
# live castorctl stats; bounded, torn down on exit, non-zero on any loss.
# (The supervision-tree walk-through, apps/demo/castor-demo, runs as a test.)
main_job() {
  "$root/scripts/relay-demo.sh" "$build_dir"
}

# -- set-up and build ----------------------------------------------------------

# Only what the demo builds and runs; test.sh installs the rest.
"$root/scripts/install-deps.sh" demo

# A build directory left by test.sh is reused as it is; a new one is
# configured without the tests and benches, whose packages (GoogleTest, the
# baselines) the demo does not install.
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build_dir" -DCASTOR_BUILD_TESTS=OFF \
        -DCASTOR_BUILD_BENCH=OFF
fi
cmake --build "$build_dir" -j "$jobs" --target "${main_job_targets[@]}"

echo "demo.sh: running the main job"
main_job
