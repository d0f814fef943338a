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
main_job_targets=(castor-demo)

# The example supervision tree: start, crash a worker, watch it restart, stop
# in order. Ends by itself within seconds and fails if what it shows did not
# happen.
main_job() {
  "$build_dir/apps/demo/castor-demo"
}

# -- set-up and build ----------------------------------------------------------

"$root/scripts/install-deps.sh"

# A build directory left by test.sh is reused as it is; a new one gets the
# default configuration.
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build_dir"
fi
cmake --build "$build_dir" -j "$jobs" --target "${main_job_targets[@]}"

echo "demo.sh: running the main job"
main_job
