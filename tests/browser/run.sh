#!/usr/bin/env bash
# Browser test of the wp-admin screens (issue #20), on a fresh Debian 12 machine as root:
#   1. apt-get installs what is missing: Debian's chromium, chromium-driver, python3-selenium
#      (nothing downloads a browser), wordpress, mariadb-server, php8.2-cli, php8.2-mysql;
#   2. starts a private mariadbd (temp datadir, unix socket only) with a throw-away database;
#   3. lays out a temp document root over Debian's /usr/share/wordpress (symlinks, our own
#      wp-config.php), installs WordPress, activates the plugin, adds the TEST-ONLY WooCommerce
#      stand-in as a must-use plugin (orders from the fixtures, a WooCommerce menu and an order
#      screen that fires add_meta_boxes like WooCommerce's);
#   4. makes a test CA, starts tools/receiver.py (HTTPS), writes a TOML config and 0600 key
#      file, loads the REAL extension (SF_EXTENSION) into `php -S` (127.0.0.1, router.php);
#   5. seeds users (shop manager, subscriber) and one dead letter (a receiver path answering
#      422 first, 200 later), runs tests/browser/test_admin.py (Selenium + headless chromium),
#      which saves screenshots to SF_SCREENSHOTS (`make screenshots`: docs/img; default: the
#      temp dir, so `make test` leaves the tree as it was);
#   6. stops everything it started and removes the temp dir (SF_KEEP=1 keeps it); exits non-zero
#      on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "browser/run.sh: $*" >&2; exit 1; }
[ -n "${SF_EXTENSION:-}" ] && [ -f "$SF_EXTENSION" ] || die "set SF_EXTENSION to the built libsecure_forward.so"
SF_EXTENSION=$(cd "$(dirname "$SF_EXTENSION")" && pwd)/$(basename "$SF_EXTENSION")
export SF_FIXTURES=${SF_FIXTURES:-$repo/tests/fixtures/woocommerce-10.0.2}
[ -d "$SF_FIXTURES" ] || die "fixtures not found: $SF_FIXTURES (set SF_FIXTURES)"
SF_FIXTURES=$(cd "$SF_FIXTURES" && pwd)
# The support files of the WordPress suite (install, activate, the WooCommerce stand-in).
wpt=${SF_WP_TESTS:-}
for d in "$repo/tests/wordpress" "$repo/tests/support/wordpress" "$repo/tests/support"; do
  [ -n "$wpt" ] && break
  [ -f "$d/fake-woocommerce.php" ] && [ -f "$d/install.php" ] && wpt=$d
done
[ -n "$wpt" ] || die "tests/wordpress support files (install.php, fake-woocommerce.php) not found"

# --- 1. packages -------------------------------------------------------------------------------
need=()
for p in chromium chromium-driver python3-selenium wordpress mariadb-server mariadb-client php8.2-cli php8.2-mysql openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}) and not root: sudo apt-get install ${need[*]}"
  echo "browser/run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
py=/usr/bin/python3 # Debian's python3, where python3-selenium is (not a pyenv/venv one).
"$py" -c 'import selenium' 2>/dev/null || die "python3-selenium is not importable by $py"

# --- 2. MariaDB ----------------------------------------------------------------------------------
work=$(mktemp -d /tmp/sf-browser.XXXXXX)
chmod 755 "$work"
mysqld_pid= receiver_pid= server_pid=
stop() { # pid: TERM, wait up to 15 s, then KILL
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 60); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null
}
cleanup() {
  local rc=$?
  set +e
  stop "$server_pid"; stop "$receiver_pid"; stop "$mysqld_pid"
  if [ $rc -ne 0 ] && [ -f "$work/server.log" ]; then echo "--- server.log (tail)" >&2; tail -40 "$work/server.log" >&2; fi
  if [ "${SF_KEEP:-}" = 1 ]; then echo "browser/run.sh: kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin() { for b in "$@"; do command -v "$b" 2>/dev/null && return 0; [ -x "/usr/sbin/$b" ] && { echo "/usr/sbin/$b"; return 0; }; done; die "none of $* found"; }
install_db=$(bin mariadb-install-db mysql_install_db)
mysqld=$(bin mariadbd mysqld)
client=$(bin mariadb mysql)
admin=$(bin mariadb-admin mysqladmin)
sock=$work/mysql.sock
mkdir -p "$work/tmp"
shots=${SF_SCREENSHOTS:-$work/screenshots}
mkdir -p "$shots"
shots=$(cd "$shots" && pwd)
"$install_db" --no-defaults --datadir="$work/db" --tmpdir="$work/tmp" --user=root --auth-root-authentication-method=socket \
  --skip-test-db >"$work/install-db.log" 2>&1 || { cat "$work/install-db.log" >&2; die "mariadb-install-db failed"; }
"$mysqld" --no-defaults --datadir="$work/db" --tmpdir="$work/tmp" --socket="$sock" --skip-networking --user=root \
  --pid-file="$work/mysqld.pid" --log-error="$work/mysqld.err" --innodb-buffer-pool-size=32M --max-connections=40 &
mysqld_pid=$!
for _ in $(seq 1 120); do "$admin" --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1 && break; sleep 0.25; done
"$admin" --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1 || { cat "$work/mysqld.err" >&2; die "mariadbd did not start"; }
db_pass=$(openssl rand -hex 16)
"$client" --no-defaults --socket="$sock" -uroot <<SQL
CREATE DATABASE sf_browser DEFAULT CHARACTER SET utf8mb4;
CREATE USER 'sf_browser'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL PRIVILEGES ON sf_browser.* TO 'sf_browser'@'localhost';
SQL

# --- 3. document root + WordPress ------------------------------------------------------------------
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
root=$work/docroot
mkdir -p "$root" "$work/wp-content/plugins" "$work/wp-content/uploads" "$work/wp-content/mu-plugins"
for f in /usr/share/wordpress/*; do
  case $(basename "$f") in wp-config.php | wp-content) ;; *) ln -s "$f" "$root/$(basename "$f")" ;; esac
done
ln -s /usr/share/wordpress/wp-content/themes "$work/wp-content/themes"
ln -s "$work/wp-content" "$root/wp-content"
cp -r "$repo/php/secure-forward" "$work/wp-content/plugins/secure-forward"
cp "$here/shop-stand-in.php" "$work/wp-content/mu-plugins/"
salt() { openssl rand -hex 32; }
export SF_WP_CONFIG=$work/wp-tests-config.php
cat >"$SF_WP_CONFIG" <<PHP
<?php
// Throw-away wp-config written by tests/browser/run.sh (never /etc/wordpress).
define( 'DB_NAME', 'sf_browser' );
define( 'DB_USER', 'sf_browser' );
define( 'DB_PASSWORD', '$db_pass' );
define( 'DB_HOST', 'localhost:$sock' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'AUTH_KEY', '$(salt)' );
define( 'SECURE_AUTH_KEY', '$(salt)' );
define( 'LOGGED_IN_KEY', '$(salt)' );
define( 'NONCE_KEY', '$(salt)' );
define( 'AUTH_SALT', '$(salt)' );
define( 'SECURE_AUTH_SALT', '$(salt)' );
define( 'LOGGED_IN_SALT', '$(salt)' );
define( 'NONCE_SALT', '$(salt)' );
\$GLOBALS['table_prefix'] = 'wpb_';
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', '$root/' );
}
define( 'WP_CONTENT_DIR', '$work/wp-content' );
define( 'WP_CONTENT_URL', '$base/wp-content' );
define( 'WP_HOME', '$base' );
define( 'WP_SITEURL', '$base' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_DISPLAY', false );
define( 'WP_DEBUG_LOG', '$work/debug.log' );
define( 'DISABLE_WP_CRON', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
define( 'SF_TEST_FAKE_WOOCOMMERCE', '$wpt/fake-woocommerce.php' );
define( 'SF_TEST_MAIL_LOG', '$work/mail.jsonl' );
PHP
cat >"$root/wp-config.php" <<PHP
<?php
require '$SF_WP_CONFIG';
require_once ABSPATH . 'wp-settings.php';
PHP
quiet() { "$@" 2> >(grep -v '^PHP Deprecated:' >&2); }

# --- 4. receiver, extension config ---------------------------------------------------------------
ca=$work/ca sf=$work/sf
mkdir -p "$sf"
bash "$repo/tests/support/make-test-ca.sh" "$ca" >/dev/null
receiver=$repo/tests/support/receiver.py

"$py" "$receiver" --cert "$ca/server.pem" --key "$ca/server.key" \
  --port-file "$work/receiver.port" --log "$work/receiver.log" --max-seconds 1800 >/dev/null 2>"$work/receiver.err" &
receiver_pid=$!
for _ in $(seq 1 100); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
[ -s "$work/receiver.port" ] || die "receiver did not start"
rport=$(cat "$work/receiver.port")
(umask 077; printf 'sf-browser-test-api-key-%s' "$(openssl rand -hex 8)" >"$sf/api.key")
# "flaky": the first request to its path gets 422 (dead letter), every later one 200.
cat >"$sf/secure-forward.toml" <<TOML
[destinations.default]
url = "https://localhost:$rport/ok"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"

[destinations.flaky]
url = "https://localhost:$rport/seq/422,200"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"

[outbox]
path = "$sf/outbox.sqlite"
retry_schedule = [0, 3600]

[audit]
path = "$sf/audit.jsonl"
TOML
export SF_PHP_INI="-d extension=$SF_EXTENSION -d secure_forward.config=$sf/secure-forward.toml -d error_log=$work/php-error.log"
phpx() { quiet php -d "extension=$SF_EXTENSION" -d "secure_forward.config=$sf/secure-forward.toml" "$@"; }
phpx -r 'exit(extension_loaded("secure_forward") ? 0 : 1);' || die "PHP did not load $SF_EXTENSION"

quiet php "$wpt/install.php"
quiet php "$wpt/activate.php"

# --- 5. web server, seed, Selenium ---------------------------------------------------------------
PHP_CLI_SERVER_WORKERS=4 php -d "extension=$SF_EXTENSION" -d "secure_forward.config=$sf/secure-forward.toml" \
  -d error_log="$work/php-error.log" -d display_errors=0 \
  -S "127.0.0.1:$port" -t "$root" "$here/router.php" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$base/wp-login.php" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$base/wp-login.php" || die "php -S did not answer on $base"

seed=$(phpx "$here/seed.php")
echo "browser/run.sh: seeded: $seed"
export SF_BASE=$base SF_SEED=$seed SF_SHOTS=$shots SF_WORK=$work SF_RECEIVER_LOG=$work/receiver.log
export SF_FLUSH="php -d extension=$SF_EXTENSION -d secure_forward.config=$sf/secure-forward.toml $here/flush.php"
"$py" "$here/test_admin.py"
if [ -s "$work/php-error.log" ] && grep -E 'PHP (Fatal|Warning|Parse)' "$work/php-error.log" | grep -v 'Deprecated' | grep -q .; then
  grep -E 'PHP (Fatal|Warning|Parse)' "$work/php-error.log" >&2
  die "PHP errors while the browser test ran"
fi
echo "browser/run.sh: passed"
