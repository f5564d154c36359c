//! tools/capi-install.sh installs the header, the libraries and `uidcache.pc`; with
//! PKG_CONFIG_PATH pointing there, `pkg-config --cflags --libs uidcache` gives what a C
//! program needs, and the C example builds with it and runs against the shared library.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod support;

use std::process::Command;

use support::cbuild;

#[test]
fn pkg_config_flags_build_the_example_against_the_installed_library() {
    let prefix = tempfile::tempdir().unwrap();
    let built = cbuild::static_lib().parent().unwrap().to_path_buf();
    let root = cbuild::repo_root();
    let install = Command::new("bash")
        .arg(root.join("tools/capi-install.sh"))
        .arg(prefix.path())
        .arg(&built)
        .output()
        .unwrap();
    cbuild::assert_success("tools/capi-install.sh", &install);

    let pc_dir = prefix.path().join("lib/pkgconfig");
    let pkg = Command::new("pkg-config")
        .args(["--cflags", "--libs", "uidcache"])
        .env("PKG_CONFIG_PATH", &pc_dir)
        .output()
        .expect("pkg-config is installed");
    cbuild::assert_success("pkg-config", &pkg);
    let flags = String::from_utf8(pkg.stdout).unwrap();
    let prefix_str = prefix.path().canonicalize().unwrap();
    let prefix_str = prefix_str.to_str().unwrap();
    assert!(
        flags.contains(&format!("-I{prefix_str}/include")),
        "{flags}"
    );
    assert!(flags.contains(&format!("-L{prefix_str}/lib")), "{flags}");
    assert!(flags.contains("-luidcache_capi"), "{flags}");
    let version = Command::new("pkg-config")
        .args(["--modversion", "uidcache"])
        .env("PKG_CONFIG_PATH", &pc_dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        env!("CARGO_PKG_VERSION")
    );

    // The example, built the way its header comment says, linked to the shared library.
    let exe = prefix.path().join("client");
    let cc = Command::new("cc")
        .arg(root.join("examples/c/client.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    cbuild::assert_success("cc with pkg-config flags", &cc);
    let needed = Command::new("readelf")
        .arg("-d")
        .arg(&exe)
        .output()
        .unwrap();
    let needed = String::from_utf8(needed.stdout).unwrap();
    assert!(
        needed.contains("[libuidcache_capi.so.1]"),
        "the program must need the ABI-major soname:\n{needed}"
    );
    let dir = prefix.path().join("INBOX");
    let run = Command::new(&exe)
        .arg(&dir)
        .env("LD_LIBRARY_PATH", prefix.path().join("lib"))
        .output()
        .unwrap();
    cbuild::assert_success("the example linked with -luidcache_capi", &run);
    assert!(String::from_utf8(run.stdout)
        .unwrap()
        .contains("cache and server agree"));
}
