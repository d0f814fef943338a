#!/usr/bin/env bash
# Builds CAF 0.17.6, the version Debian ships, with ThreadSanitizer into
# PREFIX, for sanitize.sh's thread build.
#
# Why: ThreadSanitizer learns what happens before what only from code it
# instrumented. Debian's libcaf_core is not instrumented, so a message
# handed from one actor to another (a CAS in CAF's mailbox, inside the
# library) looks to it like two threads touching the message with nothing
# in between: a report for every message. The cure TSan's own manual gives
# is to build every library with -fsanitize=thread. So this fetches
# Debian's source package (the same upstream tarball as libcaf-dev, from
# the configured mirror, by `apt-get source` against a private source
# list) and builds libcaf_core and libcaf_io from it. Only the sanitizer
# build uses them; nothing else changes.
#
#   tsan-caf.sh PREFIX      (done once; later runs find PREFIX ready)
set -euo pipefail

prefix=${1:?usage: tsan-caf.sh PREFIX}
version=0.17.6
jobs=${CASTOR_JOBS:-$(nproc)}
stamp=$prefix/.castor-tsan-caf-$version
if [[ -f $stamp ]]; then
  exit 0
fi

work=$prefix.work
rm -rf "$work"
mkdir -p "$work/lists/partial"
mirror=${CASTOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
echo "deb-src $mirror bookworm main" >"$work/sources.list"
apt_opts=(-q -o "Dir::Etc::sourcelist=$work/sources.list"
          -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
          -o APT::Sandbox::User=root)
echo "tsan-caf: fetching actor-framework $version source from $mirror"
apt-get "${apt_opts[@]}" update >"$work/apt.log" 2>&1 || {
  tail -5 "$work/apt.log" >&2
  echo "tsan-caf: cannot read the source index from $mirror" >&2
  exit 1
}
# Only the upstream tarball is needed (apt checks it against the signed
# index); Debian's packaging adds one #include <limits>, given below.
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only \
   "actor-framework=$version-2.1" >>"$work/apt.log" 2>&1) || true
tarball=$work/actor-framework_$version.orig.tar.gz
[[ -f $tarball ]] || {
  tail -5 "$work/apt.log" >&2
  echo "tsan-caf: no actor-framework_$version.orig.tar.gz from $mirror" >&2
  exit 1
}
tar -C "$work" -xzf "$tarball"

echo "tsan-caf: building libcaf_core and libcaf_io with -fsanitize=thread"
# -include limits: what Debian's patch adds to receive_buffer.hpp, which
# GCC 12 needs.
cmake -S "$work/actor-framework-$version" -B "$work/build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -include limits" \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
  -DCAF_NO_EXAMPLES=yes -DCAF_NO_TOOLS=yes -DCAF_NO_UNIT_TESTS=yes \
  -DCAF_NO_OPENSSL=yes -DCAF_NO_OPENCL=yes -DCAF_NO_PYTHON=yes \
  -DCAF_NO_SUMMARY=yes -DCAF_LOG_LEVEL=QUIET \
  ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} \
  >"$work/cmake.log" 2>&1 || { tail -20 "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j "$jobs" >"$work/build.log" 2>&1 || {
  grep -m5 -A3 'error' "$work/build.log" >&2
  exit 1
}
cmake --install "$work/build" >"$work/install.log" 2>&1
rm -rf "$work"
touch "$stamp"
echo "tsan-caf: ready in $prefix"
