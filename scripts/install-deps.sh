#!/usr/bin/env bash
# Installs the Debian bookworm packages castor needs, for one of two jobs:
#
#   install-deps.sh demo   build the relay and its tools, run the netns demo
#   install-deps.sh        (or `test`) everything: also the tests, benches,
#                          sanitizers, fuzzing, man pages and the .deb test
#   install-deps.sh --list PROFILE   print the profile's packages, one a
#                          line, and install nothing (tests/install checks
#                          that the demo stays small)
#
# The demo (README command a) needs about a third of what the tests need:
# no clang, no mmdebstrap, no baselines. Idempotent: packages already present
# are left alone, and the package index is refreshed only when something is
# actually missing.
set -euo pipefail

list_only=
if [[ ${1:-} == --list ]]; then
  list_only=1
  shift
fi
profile=${1:-test}

# What the relay, castorctl and the tools build from, and what the demo runs.
demo_packages=(
  # toolchain
  build-essential cmake pkg-config
  # runtime libraries
  libcaf-dev libboost-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libsystemd-dev
  # /metrics: prometheus-cpp (families, text), civetweb (HTTP)
  prometheus-cpp-dev libcivetweb-dev
  # the demo's network namespaces and process handling
  iproute2 procps
)

# Added for the tests, the benches and the tooling around them.
test_packages=(
  git
  # unit tests of the CAF-free packet and config code
  libgtest-dev
  # tests, benchmarks: /metrics over HTTP, capabilities, baselines
  curl libcap2-bin util-linux smcroute socat
  # the shipped logrotate snippet, checked with logrotate -d / -f; zsh, to
  # parse the zsh completion
  logrotate zsh
  # castor::node's tests and bench make TLS certificates (make-certs.sh)
  openssl
  # the shipped alert rules are YAML (tests/install/monitoring_check.py;
  # promtool comes out of Debian's prometheus package, see install_promtool)
  python3-yaml
  # bench/socket's side-by-side contender: Erlang/OTP's gen_udp (escript)
  erlang-base
  # castor-bus's namespace test drops packets at random with nftables;
  # bench/bus compares with ZeroMQ's epgm, driven from Python (pyzmq) and
  # from C++ (libzmq's C API: bench/bus/zmq_epgm_peer.cpp)
  nftables python3-zmq libzmq3-dev
  # sanitizers and fuzzing (clang + compiler-rt); clang also compiles the
  # relay's kernel data path (tc eBPF, issue 16), which needs libbpf and
  # bpftool (gen skeleton) too; without them the relay builds without it
  clang libclang-rt-dev libbpf-dev bpftool
  # man pages (scdoc), the Debian package (dpkg-shlibdeps) and its test on a
  # clean bookworm root (mmdebstrap)
  scdoc dpkg-dev mmdebstrap
)

case $profile in
  demo) packages=("${demo_packages[@]}") ;;
  test) packages=("${demo_packages[@]}" "${test_packages[@]}") ;;
  *)
    echo "usage: install-deps.sh [--list] [demo|test]" >&2
    exit 2
    ;;
esac
if [[ -n $list_only ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

# promtool checks the shipped alert rules (tests/install/monitoring_check.py,
# issue 14). It is a static binary in Debian's prometheus package, whose
# installation (~100 MB) would also create a user and start a Prometheus
# server: only promtool is taken out of the .deb, into the test cache.
promtool_cache=${CASTOR_DEB_TEST_CACHE:-/var/cache/castor-test}
install_promtool() {
  [[ $profile == test && ! -x $promtool_cache/promtool ]] || return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to put promtool in $promtool_cache" >&2
    exit 1
  fi
  local tmp
  tmp=$(mktemp -d)
  chmod 0755 "$tmp" # apt-get download runs as _apt where it can
  (cd "$tmp" && apt-get download -qq prometheus)
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb |
    tar -x -C "$tmp" ./usr/bin/promtool
  install -D -m 0755 "$tmp/usr/bin/promtool" "$promtool_cache/promtool"
  rm -rf "$tmp"
  echo "install-deps ($profile): promtool in $promtool_cache"
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps ($profile): all ${#packages[@]} packages already installed"
  install_promtool
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps ($profile): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_promtool
