#!/usr/bin/env bash
# Makes a private CA, a coordinator certificate and one client certificate per site name, for
# `fedfusion coordinator --tls-cert --tls-key --tls-client-ca` and `fedfusion client --tls-ca --tls-cert --tls-key`.
#   deploy/tls/make-certs.sh OUT_DIR COORDINATOR_HOST [SITE ...]
# Keep ca.key offline; give each site only ca.crt and its own <site>.crt/<site>.key.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR COORDINATOR_HOST [SITE ...]}
host=${2:?usage: make-certs.sh OUT_DIR COORDINATOR_HOST [SITE ...]}
shift 2
mkdir -p "$out"
cd "$out"
days=825
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days "$days" -subj "/CN=fedfusion CA" 2>/dev/null
san="subjectAltName=DNS:${host},DNS:localhost,IP:127.0.0.1"
if [[ "$host" =~ ^[0-9.]+$ ]]; then san="subjectAltName=IP:${host},DNS:localhost,IP:127.0.0.1"; fi
openssl req -newkey rsa:2048 -nodes -keyout coordinator.key -out coordinator.csr -subj "/CN=${host}" 2>/dev/null
openssl x509 -req -in coordinator.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out coordinator.crt -days "$days" \
  -extfile <(printf '%s\nextendedKeyUsage=serverAuth\n' "$san") 2>/dev/null
for site in "$@"; do
  openssl req -newkey rsa:2048 -nodes -keyout "$site.key" -out "$site.csr" -subj "/CN=${site}" 2>/dev/null
  openssl x509 -req -in "$site.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$site.crt" -days "$days" \
    -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
done
rm -f ./*.csr ca.srl
chmod 600 ./*.key
echo "wrote $(pwd): ca.crt, coordinator.crt/.key${*:+, and a certificate per site: $*}"
