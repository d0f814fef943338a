#!/usr/bin/env bash
# Builds bench_supervisor in Release (build-release/, or $CASTOR_BUILD_DIR)
# and runs it: 5 runs, every phase of each run in a fresh process, and a table
# of medians at the end. Extra arguments go to bench_supervisor, e.g.
#   bench/run-supervisor.sh --threads 1
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${CASTOR_BUILD_DIR:-$root/build-release}

# Tests are not needed to benchmark; leaving them out keeps the build short.
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
      -DCASTOR_BUILD_TESTS=OFF -DCASTOR_BUILD_BENCH=ON -DCASTOR_SANITIZE=
cmake --build "$build_dir" -j "$(nproc)" --target bench_supervisor

cd "$build_dir"
./bench/supervisor/bench_supervisor --runs 5 "$@"
