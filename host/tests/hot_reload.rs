//! Hot reload under load: threads call the scorer without pause while files are swapped in,
//! broken, truncated and half-written; not one call may fail.

mod support;

use equilibrage::plugins::{PluginKind, watch};
use equilibrage_plugin_artifacts as guests;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::{market, runtime, wait_until};

/// Writes `bytes` as a deploy tool would: to a temporary name, then renamed over `path`.
fn deploy(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn active_scorer(plugins: &equilibrage::Plugins) -> String {
    plugins.active_info(PluginKind::Scorer).map(|i| i.name.clone()).unwrap_or_default()
}

#[test]
fn swaps_under_continuous_calls_fail_no_call_and_bad_files_never_replace_a_working_plugin() {
    let (dir, plugins) = runtime(&[]);
    let _hot = watch(&plugins).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (plugins, stop, ok, failed) = (plugins.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let markets = equilibrage::plugins::abi::MarketBatch::from_rows(
                    &(0..50).map(market).collect::<Vec<_>>(),
                );
                while !stop.load(Ordering::Relaxed) {
                    match plugins.score(0, &markets) {
                        Ok(s) if s.scores.len() == 50 => ok.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("failed call: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    let mine = dir.path().join("mine.wasm");
    let within = Duration::from_secs(20);

    // A new plugin is picked up and serves.
    deploy(&mine, guests::TEMPLATE.bytes);
    assert!(wait_until(within, || active_scorer(&plugins) == "template-plugin"), "new plugin swapped in");
    let calls_before = ok.load(Ordering::Relaxed);
    assert!(
        wait_until(within, || ok.load(Ordering::Relaxed) > calls_before + 5),
        "calls go on after the swap"
    );

    // Broken files are rejected, the loaded version keeps serving.
    let rejected =
        |plugins: &equilibrage::Plugins| plugins.files().iter().any(|f| f.file == mine && f.result.is_err());
    let template = guests::TEMPLATE.bytes;
    for broken in [
        &template[..template.len() / 3],
        b"not wasm at all".as_slice(),
        guests::OLD_INTERFACE.bytes,
        b"".as_slice(),
    ] {
        deploy(&mine, broken);
        assert!(wait_until(within, || rejected(&plugins)), "broken file rejected");
        assert_eq!(active_scorer(&plugins), "template-plugin", "old version still serving");
        deploy(&mine, template);
        assert!(wait_until(within, || plugins.files().iter().any(|f| f.file == mine && f.result.is_ok())));
    }

    // A file written in place, slowly: the half-written state is rejected, the full one loads.
    {
        use std::io::Write as _;
        let bytes = guests::BAD_OUTPUT.bytes;
        let mut f = std::fs::File::create(&mine).unwrap();
        f.write_all(&bytes[..bytes.len() / 2]).unwrap();
        f.flush().unwrap();
        assert!(wait_until(within, || rejected(&plugins)), "the half-written file is rejected");
        assert_eq!(active_scorer(&plugins), "template-plugin", "a half-written file never serves");
        f.write_all(&bytes[bytes.len() / 2..]).unwrap();
    }
    assert!(wait_until(within, || active_scorer(&plugins) == "bad-output"), "the completed file loads");

    // Removing the file falls back to the default scorer.
    std::fs::remove_file(&mine).unwrap();
    assert!(wait_until(within, || active_scorer(&plugins) == "default-scorer"));

    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no call failed");
    assert!(ok.load(Ordering::Relaxed) > 20, "calls kept flowing: {}", ok.load(Ordering::Relaxed));
}

/// FIFOs, devices, symlinks to them and oversized files under a `.wasm` name are refused with
/// why, at start and while watching, without ever blocking the watcher or reading the file.
#[test]
fn only_regular_files_under_the_size_cap_are_read_and_nothing_blocks_the_watcher() {
    use equilibrage::plugins::{PluginOptions, Plugins};
    let dir = tempfile::tempdir().unwrap();
    equilibrage::plugins::install_defaults(dir.path()).unwrap();
    let fifo = dir.path().join("fifo.wasm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.wasm")).unwrap();
    std::os::unix::fs::symlink(&fifo, dir.path().join("to-fifo.wasm")).unwrap();
    let big = dir.path().join("big.wasm");
    std::fs::File::create(&big).unwrap().set_len((2 << 20) + 1).unwrap();
    // A symlink to a regular plugin file is fine; newer than the defaults, so its scorer wins.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(dir.path().join("real.bin"), guests::TEMPLATE.bytes).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real.bin"), dir.path().join("linked.wasm")).unwrap();

    let mut options = PluginOptions::new(dir.path(), Some(support::cache_dir()));
    options.limits = support::limits();
    options.max_file_bytes = 2 << 20;
    let plugins = Plugins::new(options).unwrap();
    // At start: nothing blocks (a FIFO opened for reading would wait for a writer forever).
    let (done, started) = (std::sync::mpsc::channel(), std::time::Instant::now());
    let loader = plugins.clone();
    std::thread::spawn(move || done.0.send(loader.load_dir().unwrap()).unwrap());
    let statuses =
        done.1.recv_timeout(Duration::from_secs(60)).expect("the directory loads without blocking");
    eprintln!("loaded in {:?}", started.elapsed());
    let why = |name: &str| {
        let file = dir.path().join(name);
        statuses.iter().find(|s| s.file == file).and_then(|s| s.result.clone().err()).unwrap_or_default()
    };
    assert!(why("fifo.wasm").contains("not a regular file (a FIFO)"), "{}", why("fifo.wasm"));
    assert!(why("to-fifo.wasm").contains("not a regular file (a FIFO)"), "{}", why("to-fifo.wasm"));
    assert!(why("zero.wasm").contains("not a regular file (a device)"), "{}", why("zero.wasm"));
    assert!(why("big.wasm").contains("3 MiB is over the 2 MiB"), "{}", why("big.wasm"));
    assert_eq!(active_scorer(&plugins), "template-plugin", "a symlink to a regular file loads");

    // While watching: a new FIFO is refused and later files still load.
    let _hot = watch(&plugins).unwrap();
    let fifo2 = dir.path().join("fifo2.wasm");
    assert!(std::process::Command::new("mkfifo").arg(&fifo2).status().unwrap().success());
    let within = Duration::from_secs(20);
    assert!(wait_until(within, || plugins.files().iter().any(|f| f.file == fifo2 && f.result.is_err())));
    deploy(&dir.path().join("after.wasm"), guests::BAD_OUTPUT.bytes);
    assert!(wait_until(within, || active_scorer(&plugins) == "bad-output"), "the watcher goes on");
}

#[test]
fn a_listing_never_shows_a_kind_without_its_active_plugin_during_swaps() {
    // One file alternates between two scorers of different names: each load replaces the
    // other's plugin and makes the new one active. A listing taken at any moment shows exactly
    // one active scorer (the registry changes the loaded set and the active slot together).
    let (dir, plugins) = runtime(&[]);
    let path = dir.path().join("zz-swapped.wasm");
    let stop = Arc::new(AtomicBool::new(false));
    let (listings, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let lister = {
        let (plugins, stop, listings, bad) =
            (plugins.clone(), Arc::clone(&stop), Arc::clone(&listings), Arc::clone(&bad));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let active =
                    plugins.list().iter().filter(|p| p.info.kind == PluginKind::Scorer && p.active).count();
                listings.fetch_add(1, Ordering::Relaxed);
                if active != 1 {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    for i in 0..200 {
        let bytes = if i % 2 == 0 { guests::TEMPLATE.bytes } else { guests::VETO_SCORER.bytes };
        std::fs::write(&path, bytes).unwrap();
        plugins.load_file(&path);
        let expected = if i % 2 == 0 { "template-plugin" } else { "veto-scorer" };
        assert_eq!(active_scorer(&plugins), expected, "swap {i}");
    }
    stop.store(true, Ordering::Relaxed);
    lister.join().unwrap();
    assert!(listings.load(Ordering::Relaxed) > 0);
    assert_eq!(bad.load(Ordering::Relaxed), 0, "listings without exactly one active scorer");
}
