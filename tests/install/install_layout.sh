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
           "$prefix/bin/castor-bus" "$prefix/share/man/man1/castor-bus.1.gz" \
           "$prefix/share/doc/castor/examples/relay.toml" \
           "$prefix/share/doc/castor/copyright" \
           "$prefix/lib/cmake/castor/castorConfig.cmake" \
           "$prefix/include/castor/testkit/io_fixture.hpp" \
           "$prefix/lib/pkgconfig/castor.pc" \
           "$prefix/lib/systemd/system/castor-relay.service" \
           "$prefix/lib/systemd/system/castor-relay@.service" \
           "$prefix/share/bash-completion/completions/castorctl" \
           "$prefix/share/bash-completion/completions/castor-relay" \
           "$prefix/share/zsh/vendor-completions/_castorctl" \
           "$prefix/share/zsh/vendor-completions/_castor-relay" \
           "$prefix/share/doc/castor-dev/copyright" \
           "$etc/castor/relay.toml" "$etc/default/castor-relay" \
           "$etc/logrotate.d/castor-relay"; do
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

# The template unit: the single unit with per-instance config, socket,
# runtime and state directories, and nothing else changed.
instance_unit() { # STAGE PREFIX
  local dir=$1$2/lib/systemd/system want diffs
  for want in 'ExecStart=/usr/sbin/castor-relay -n -f /etc/castor/%i.toml -u /run/castor-%i/relay.sock $DAEMON_ARGS' \
              'ExecReload=/usr/bin/castorctl -u /run/castor-%i/relay.sock reload' \
              'RuntimeDirectory=castor-%i' 'StateDirectory=castor/%i' \
              'EnvironmentFile=-/etc/default/castor-relay@%i'; do
    if ! grep -qxF -- "$want" "$dir/castor-relay@.service"; then
      echo "install_layout: castor-relay@.service lacks '$want'" >&2
      status=1
    fi
  done
  # Every other directive is the single unit's.
  diffs=$(diff <(grep -v '^#' "$dir/castor-relay.service") \
               <(grep -v '^#' "$dir/castor-relay@.service") | grep -c '^>' || true)
  if [[ $diffs -ne 6 ]]; then
    echo "install_layout: castor-relay@.service differs from castor-relay.service in $diffs lines, not 6:" >&2
    diff "$dir/castor-relay.service" "$dir/castor-relay@.service" >&2 || true
    status=1
  fi
}

# The pkg-config file names the installed tree, wherever it is.
pkg_config() { # STAGE PREFIX
  local flags
  command -v pkg-config >/dev/null || return 0
  flags=$(PKG_CONFIG_PATH=$1$2/lib/pkgconfig pkg-config --cflags --libs castor)
  if [[ $flags != *"-lcastor_net -lcastor_actors -lcastor_packet"* ||
        $flags != *"/include"* ]] ||
     [[ ! -d $(sed -n 's/.*-I\([^ ]*\).*/\1/p' <<<"$flags")/castor/actors ]]; then
    echo "install_layout: pkg-config castor: $flags" >&2
    status=1
  fi
}

check "$work/opt" /opt/castor /opt/castor/etc
instance_unit "$work/opt" /opt/castor
pkg_config "$work/opt" /opt/castor
check "$work/usr" /usr /etc
instance_unit "$work/usr" /usr

if ((status == 0)); then
  echo "install_layout: ok"
fi
exit "$status"
