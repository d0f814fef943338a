#!/usr/bin/env bash
# Installs every Debian bookworm package castor needs to build, test, benchmark
# and run its demo. Idempotent: packages already present are left alone, and
# the package index is refreshed only when something is actually missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git
  # runtime libraries
  libcaf-dev libboost-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libsystemd-dev
  # unit tests of the CAF-free packet layer
  libgtest-dev
  # /metrics: prometheus-cpp (families, text), civetweb (HTTP); curl in tests
  prometheus-cpp-dev libcivetweb-dev curl
  # tests, demo and benchmarks: namespaces, capabilities, baselines
  iproute2 procps libcap2-bin util-linux smcroute socat
  # sanitizers and fuzzing (clang + compiler-rt)
  clang libclang-rt-dev
  # man pages (scdoc), the Debian package (dpkg-shlibdeps) and its test on a
  # clean bookworm root (mmdebstrap)
  scdoc dpkg-dev mmdebstrap
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
