#!/usr/bin/env bash
# Runs the WordPress plugin's tests against REAL WordPress (Debian's `wordpress` package) and a
# REAL MariaDB, on a fresh Debian 12 machine as root:
#   1. apt-get installs what is missing (wordpress, mariadb-server, php8.2-cli, php8.2-mysql,
#      phpunit, python3, openssl);
#   2. starts a private mariadbd (temp datadir, unix socket only, no networking) and creates a
#      throw-away database + user;
#   3. writes a throw-away wp-config (never /etc/wordpress), a temp wp-content with a copy of
#      php/secure-forward, installs WordPress (install.php) and activates the plugin (activate.php);
#   4. with SF_EXTENSION=/path/libsecure_forward.so: makes a test CA, starts tests/support/receiver.py
#      (HTTPS), writes a TOML config + 0600 key file and runs PHPUnit with
#      `php -d extension=$SF_EXTENSION -d secure_forward.config=...`;
#      without SF_EXTENSION: runs PHPUnit with the TEST-ONLY shim tests/wordpress/fake-extension.php;
#   5. stops everything it started and removes the temp dir (SF_KEEP=1 keeps it); exits non-zero
#      on any failure.
# Extra arguments go to PHPUnit (e.g. --filter Mapper).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=$repo
. "$repo/tests/support/testlib.sh"
export SF_FIXTURES=${SF_FIXTURES:-$repo/tests/fixtures/woocommerce-10.0.2}
die() { echo "run.sh: $*" >&2; exit 1; }
[ -d "$SF_FIXTURES" ] || die "fixtures not found: $SF_FIXTURES (set SF_FIXTURES)"
SF_FIXTURES=$(cd "$SF_FIXTURES" && pwd)
if [ -n "${SF_EXTENSION:-}" ]; then
  [ -f "$SF_EXTENSION" ] || die "SF_EXTENSION=$SF_EXTENSION does not exist"
  SF_EXTENSION=$(cd "$(dirname "$SF_EXTENSION")" && pwd)/$(basename "$SF_EXTENSION")
fi

# --- 1. packages -------------------------------------------------------------------------------
need=()
for p in wordpress mariadb-server mariadb-client php8.2-cli php8.2-mysql phpunit python3 openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}) and not root"
  echo "run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
[ -f /usr/share/wordpress/wp-settings.php ] || die "Debian's wordpress package is not at /usr/share/wordpress"

# --- 2. MariaDB ----------------------------------------------------------------------------------
work=$(mktemp -d /tmp/sf-wp-tests.XXXXXX)
chmod 755 "$work"
sf_pids=()
. "$repo/tests/support/mariadb.sh"
cleanup() {
  local rc=$?
  set +e
  sf_stop
  sf_mariadb_stop
  if [ "${SF_KEEP:-}" = 1 ]; then echo "run.sh: kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sf_mariadb_start "$work" || die "the private MariaDB did not start"
sock=$sf_db_sock
db_pass=$(openssl rand -hex 16)
"${sf_db_client[@]}" <<SQL
CREATE DATABASE sf_wp_test DEFAULT CHARACTER SET utf8mb4;
CREATE USER 'sf_wp'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL PRIVILEGES ON sf_wp_test.* TO 'sf_wp'@'localhost';
SQL

# --- 3. WordPress ----------------------------------------------------------------------------------
mkdir -p "$work/wp-content/plugins" "$work/wp-content/uploads"
ln -s /usr/share/wordpress/wp-content/themes "$work/wp-content/themes"
cp -r "$repo/php/secure-forward" "$work/wp-content/plugins/secure-forward"
salt() { openssl rand -hex 32; }
export SF_WP_CONFIG=$work/wp-tests-config.php
cat >"$SF_WP_CONFIG" <<PHP
<?php
// Throw-away wp-config written by tests/wordpress/run.sh. Replaces Debian's
// /usr/share/wordpress/wp-config.php (which would read /etc/wordpress/config-*.php).
define( 'DB_NAME', 'sf_wp_test' );
define( 'DB_USER', 'sf_wp' );
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
\$GLOBALS['table_prefix'] = 'wptests_';
define( 'ABSPATH', '/usr/share/wordpress/' );
define( 'WP_CONTENT_DIR', '$work/wp-content' );
define( 'WP_CONTENT_URL', 'http://example.org/wp-content' );
define( 'WP_HOME', 'http://example.org' );
define( 'WP_SITEURL', 'http://example.org' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_DISPLAY', true );
define( 'DISABLE_WP_CRON', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
PHP
# WordPress 6.1 on PHP 8.2 prints core deprecation notices (WP_DEBUG): not ours, keep them out of the way.
quiet() { "$@" 2> >(grep -v '^PHP Deprecated:' >&2); }
quiet php "$here/install.php"
quiet php "$here/activate.php"

# --- 4. extension (real or test-only shim) ---------------------------------------------------------
phpargs=()
if [ -n "${SF_EXTENSION:-}" ]; then
  ca=$work/ca sf=$work/sf
  mkdir -p "$sf"
  sf_ca "$ca"
  sf_receiver "$work/receiver.log" 1800 || die "receiver did not start"
  (umask 077; printf 'sf-wordpress-test-api-key' >"$sf/api.key"; cp "$sf/api.key" "$sf/late.key")
  cat >"$sf/secure-forward.toml" <<TOML
[destinations.default]
url = "https://localhost:$port/ok"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"

# Destinations with their own events (#18): the plugin forwards each event to every
# destination whose events include it; these stay out of the default events' way.
[destinations.erp]
url = "https://localhost:$port/ok"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"
events = ["order.manual"]

[destinations.crm]
url = "https://localhost:$port/ok/crm"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"
events = ["order.manual", "order.shipped"]

[destinations.late]
url = "https://localhost:$port/ok"
key_file = "$sf/late.key"
ca_file = "$ca/ca.pem"
# Reached only through the secure_forward_destinations filter in the tests that use it.
events = ["order.never"]

[destinations.reject]
url = "https://localhost:$port/status/422"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"
events = ["order.never"]

[destinations.down]
url = "https://localhost:$port/status/503"
key_file = "$sf/api.key"
ca_file = "$ca/ca.pem"
events = ["order.never"]

[outbox]
path = "$sf/outbox.sqlite"
retry_schedule = [0, 3600]

[audit]
path = "$sf/audit.jsonl"
TOML
  phpargs=(-d "extension=$SF_EXTENSION" -d "secure_forward.config=$sf/secure-forward.toml")
  php "${phpargs[@]}" -r 'exit(extension_loaded("secure_forward") ? 0 : 1);' \
    || die "PHP did not load $SF_EXTENSION"
  export SF_RECEIVER_LOG=$work/receiver.log SF_LATE_KEY=$sf/late.key
  echo "run.sh: REAL extension $SF_EXTENSION, receiver on https://localhost:$port/"
else
  unset SF_RECEIVER_LOG
  echo "run.sh: SF_EXTENSION unset: using the TEST-ONLY shim tests/wordpress/fake-extension.php"
fi
export SF_PHP_ARGS="${phpargs[*]:-}"

# --- 5. PHPUnit ------------------------------------------------------------------------------------
php "${phpargs[@]}" "$(command -v phpunit)" -c "$here/phpunit.xml" "$@"
