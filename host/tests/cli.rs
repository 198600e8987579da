//! The `equilibrage` binary as an operator uses it: `run` with flags, `plugin list` with the
//! environment, the dashboard's access token (shown once, from the environment, reset).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_equilibrage");
const TOKEN_VAR: &str = "EQUILIBRAGE_TOKEN";
const TOKEN: &str = "cli-test-token-6a1f0c9e2b7d4e8f";

/// A GET with the access token as a bearer token (none: anonymous); the raw response.
fn http_get_as(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn http_get(addr: &str, path: &str) -> String {
    http_get_as(addr, path, Some(TOKEN))
}

/// A bot on the simulator in `data`, stdout captured; `token` goes to `EQUILIBRAGE_TOKEN` (none:
/// the variable is removed).
fn start(data: &Path, token: Option<&str>) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    match token {
        Some(t) => command.env(TOKEN_VAR, t),
        None => command.env_remove(TOKEN_VAR),
    };
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = stderr
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.split("dashboard: http://").nth(1).map(|a| a.trim().to_owned()))
        .expect("the bot announced its dashboard");
    // Keep reading the log, or the bot blocks on a full pipe.
    std::thread::spawn(move || stderr.for_each(drop));
    (child, addr)
}

/// Stops a bot and returns everything it printed on stdout.
fn stop(mut child: Child) -> String {
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}

/// The token in a "shown once" block.
fn shown_token(stdout: &str) -> Option<String> {
    let mut lines = stdout.lines().skip_while(|l| !l.contains("Dashboard access token (shown once)"));
    lines.next()?;
    lines.map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

fn status(response: &str) -> &str {
    response.split_whitespace().nth(1).unwrap_or("")
}

#[test]
fn run_installs_the_default_plugins_starts_the_simulator_and_serves_the_dashboard() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env(TOKEN_VAR, TOKEN)
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
        if overview.contains(r#""active_positions":3"#) {
            break overview;
        }
        assert!(Instant::now() < deadline, "no positions opened: {overview}");
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(overview.contains(r#""rules":"plugin equilibrage""#), "{overview}");
    assert!(overview.contains(r#""plugins_loaded":4"#), "{overview}");

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

#[test]
fn the_first_start_shows_a_token_once_and_token_reset_makes_a_new_one() {
    let data = tempfile::tempdir().unwrap();
    let (bot, addr) = start(data.path(), None);
    let overview = "/api/dashboard/overview";
    assert_eq!(status(&http_get_as(&addr, overview, None)), "401", "the API wants the token");
    let first_out = stop_after(bot, |stdout_token| {
        assert_eq!(status(&http_get_as(&addr, overview, Some(stdout_token))), "200");
        assert_eq!(status(&http_get_as(&addr, overview, Some("not-the-token"))), "401");
    });
    let token = shown_token(&first_out).unwrap_or_else(|| panic!("no token shown: {first_out}"));
    assert!(first_out.contains(&format!("http://{addr}/login")), "{first_out}");
    assert_eq!(first_out.matches(&token).count(), 1, "shown once: {first_out}");

    // The second start takes the stored token and shows none; `token reset` is refused meanwhile.
    let (bot, addr) = start(data.path(), None);
    assert_eq!(status(&http_get_as(&addr, overview, Some(&token))), "200");
    let busy = Command::new(BIN).args(["token", "reset", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(!busy.status.success());
    let err = String::from_utf8_lossy(&busy.stderr);
    assert!(err.contains("in use") && err.contains("stop it first"), "{err}");
    let second_out = stop(bot);
    assert!(!second_out.contains("access token"), "no token the second time: {second_out}");

    // Reset with the bot stopped: a new token, shown once; the old one no longer works.
    let reset = Command::new(BIN)
        .args(["token", "reset", "--data-dir"])
        .arg(data.path())
        .env_remove(TOKEN_VAR)
        .output()
        .unwrap();
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    let reset_out = String::from_utf8(reset.stdout).unwrap();
    let new_token = shown_token(&reset_out).unwrap_or_else(|| panic!("no token shown: {reset_out}"));
    assert_ne!(new_token, token);
    assert!(reset_out.contains("log in again"), "{reset_out}");
    let (bot, addr) = start(data.path(), None);
    assert_eq!(status(&http_get_as(&addr, overview, Some(&new_token))), "200");
    assert_eq!(status(&http_get_as(&addr, overview, Some(&token))), "401");
    assert!(!stop(bot).contains("access token"));
}

/// Stops a bot once `check` has run with the token it showed (read from its stdout as it comes),
/// and returns its whole stdout.
fn stop_after(mut bot: Child, check: impl FnOnce(&str)) -> String {
    let mut stdout = BufReader::new(bot.stdout.take().unwrap());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "stdout ended: {seen}");
        seen.push_str(&line);
        if let Some(token) = shown_token(&seen) {
            break token;
        }
        assert!(Instant::now() < deadline, "no token: {seen}");
    };
    check(&token);
    bot.kill().unwrap();
    bot.wait().unwrap();
    stdout.read_to_string(&mut seen).unwrap();
    seen
}

#[test]
fn the_token_from_the_environment_works_and_none_is_shown() {
    let data = tempfile::tempdir().unwrap();
    let (bot, addr) = start(data.path(), Some(TOKEN));
    let overview = http_get(&addr, "/api/dashboard/overview");
    assert_eq!(status(&overview), "200", "{overview}");
    assert_eq!(status(&http_get_as(&addr, "/api/dashboard/overview", Some("other"))), "401");
    let out = stop(bot);
    assert!(!out.contains("access token") && !out.contains(TOKEN), "nothing shown: {out}");
}

/// Runs the bot with `args` and `config` (a TOML file), `RUST_LOG` as given (none: removed) and
/// no `NO_COLOR`, its standard error a pipe as under a service manager; waits for `done` in the
/// log, then stops it and returns the whole log.
fn log_of(config: &str, args: &[&str], rust_log: Option<&str>, done: &str) -> String {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("bot.toml");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .args(args)
        .arg("--data-dir")
        .arg(data.path().join("data"))
        .env_remove("NO_COLOR")
        .env(TOKEN_VAR, TOKEN)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    match rust_log {
        Some(level) => command.env("RUST_LOG", level),
        None => command.env_remove("RUST_LOG"),
    };
    let mut child = command.spawn().unwrap();
    let (lines, rx) = (BufReader::new(child.stderr.take().unwrap()).lines(), std::sync::mpsc::channel());
    let done = done.to_owned();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in lines.map_while(Result::ok) {
            if line.contains(&done) {
                let _ = rx.0.send(());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    rx.1.recv_timeout(Duration::from_secs(60)).expect("the awaited line was logged");
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn the_log_has_no_colours_off_a_terminal_takes_levels_per_module_and_speaks_json() {
    // Text to a pipe: plain lines; the scanner held at warn while the rest of the engine logs
    // at info. The scans (the scanner's, at info) are not shown; the entry they led to is.
    let config = "[log]\nlevel = \"info,equilibrage::engine::scanner=warn\"\n";
    let text = log_of(config, &[], None, "entering");
    assert!(!text.contains('\u{1b}'), "no escape codes in a log file:\n{text}");
    assert!(text.contains(" INFO equilibrage: dashboard: http://"), "{text}");
    assert!(text.contains(" INFO equilibrage::engine::trader: entering"), "{text}");
    assert!(
        !text.lines().any(|l| l.contains(" INFO equilibrage::engine::scanner")),
        "the scanner is held at warn:\n{text}"
    );

    // JSON lines, chosen on the command line; RUST_LOG wins over the file's level.
    let json =
        log_of("[log]\nlevel = \"error\"\n", &["--log-format", "json"], Some("info"), "dashboard: http://");
    let mut messages = Vec::new();
    for line in json.lines().filter(|l| !l.trim().is_empty()) {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(event.get(key).is_some(), "{key} in {line}");
        }
        messages.push((
            event["level"].as_str().unwrap().to_owned(),
            event["message"].as_str().unwrap().to_owned(),
        ));
    }
    assert!(
        messages.iter().any(|(level, m)| level == "INFO" && m.starts_with("dashboard: http://127.0.0.1:")),
        "{json}"
    );

    // A filter the log cannot read is refused with the key named.
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("bad.toml");
    std::fs::write(&file, "[log]\nlevel = \"info,[broken\"\n").unwrap();
    let out = Command::new(BIN).args(["plugin", "list", "--config"]).arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("log.level"), "{err}");
}
