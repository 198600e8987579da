//! Compiles every guest plugin to a `wasm32-wasip2` component with a nested cargo, so a plain
//! `cargo build` (or test, clippy, run) of the workspace needs no manual step.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// (constant name, package, file stem of the artifact)
const GUESTS: &[(&str, &str, &str)] = &[
    ("SCORER", "equilibrage-scorer", "equilibrage_scorer"),
    ("WHALES", "equilibrage-whales", "equilibrage_whales"),
    ("NEWS", "equilibrage-news", "equilibrage_news"),
    ("EQUILIBRAGE", "equilibrage-rules", "equilibrage_rules"),
    ("TEMPLATE", "equilibrage-plugin-template", "equilibrage_plugin_template"),
    ("BUSY_LOOP", "fixture-busy-loop", "fixture_busy_loop"),
    ("MEMORY_BOMB", "fixture-memory-bomb", "fixture_memory_bomb"),
    ("TRAP", "fixture-trap", "fixture_trap"),
    ("BAD_OUTPUT", "fixture-bad-output", "fixture_bad_output"),
    ("BAD_RULES", "fixture-bad-rules", "fixture_bad_rules"),
    ("GREEDY_RULES", "fixture-greedy-rules", "fixture_greedy_rules"),
    ("GREEDY_SCORER", "fixture-greedy-scorer", "fixture_greedy_scorer"),
    ("GREEDY_WHALES", "fixture-greedy-whales", "fixture_greedy_whales"),
    ("GREEDY_NEWS", "fixture-greedy-news", "fixture_greedy_news"),
    ("GREEDY_DESCRIBE", "fixture-greedy-describe", "fixture_greedy_describe"),
    ("OLD_INTERFACE", "fixture-old-interface", "fixture_old_interface"),
    ("SNOOP", "fixture-snoop", "fixture_snoop"),
    ("ECHO_FEATURES", "fixture-echo-features", "fixture_echo_features"),
    ("VETO_SCORER", "fixture-veto-scorer", "fixture_veto_scorer"),
    ("EAGER_RULES", "fixture-eager-rules", "fixture_eager_rules"),
    ("NOISY_RULES", "fixture-noisy-rules", "fixture_noisy_rules"),
    ("REMEMBER", "fixture-remember", "fixture_remember"),
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..").canonicalize().expect("workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    for watched in [
        "wit",
        "plugins/sdk",
        "plugins/scorer",
        "plugins/whales",
        "plugins/news",
        "plugins/equilibrage",
        "plugins/template",
        "plugins/fixtures",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    ensure_target();
    let guest_target = guest_target_dir(&out_dir);
    build_guests(&root, &guest_target);

    let release = guest_target.join(TARGET).join("release");
    let mut code = String::new();
    for (constant, package, stem) in GUESTS {
        let built = release.join(format!("{stem}.wasm"));
        // Copy into OUT_DIR so a later nested build cannot change bytes this crate already embeds.
        let copy = out_dir.join(format!("{stem}.wasm"));
        fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
        writeln!(
            code,
            "/// The `{package}` component.\npub const {constant}: Guest = Guest {{ package: {package:?}, file: \"{stem}.wasm\", bytes: include_bytes!({copy:?}) }};",
            copy = copy.display().to_string(),
        )
        .expect("write to string");
    }
    writeln!(
        code,
        "/// Every guest this crate builds.\npub const ALL: &[Guest] = &[{}];",
        GUESTS.iter().map(|g| g.0).collect::<Vec<_>>().join(", ")
    )
    .expect("write to string");
    writeln!(code, "/// The cargo target directory the guests were built in (warm for building more guests).\npub const GUEST_TARGET_DIR: &str = {:?};", guest_target.display().to_string()).expect("write to string");
    fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
}

/// Installs the wasm target when the toolchain lacks it: rustup's automatic install may be off,
/// and naming the target in rust-toolchain.toml alone does not install it then.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot =
        Command::new(&rustc).args(["--print", "sysroot"]).output().expect("run rustc --print sysroot");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).join("lib").is_dir() {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "1.95.0".into());
    println!("cargo:warning=installing the {TARGET} target for toolchain {toolchain} (rustup target add)");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET, "--toolchain", &toolchain])
        .status()
        .unwrap_or_else(|e| panic!("the {TARGET} target is missing and rustup could not be run ({e}); install the target for {toolchain} by hand"));
    assert!(status.success(), "`rustup target add {TARGET} --toolchain {toolchain}` failed");
}

/// `<target-dir>/guests`, next to the host's own profiles, so debug and release builds, tests and
/// clippy all share one warm guest build.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    // OUT_DIR is <target-dir>/[<triple>/]<profile>/build/<pkg>-<hash>/out
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(|| out_dir.join("guests"), |t| t.join("guests"))
}

fn build_guests(root: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    for (_, package, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // The outer build's settings are for the host, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    // Small components: no debug info (the workspace's release profile keeps line tables for the host).
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    // WebAssembly SIMD (which wasmtime supports) lets LLVM vectorize as it does for the host.
    // 8 MiB of initial memory holds a 20,000-market scoring batch, so a call does not grow its
    // memory several times (each a libcall, an mprotect and zeroing; docs/benchmarks.md).
    cmd.env(
        "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
        "-Ctarget-feature=+simd128 -Clink-arg=--initial-memory=8388608",
    );
    // One codegen unit and LTO: plugins are small, and the host pays for every instruction.
    cmd.env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1").env("CARGO_PROFILE_RELEASE_LTO", "fat");
    let status = cmd.status().expect("run cargo to build the guest plugins");
    assert!(status.success(), "building the guest plugins for {TARGET} failed (see the errors above)");
}
