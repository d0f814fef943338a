#!/usr/bin/env bash
# Builds castor's libFuzzer targets with clang (tests/fuzz, a build of its
# own: CI's gcc build cannot link libFuzzer) and runs each one for a bounded
# time over its corpus in tests/fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh [--build-dir DIR] [--time SECONDS] [TARGET...]
#
# TARGET: frame_parser, frame_parser6, control_protocol, config_parser,
# site_frame (default: all).
# --time is per target (default 20). New inputs the fuzzer finds go to a
# scratch directory, never into the kept corpus; a crash leaves its input
# as DIR/crash-<target>-* and fails the run: add that input to the corpus
# once the bug is fixed.
#
# Exits 0 when every target ran clean, 1 on a crash or a build failure, 77
# when clang cannot build a libFuzzer binary here (ctest's skip code).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/build-fuzz
seconds=20
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) dir=$2; shift 2 ;;
    --time) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(frame_parser frame_parser6 control_protocol config_parser
  site_frame)

cxx=$(command -v clang++ || command -v clang++-14 || true)

if [[ -z $cxx ]]; then
  echo "fuzz.sh: no clang; skipped (scripts/install-deps.sh installs it)"
  exit 77
fi
# libFuzzer ships in compiler-rt (libclang-rt-14-dev on bookworm).
probe=$(mktemp -d /tmp/castor-fuzz-probe.XXXXXX)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  >"$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer "$probe/probe.cpp" -o "$probe/probe" \
     >"$probe/log" 2>&1; then
  echo "fuzz.sh: $cxx cannot link libFuzzer; skipped:"
  cat "$probe/log"
  exit 77
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
jobs=${CASTOR_JOBS:-2}
echo "== fuzz: configure and build in $dir"
# tests/fuzz alone: its parsers need no CAF library, Boost or daemon
# dependency, so fuzzing does not wait for (or break with) the full
# configure. The full project builds the same targets with
# -DCASTOR_BUILD_FUZZ=ON.
mkdir -p "$dir"
cmake -S "$root/tests/fuzz" -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
build=()
for t in "${targets[@]}"; do build+=(--target "fuzz_$t"); done
cmake --build "$dir" -j "$jobs" "${build[@]}"

failed=()
for t in "${targets[@]}"; do
  corpus=$root/tests/fuzz/corpus/$t
  [[ -d $corpus ]] || { echo "fuzz.sh: no corpus $corpus" >&2; exit 1; }
  # New inputs go to a scratch directory first in the list, so the kept
  # corpus stays as committed.
  scratch=$dir/corpus-$t
  rm -rf "$scratch"
  mkdir -p "$scratch"
  echo "== fuzz_$t: ${seconds} s over $(find "$corpus" -type f | wc -l) seeds"
  if (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 \
        "./fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$dir/crash-$t-" "$scratch" "$corpus" \
        >"$dir/fuzz_$t.log" 2>&1); then
    grep -E '^stat::number_of_executed_units|^Done' "$dir/fuzz_$t.log" || true
  else
    echo "== fuzz_$t: FAILED (log: $dir/fuzz_$t.log)" >&2
    tail -n 40 "$dir/fuzz_$t.log" >&2
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all clean (${targets[*]}, ${seconds} s each)"
