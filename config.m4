dnl config.m4: the PECL / PIE build of secure_forward,
dnl     phpize && ./configure && make && make install
dnl The extension is written in Rust: configure finds cargo, and make runs
dnl `cargo build --release --locked` and copies the library to
dnl modules/secure_forward.so (rules in Makefile.frag), which `make install`
dnl puts in PHP's extension directory like any other shared extension.
dnl Needs Rust (cargo), PHP's development files (php-config) and libclang.

PHP_ARG_ENABLE([secure_forward],
  [whether to enable secure_forward],
  [AS_HELP_STRING([--enable-secure_forward],
    [Enable secure_forward (built with cargo; needs Rust and libclang)])],
  [yes])

PHP_ARG_WITH([cargo],
  [for the cargo to build secure_forward with],
  [AS_HELP_STRING([--with-cargo=PATH],
    [secure_forward: the cargo binary (default: cargo on PATH or ~/.cargo/bin)])],
  [no],
  [no])

if test "$PHP_SECURE_FORWARD" != "no"; then
  if test "$PHP_CARGO" != "no" && test "$PHP_CARGO" != "yes"; then
    CARGO=$PHP_CARGO
  else
    AC_PATH_PROG([CARGO], [cargo], [no], [$PATH:$HOME/.cargo/bin])
  fi
  if test "$CARGO" = "no" || test ! -x "$CARGO"; then
    AC_MSG_ERROR([cargo not found: install Rust (https://rustup.rs) or pass --with-cargo=/path/to/cargo])
  fi

  AC_MSG_CHECKING([for PHP 8.2 or later])
  sf_php_vernum=`$PHP_CONFIG --vernum 2>/dev/null`
  if test -z "$sf_php_vernum" || test "$sf_php_vernum" -lt 80200; then
    AC_MSG_ERROR([secure_forward needs PHP 8.2 or later (php-config says ${sf_php_vernum:-nothing})])
  fi
  AC_MSG_RESULT([yes ($sf_php_vernum)])

  dnl Where cargo builds; CARGO_TARGET_DIR in the environment wins.
  if test -z "$CARGO_TARGET_DIR"; then
    CARGO_TARGET_DIR="$abs_builddir/target"
  fi
  SF_CARGO_TARGET_DIR=$CARGO_TARGET_DIR
  dnl A php-config other than the default one on PATH (--with-php-config): cargo's build
  dnl scripts (ext-php-rs) get it, and the PHP binary that goes with it, by absolute path.
  SF_CARGO_ENV=
  if test "$PHP_CONFIG" != "php-config"; then
    sf_php_config=`command -v "$PHP_CONFIG"`
    sf_php=`$PHP_CONFIG --php-binary 2>/dev/null`
    SF_CARGO_ENV="PHP_CONFIG=$sf_php_config PHP=$sf_php"
  fi

  dnl No C sources: the module is the cdylib cargo makes.
  PHP_MODULES='$(phplibdir)/secure_forward.so'
  PHP_SUBST(CARGO)
  PHP_SUBST(SF_CARGO_TARGET_DIR)
  PHP_SUBST(SF_CARGO_ENV)
  PHP_ADD_MAKEFILE_FRAGMENT([$abs_srcdir/Makefile.frag], [$abs_srcdir], [$abs_builddir])
fi
