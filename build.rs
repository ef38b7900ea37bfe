//! Build script: fail early and readably when the PHP toolchain is missing, and
//! embed build facts (version, commit, TLS provider, dependency versions) that
//! phpinfo() shows.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-env-changed=PHP_CONFIG");
    check_toolchain();
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version_of = |name: &str| locked_version(&lock, name).unwrap_or_else(|| "unknown".into());
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    if std::path::Path::new(".git/HEAD").exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
    }
    println!("cargo:rustc-env=SF_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=SF_BUILD_EXT_PHP_RS={}", version_of("ext-php-rs"));
    println!("cargo:rustc-env=SF_BUILD_RUSTLS={}", version_of("rustls"));
    println!("cargo:rustc-env=SF_BUILD_UREQ={}", version_of("ureq"));
    println!("cargo:rustc-env=SF_BUILD_SQLITE={}", version_of("libsqlite3-sys"));
    println!(
        "cargo:rustc-env=SF_BUILD_TLS_PROVIDER=rustls {} with ring {} (webpki-roots)",
        version_of("rustls"),
        version_of("ring")
    );
    println!("cargo:rustc-env=SF_BUILD_PROFILE={}", std::env::var("PROFILE").unwrap_or_default());
}

/// The version of `name` in Cargo.lock (the first entry if several).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    let rest = lock.get(start..)?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

fn check_toolchain() {
    let php_config = std::env::var("PHP_CONFIG").unwrap_or_else(|_| "php-config".into());
    let ok = Command::new(&php_config).arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        fail(&format!(
            "`{php_config}` was not found. Install PHP's development files first:\n    \
             apt-get install php8.2-dev   (Debian 12)\nor set PHP_CONFIG to your php-config. \
             `make build` installs everything on Debian/Ubuntu."
        ));
    }
    let clang_ok = std::env::var_os("LIBCLANG_PATH").is_some()
        || [
            "/usr/lib/llvm-14/lib",
            "/usr/lib/llvm-15/lib",
            "/usr/lib/llvm-16/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
        ]
        .iter()
        .any(|d| {
            std::fs::read_dir(d).is_ok_and(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libclang")))
        });
    if !clang_ok {
        fail(
            "libclang was not found (bindgen needs it to read PHP's headers). Install it:\n    \
              apt-get install libclang-dev clang\nor set LIBCLANG_PATH.",
        );
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("\nsecure_forward build: {msg}\n");
    println!("cargo:warning={}", msg.lines().next().unwrap_or(msg));
    std::process::exit(1);
}
