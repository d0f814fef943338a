#!/usr/bin/env bash
# Installs the castor build in $1 into a fresh prefix, builds the host program
# in $2 against that prefix alone, runs it and checks its output, and runs
# the host's unit tests (built on the installed test kit).
#
#   install_test.sh BUILD_DIR HOST_SOURCE WORK_DIR SOURCE_DIR CXX [CXXFLAGS
#                   [DEPENDENCY_PREFIXES]]
set -euo pipefail

build_dir=$1 host_src=$2 work=$3 source_dir=$4 cxx=$5 flags=${6:-}
deps_prefix=${7:-}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix"

# An installed package must not point back into the source or build tree;
# otherwise it would only work on the machine that built it.
if grep -rl -e "$source_dir/" -e "$build_dir/" "$prefix" \
     --include='*.cmake'; then
  echo "install_test: installed CMake files reference the source/build tree" >&2
  exit 1
fi

# CMAKE_FIND_USE_PACKAGE_REGISTRY=OFF and the explicit prefix make sure the
# host can only find the copy installed above.
cmake -S "$host_src" -B "$work/host-build" \
      -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags" \
      -DCMAKE_PREFIX_PATH="$prefix${deps_prefix:+;$deps_prefix}" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
      -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/host-build" -j 2

# The host must have used the installed config, not something else on the
# system: CMake records where it found the package.
found=$(sed -n 's/^castor_DIR:PATH=//p' "$work/host-build/CMakeCache.txt")
if [[ $found != "$prefix"/* ]]; then
  echo "install_test: castor found at '$found', not under $prefix" >&2
  exit 1
fi

output=$(cd "$work" && "$work/host-build/castor_host")
echo "$output"
for want in '^children: worker=running rx=running$' '"id": "host-sup"' \
            '^received: hello$' '^on_stopped: exit code 0$' \
            '^castor-install-test: ok$'; do
  if ! grep -q -e "$want" <<<"$output"; then
    echo "install_test: host output lacks /$want/" >&2
    exit 1
  fi
done
# castor::node from the installed package: two nodes, a remote lookup.
node_output=$(cd "$work" && "$work/host-build/castor_node_host")
echo "$node_output"
if ! grep -q '^castor-node-host: ok$' <<<"$node_output"; then
  echo "install_test: the node host failed" >&2
  exit 1
fi
# castor::bus from the installed package (docs/bus.md).
bus_output=$(cd "$work" && "$work/host-build/castor_bus_host")
echo "$bus_output"
if ! grep -q '^castor-bus-host: ok$' <<<"$bus_output"; then
  echo "install_test: the bus host failed" >&2
  exit 1
fi
# The host's own unit tests, on CAF's test DSL and the installed test kit
# (castor::testkit). Run from the empty work directory: CAF's test fixture
# reads caf-application.ini from the working directory.
(cd "$work" && "$work/host-build/castor_host_tests" -n -v 4) || {
  echo "install_test: the host's tests failed" >&2
  exit 1
}
echo "install_test: ok"
