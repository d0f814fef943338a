#!/usr/bin/env bash
# Builds castor with sanitizers and runs the tests under them:
#   build-asan/  -DCASTOR_SANITIZE=address  (AddressSanitizer + UBSan)
#   build-tsan/  -DCASTOR_SANITIZE=thread   (ThreadSanitizer)
# Benchmarks (ctest label "bench") are left out: their numbers mean nothing
# under a sanitizer, and ThreadSanitizer makes them very slow.
#
#   ./scripts/sanitize.sh            both
#   ./scripts/sanitize.sh address    one of them
#
# Exits non-zero if any build or test fails; both variants run either way.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${CASTOR_JOBS:-$(nproc)}
kinds=("$@")
((${#kinds[@]})) || kinds=(address thread)

"$root/scripts/install-deps.sh"

# halt_on_error makes the first report fail the test instead of scrolling by;
# detect_leaks stays on because leaked actors are real bugs (strong-handle
# cycles, see the CAF notes).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# ccache, when installed, makes a second run rebuild only what changed.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

failed=()
for kind in "${kinds[@]}"; do
  extra=()
  case $kind in
    address) dir=$root/build-asan ;;
    thread)
      dir=$root/build-tsan
      # ThreadSanitizer needs CAF instrumented too (tsan-caf.sh says why).
      if ! CMAKE_CXX_COMPILER_LAUNCHER=${launcher:+ccache} \
           "$root/scripts/tsan-caf.sh" "$root/build-tsan-caf"; then
        echo "== thread: no instrumented CAF: FAILED" >&2
        failed+=(thread)
        continue
      fi
      extra=(-DCMAKE_PREFIX_PATH="$root/build-tsan-caf") ;;
    *) echo "sanitize.sh: unknown sanitizer '$kind' (address|thread)" >&2
       exit 2 ;;
  esac
  echo "== $kind: configure, build and test in $dir"
  if cmake -S "$root" -B "$dir" --fresh -DCASTOR_SANITIZE="$kind" \
       -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "${extra[@]}" \
     && cmake --build "$dir" -j "$jobs" \
     && (cd "$dir" && ctest --output-on-failure --no-tests=error \
                            --timeout 900 -LE bench); then
    echo "== $kind: passed"
  else
    echo "== $kind: FAILED" >&2
    failed+=("$kind")
  fi
done

if ((${#failed[@]})); then
  echo "sanitize.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize.sh: all passed (${kinds[*]})"
