#!/usr/bin/env bash
# Makes a throw-away test CA and server certificates in DIR (never committed).
#   ca.pem / ca.key            the test CA
#   server.pem / server.key    localhost + 127.0.0.1, signed by the CA
#   rogue-ca.pem, rogue.pem / rogue.key   a server cert from another (untrusted) CA
#   self.pem / self.key        a self-signed localhost certificate
#   expired.pem / expired.key  localhost, signed by the CA, expired
#   future.pem / future.key    localhost, signed by the CA, not yet valid
#   wrongname.pem / wrongname.key  signed by the CA for another host name
#   inter.pem / inter.key      an intermediate CA under the test CA
#   chain.pem / chain.key      localhost + 127.0.0.1 signed by the intermediate; chain.pem holds
#                              the leaf then the intermediate (what a server sends)
set -euo pipefail
dir=${1:?usage: make-test-ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -f server.pem ] && [ -f ca.pem ] && [ -f chain.pem ] && exit 0
umask 077
q() { openssl "$@" 2>/dev/null; }
ext() { printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$1"; }
mkca() { # name cn
  q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$1.key" -out "$1.pem"
}
# leaf NAME CA SAN [openssl x509 date options...]
leaf() {
  local name=$1 ca=$2 san=$3; shift 3
  q req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${san#*:}" -keyout "$name.key" -out "$name.csr"
  ext "$san" > "$name.ext"
  q x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -extfile "$name.ext" -out "$name.pem" "$@"
  rm -f "$name.csr" "$name.ext"
}
mkca ca "secure_forward test CA"
mkca rogue-ca "some other CA"
leaf server ca "DNS:localhost,IP:127.0.0.1" -days 30
leaf rogue rogue-ca "DNS:localhost,IP:127.0.0.1" -days 30
leaf wrongname ca "DNS:not-this-host.example" -days 30
q req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=secure_forward test intermediate" -keyout inter.key -out inter.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > inter.ext
q x509 -req -in inter.csr -CA ca.pem -CAkey ca.key -CAcreateserial -extfile inter.ext -out inter.pem -days 30
rm -f inter.csr inter.ext
leaf chainleaf inter "DNS:localhost,IP:127.0.0.1" -days 30
cat chainleaf.pem inter.pem > chain.pem && mv chainleaf.key chain.key && rm -f chainleaf.pem
# expired / not yet valid: openssl 3 x509 takes -not_before/-not_after in 3.4+, else use `ca`
if openssl x509 -help 2>&1 | grep -q not_after; then
  leaf expired ca "DNS:localhost,IP:127.0.0.1" -not_before 20200101000000Z -not_after 20200201000000Z
  leaf future ca "DNS:localhost,IP:127.0.0.1" -not_before 20990101000000Z -not_after 20990201000000Z
else
  mkdir -p cadb && : > cadb/index.txt && echo 01 > cadb/serial
  cat > cadb/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
CNF
  for spec in "expired 20200101000000Z 20200201000000Z" "future 20990101000000Z 20990201000000Z"; do
    set -- $spec
    q req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "extendedKeyUsage=serverAuth" \
      -keyout "$1.key" -out "$1.csr"
    q ca -batch -config cadb/ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" \
      -startdate "$2" -enddate "$3" -notext
    rm -f "$1.csr"
  done
fi
q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout self.key -out self.pem
chmod 644 ./*.pem
