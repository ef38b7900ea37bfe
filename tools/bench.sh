#!/usr/bin/env bash
# make bench: one table of figures, all measured in this run, against a local nginx HTTPS
# receiver (Debian's nginx-light) with a test CA made on the spot. Not part of `make test`.
#   usage: tools/bench.sh path/to/libsecure_forward.so FIXTURES_DIR
# Environment: N (orders per latency figure, default 2000), DRAIN (backlog, default 10000),
#   RSS_SENDS (default 100000), PREP_ROUNDS (default 20000), PHASES (a subset, for development:
#   prints the raw figures instead of the table).
set -euo pipefail
so=$(realpath "$1"); fixtures=$(realpath "$2")
root=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages, as the GNUmakefile's apt_ensure does.
missing=$(for p in nginx-light php8.2-curl; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: $missing"
    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else echo "missing packages: $missing — run: sudo apt-get install $missing"; exit 1; fi
fi

work=$(mktemp -d /tmp/sf-bench.XXXXXX)
nginx_pid=
. "$root/tests/support/mariadb.sh"
sf_mariadb_ensure
cleanup() {
  sf_mariadb_stop
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$root/tests/support/make-test-ca.sh" "$work/ca" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); closed=$(free_port)

# nginx: HTTPS on loopback, 200 '{}' to every request, one access-log line (the
# Idempotency-Key) per request so the drain can be checked, not just timed.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  log_format key '\$http_idempotency_key';
  access_log $work/nginx/access.log key buffer=256k flush=1s;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$port ssl;
    server_name localhost;
    ssl_certificate $work/ca/server.pem;
    ssl_certificate_key $work/ca/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    default_type application/json;
    location / { return 200 '{}'; }
  }
}
CONF
/usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -fsS --cacert "$work/ca/ca.pem" -X POST "https://localhost:$port/" >/dev/null 2>&1 && break
  sleep 0.05
done
: > "$work/nginx/access.log"  # the readiness probes do not count

(umask 077; printf 'sk_bench_%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/api.key")
write_config() { # file outbox delivery synchronous
  cat > "$1" <<TOML
[destinations.up]
url = "https://localhost:$port/orders"
key_file = "$work/api.key"
ca_file = "$work/ca/ca.pem"

[destinations.down]
url = "https://localhost:$closed/orders"
key_file = "$work/api.key"
ca_file = "$work/ca/ca.pem"
connect_timeout_ms = 1000

[outbox]
path = "$2"
delivery = "$3"
synchronous = "$4"

[audit]
path = "$work/audit.jsonl"
TOML
}
# The outbox on MariaDB: a private mariadbd (tests/support/mariadb.sh) on a socket in $work,
# with InnoDB's default durability (innodb_flush_log_at_trx_commit = 1: fsync per commit).
sf_mariadb_start "$work/mariadb" "" --innodb-flush-log-at-trx-commit="${MARIADB_FLUSH_AT_COMMIT:-1}" --innodb-buffer-pool-size=256M
(umask 077; printf 'pw_%s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/db.password")
sf_mariadb_sql "CREATE DATABASE sfbench; CREATE USER 'sf'@'localhost' IDENTIFIED BY '$(head -n1 "$work/db.password")';
  GRANT ALL ON sfbench.* TO 'sf'@'localhost';"
export SF_BENCH_MARIADB=$("${sf_db_client[@]}" -N -e 'SELECT VERSION()' | cut -d- -f1)
export SF_BENCH_FLUSH_AT_COMMIT=$("${sf_db_client[@]}" -N -e 'SELECT @@innodb_flush_log_at_trx_commit')
(umask 077; head -c 32 /dev/urandom | base64 -w0 > "$work/mysql.key"; echo >> "$work/mysql.key")
write_mysql_config() { # file delivery prefix
  write_config "$1" "$work/$3-spool.sqlite" "$2" normal
  printf 'key_file = "%s"\nurl = "mysql://sf@localhost/sfbench?socket=%s"\npassword_file = "%s"\ntls = "off"\ntable_prefix = "%s_"\n' \
    "$work/mysql.key" "$sf_db_sock" "$work/db.password" "$3" > "$work/$3.outbox"
  sed -i "/^synchronous = /r $work/$3.outbox" "$1"
}
write_config "$work/inline.toml" "$work/inline.sqlite" inline normal
write_config "$work/deferred.toml" "$work/deferred.sqlite" deferred normal
write_config "$work/full.toml" "$work/full.sqlite" deferred full
write_config "$work/drain.toml" "$work/drain.sqlite" deferred normal
write_config "$work/rss.toml" "$work/rss.sqlite" inline normal
write_mysql_config "$work/mysql-inline.toml" inline mi
write_mysql_config "$work/mysql-deferred.toml" deferred md
write_mysql_config "$work/mysql-drain.toml" deferred mdr

export SF_BENCH_WORK=$work SF_BENCH_PORT=$port SF_FIXTURES=$fixtures
run() { # config phase
  php -n -d extension="$so" -d secure_forward.config="$1" -d extension=curl.so -d memory_limit=1G \
    "$root/tools/bench.php" "$2"
}
echo "load average (1/5/15 min) at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "secure_forward benchmark — outbox on SQLite and on MariaDB $SF_BENCH_MARIADB (innodb_flush_log_at_trx_commit = $SF_BENCH_FLUSH_AT_COMMIT) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), nginx $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2)"
phases=${PHASES:-compare down deferred deferred-full drain mysql-inline mysql-deferred mysql-drain rss prepare}
echo "phases: $phases" >&2
for phase in $phases; do
  echo "  $phase" >&2
  case $phase in
    compare|inline|down|curl-new|curl-reused) run "$work/inline.toml" "$phase" ;;
    deferred) run "$work/deferred.toml" deferred ;;
    deferred-full) run "$work/full.toml" deferred-full ;;
    drain) run "$work/drain.toml" drain ;;
    mysql-inline|mysql-deferred|mysql-drain) run "$work/$phase.toml" "$phase" ;;
    rss) run "$work/rss.toml" rss ;;
    prepare) ROUNDS=${PREP_ROUNDS:-20000} bash "$root/tools/bench-prepare.sh" "$so" "$fixtures" > "$work/prepare.txt" ;;
  esac
done
[ -z "${PHASES:-}" ] || { cat "$work/results.json"; exit 0; }
echo "load average (1/5/15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg) — other work on the machine moves every figure"
run "$work/inline.toml" report
echo
echo "secure_forward_prepare() vs plain PHP (tools/bench-prepare.sh, as printed):"
sed 's/^/  /' "$work/prepare.txt"
