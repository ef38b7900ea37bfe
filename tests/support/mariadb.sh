# A private MariaDB for the test drivers and benchmarks (source it; needs Debian's mariadb-server):
# a throw-away datadir in DIR, its own socket, optionally a TCP port on 127.0.0.1, started as the
# current user, stopped by sf_mariadb_stop. Used by tests/wordpress/run.sh, tests/mysql/run.sh
# and tools/bench.sh, so that there is one copy of the start-up.
#
#   sf_mariadb_start DIR [PORT] [extra mariadbd options...]   sets sf_db_sock, sf_db_port, sf_db_pid,
#                                                              sf_db_client (a root client command)
#   sf_mariadb_sql "SQL"                                       runs SQL as root over the socket
#   sf_mariadb_stop                                            stops it (kept: the datadir)
#   sf_mariadb_restart                                         starts it again on the same datadir

sf_db_pid=
sf_db_dir=
sf_db_port=
sf_db_opts=()

_sf_bin() {
  local b
  for b in "$@"; do
    command -v "$b" 2>/dev/null && return 0
    [ -x "/usr/sbin/$b" ] && { echo "/usr/sbin/$b"; return 0; }
  done
  echo "mariadb.sh: none of $* found (apt-get install mariadb-server)" >&2
  return 1
}

# sf_mariadb_ensure: installs mariadb-server (and the client) with apt when missing (as root).
sf_mariadb_ensure() {
  local need=() p
  for p in mariadb-server mariadb-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "mariadb.sh: missing packages (${need[*]}) and not root" >&2; return 1; }
  echo "mariadb.sh: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
}

_sf_mariadb_run() {
  local mysqld admin
  mysqld=$(_sf_bin mariadbd mysqld) || return 1
  admin=$(_sf_bin mariadb-admin mysqladmin) || return 1
  local net=(--skip-networking)
  [ -n "$sf_db_port" ] && net=(--port="$sf_db_port" --bind-address=127.0.0.1)
  "$mysqld" --no-defaults --datadir="$sf_db_dir/db" --socket="$sf_db_sock" "${net[@]}" --user="$(id -un)" \
    --pid-file="$sf_db_dir/mysqld.pid" --log-error="$sf_db_dir/mysqld.err" --innodb-buffer-pool-size=64M \
    --open-files-limit=4096 --table-open-cache=400 --max-connections=100 "${sf_db_opts[@]}" &
  sf_db_pid=$!
  local _
  for _ in $(seq 1 240); do "$admin" --no-defaults --socket="$sf_db_sock" -uroot ping >/dev/null 2>&1 && return 0; sleep 0.25; done
  cat "$sf_db_dir/mysqld.err" >&2
  echo "mariadb.sh: mariadbd did not start" >&2
  return 1
}

sf_mariadb_start() {
  sf_db_dir=$1; sf_db_port=${2:-}; shift; [ $# -gt 0 ] && shift
  sf_db_opts=("$@")
  sf_db_sock=$sf_db_dir/mysql.sock
  local install_db client
  install_db=$(_sf_bin mariadb-install-db mysql_install_db) || return 1
  client=$(_sf_bin mariadb mysql) || return 1
  sf_db_client=("$client" --no-defaults --socket="$sf_db_sock" -uroot)
  mkdir -p "$sf_db_dir"
  "$install_db" --no-defaults --datadir="$sf_db_dir/db" --user="$(id -un)" --auth-root-authentication-method=socket \
    --skip-test-db >"$sf_db_dir/install-db.log" 2>&1 || { cat "$sf_db_dir/install-db.log" >&2; echo "mariadb.sh: mariadb-install-db failed" >&2; return 1; }
  _sf_mariadb_run
}

sf_mariadb_sql() { "${sf_db_client[@]}" -e "$1"; }

sf_mariadb_stop() {
  [ -n "$sf_db_pid" ] || return 0
  kill "$sf_db_pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 120); do kill -0 "$sf_db_pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$sf_db_pid" 2>/dev/null || true
  wait "$sf_db_pid" 2>/dev/null || true
  sf_db_pid=
  return 0
}

sf_mariadb_restart() { _sf_mariadb_run; }

# sf_free_port: an unused TCP port on 127.0.0.1.
sf_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
