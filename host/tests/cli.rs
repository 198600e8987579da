//! The `equilibrage` binary as an operator uses it: `run` with flags, `plugin list` with the
//! environment.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn run_installs_the_default_plugins_starts_the_simulator_and_serves_the_dashboard() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut addr = None;
    for line in stderr.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("dashboard: http://").nth(1) {
            addr = Some(rest.trim().to_string());
            break;
        }
        assert!(Instant::now() < deadline, "no dashboard line");
    }
    let addr = addr.expect("the bot announced its dashboard");
    // Keep reading the log, or the bot blocks on a full pipe.
    std::thread::spawn(move || stderr.for_each(drop));
    let health = http_get(&addr, "/healthz");
    let plugins = http_get(&addr, "/api/plugins");
    // The engine scans at once and, auto-trading on the simulator, enters its three positions.
    let deadline = Instant::now() + Duration::from_secs(30);
    let overview = loop {
        let overview = http_get(&addr, "/api/dashboard/overview");
        if overview.contains(r#"["open positions","3"]"#) {
            break overview;
        }
        assert!(Instant::now() < deadline, "no positions opened: {overview}");
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(overview.contains(r#""rules":"plugin equilibrage""#), "{overview}");

    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(plugins.contains("\"mode\":\"sim\"") && plugins.contains("\"open_markets\":300"), "{plugins}");
    for name in ["default-scorer", "default-whales", "default-news", "\"equilibrage\""] {
        assert!(plugins.contains(name), "{name} in {plugins}");
    }
    for file in ["scorer.wasm", "whales.wasm", "news.wasm", "equilibrage.wasm"] {
        assert!(data.path().join("plugins").join(file).is_file(), "{file} installed");
    }
    assert!(data.path().join("cache/plugins").read_dir().unwrap().count() >= 4, "compile cache filled");
}

#[test]
fn plugin_list_takes_the_directory_from_the_environment_and_explains_rejections() {
    let dir = tempfile::tempdir().unwrap();
    equilibrage::plugins::install_defaults(dir.path()).unwrap();
    std::fs::write(dir.path().join("broken.wasm"), b"nope").unwrap();
    let out = Command::new(BIN)
        .args(["plugin", "list"])
        .env("EQUILIBRAGE_PLUGIN_DIR", dir.path())
        .env("EQUILIBRAGE_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("default-scorer") && text.contains("equilibrage.wasm"), "{text}");
    assert!(text.contains("broken.wasm") && text.contains("not a WebAssembly component"), "{text}");
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[plugins]\nmemory_limit_mib = 0\n").unwrap();
    let out = Command::new(BIN).args(["plugin", "list", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("plugins.memory_limit_mib"), "{err}");
}

#[test]
fn a_data_directory_that_traded_on_one_venue_is_refused_for_another() {
    let data = tempfile::tempdir().unwrap();
    let run = |config: Option<&std::path::Path>| {
        let mut command = Command::new(BIN);
        command.args(["run", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data.path()).env("NO_COLOR", "1");
        if let Some(c) = config {
            command.arg("--config").arg(c);
        }
        command
    };
    // A first run on the simulator opens a sim account in the database.
    let mut sim =
        run(None).stderr(Stdio::piped()).stdout(Stdio::null()).env("RUST_LOG", "info").spawn().unwrap();
    let mut stderr = BufReader::new(sim.stderr.take().unwrap()).lines();
    assert!(stderr.by_ref().map_while(Result::ok).any(|l| l.contains("engine ready")), "the sim run started");
    std::thread::spawn(move || stderr.for_each(drop));
    sim.kill().unwrap();
    sim.wait().unwrap();
    // The same directory in paper mode: refused before anything trades (no venue is reachable
    // at these addresses, and none needs to be).
    let config = data.path().join("paper.toml");
    std::fs::write(
        &config,
        "[exchange]\nmode = \"paper\"\n[exchange.polymarket]\nclob_url = \"http://127.0.0.1:9\"\n\
         gamma_url = \"http://127.0.0.1:9\"\nws_url = \"ws://127.0.0.1:9\"\n",
    )
    .unwrap();
    let out = run(Some(&config)).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("holds a sim account") && err.contains("separate --data-dir"), "{err}");
}
