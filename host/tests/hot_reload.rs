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
