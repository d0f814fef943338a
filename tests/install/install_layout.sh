#!/usr/bin/env bash
# Checks what `cmake --install` lays out for an operator, for a prefix other
# than /usr and for /usr (the .deb's), into a DESTDIR each so that nothing
# touches the host: everything must land under the prefix, etc/ included,
# except that a /usr prefix puts the config files in /etc.
#
#   install_layout.sh BUILD_DIR WORK_DIR
set -euo pipefail

build_dir=$1 work=$2
status=0

check() { # DESTDIR PREFIX ETC_DIR
  local stage=$1 prefix=$2 etc=$3
  rm -rf "$stage"
  DESTDIR=$stage cmake --install "$build_dir" --prefix "$prefix" >/dev/null
  for f in "$prefix/sbin/castor-relay" "$prefix/bin/castorctl" \
           "$prefix/bin/castor-send" "$prefix/bin/castor-recv" \
           "$prefix/share/man/man8/castor-relay.8.gz" \
           "$prefix/share/man/man8/castorctl.8.gz" \
           "$prefix/share/man/man5/castor.conf.5.gz" \
           "$prefix/share/doc/castor/examples/relay.toml" \
           "$prefix/share/doc/castor/copyright" \
           "$prefix/lib/cmake/castor/castorConfig.cmake" \
           "$prefix/include/castor/testkit/io_fixture.hpp" \
           "$etc/castor/relay.toml" "$etc/default/castor-relay"; do
    if [[ ! -f $stage$f ]]; then
      echo "install_layout: --prefix $prefix: $f is missing" >&2
      status=1
    fi
  done
  # Nothing outside the prefix and the expected etc.
  local stray
  stray=$(cd "$stage" && find . -type f | sed 's/^\.//' |
          grep -v -e "^$prefix/" -e "^$etc/" || true)
  if [[ -n $stray ]]; then
    echo "install_layout: --prefix $prefix: files outside it:" $stray >&2
    status=1
  fi
  # The man pages are real pages, not empty files.
  if ! gzip -dc "$stage$prefix/share/man/man8/castor-relay.8.gz" |
       grep -q '^\.SH "*OPTIONS'; then
    echo "install_layout: castor-relay.8 has no OPTIONS section" >&2
    status=1
  fi
}

check "$work/opt" /opt/castor /opt/castor/etc
check "$work/usr" /usr /etc

if ((status == 0)); then
  echo "install_layout: ok"
fi
exit "$status"
