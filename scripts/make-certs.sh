#!/usr/bin/env bash
# Makes a CA and one certificate per castor node, with the openssl CLI, for
# the mutual TLS of castor nodes (docs/nodes.md).
#
#   scripts/make-certs.sh OUT_DIR NODE_NAME...
#
# OUT_DIR/ca.crt and ca.key: the CA (made once; reused when present, so
# that more nodes can be added later). OUT_DIR/NAME.crt and NAME.key: a
# node's certificate (CN and DNS subjectAltName = NAME, usable as TLS
# server and client) and its unencrypted private key (mode 600). Give each
# node its own .crt and .key, and every node ca.crt. Keep ca.key off the
# nodes.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 OUT_DIR NODE_NAME..." >&2
  exit 2
fi
out=$1
shift
days=${CASTOR_CERT_DAYS:-825}
mkdir -p "$out"
umask 077
trap 'echo "make-certs: openssl failed (line $LINENO)" >&2' ERR

if [[ ! -f $out/ca.crt || ! -f $out/ca.key ]]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout "$out/ca.key" -out "$out/ca.crt" -days 3650 \
    -subj "/CN=castor node CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

for name in "$@"; do
  if [[ ! $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
    echo "make-certs: bad node name '$name'" >&2
    exit 2
  fi
  ext=$(mktemp)
  printf '%s\n' "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyAgreement" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=DNS:$name" >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$out/$name.key" -out "$out/$name.csr" -subj "/CN=$name" \
    2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" \
    -CAkey "$out/ca.key" -CAcreateserial -out "$out/$name.crt" \
    -days "$days" -extfile "$ext" 2>/dev/null
  rm -f "$out/$name.csr" "$ext"
  chmod 644 "$out/$name.crt"
done
chmod 644 "$out/ca.crt"
