#!/bin/sh
# P4: the certificates of Temporal's mutual TLS in the production compose (docker-compose.yml): a CA of the
# deployment's own, the server's certificate (name "temporal", the compose service), and client certificates
# for the application (API, workers, setup) and the Web UI. Existing files are kept; delete them to reissue
# (then `docker compose up -d --force-recreate`). The CA's key stays here: keep it off the servers' images.
set -eu
cd "$(dirname "$0")"
mkdir -p certs
cd certs
umask 077
[ -f ca.key ] || openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -keyout ca.key -out ca.pem \
  -subj "/CN=aftersales temporal CA"
issue() {  # name, common name, extended key usage
  [ -f "$1.pem" ] && return 0
  openssl req -newkey rsa:3072 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
  printf "subjectAltName=DNS:%s\nextendedKeyUsage=%s\n" "$2" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
issue temporal temporal serverAuth,clientAuth
issue app aftersales-app clientAuth
issue ui temporal-ui clientAuth
chmod 644 ca.pem temporal.pem app.pem ui.pem temporal.key app.key ui.key  # read by the containers' own users
echo "certificates in $(pwd)"
