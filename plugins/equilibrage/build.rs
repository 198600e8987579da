//! Links the wasm rules with the memory their calls need, not the 8 MiB the scorer's batches do.

fn main() {
    // The artifacts build links every default plugin with 8 MiB of initial memory (a scan's
    // scoring batch fits without growing). A rules call takes a few positions, and every call's
    // instance is reset when it ends by a scan of the memory's pages: 17 pages (the 1 MiB
    // stack and the plugin's data, the linker's own choice) make each call about 7 % faster
    // (`cargo bench --bench plugins -- rules_call`, docs/benchmarks.md). Cargo passes a build
    // script's link arguments after `RUSTFLAGS`', and the linker takes the last.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=1114112");
    }
}
