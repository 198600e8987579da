//! End-to-end harness: the real `equilibrage` binary on the simulator, driven through headless
//! Chromium by chromedriver (WebDriver, fantoccini). Every process started here is killed when
//! its handle drops, so a failing test leaves nothing running. Waits poll a condition against a
//! deadline; nothing sleeps to synchronise.

use fantoccini::{Client, ClientBuilder, Locator};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The binary under test: this build's, or `EQUILIBRAGE_E2E_BIN` (e.g. a release build).
#[must_use]
pub fn bin() -> PathBuf {
    std::env::var_os("EQUILIBRAGE_E2E_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_equilibrage")), PathBuf::from)
}

/// How long one wait may take: generous, for a loaded 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(30);

/// How often a waiting condition is checked again.
const POLL: Duration = Duration::from_millis(100);

/// Finds `program` on `PATH`.
#[must_use]
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// The browser and its driver, or a failure that says what to install: the end-to-end test is
/// never skipped for want of a browser.
#[must_use]
pub fn require_browser() -> (PathBuf, PathBuf) {
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    let driver = on_path("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        (c, d) => panic!(
            "the browser test needs Chromium and chromedriver on PATH (chromium: {}, chromedriver: {}). \
             Install them: `apt-get install -y chromium chromium-driver` (Debian; .ci/run does this)",
            c.map_or_else(|| "missing".into(), |p| p.display().to_string()),
            d.map_or_else(|| "missing".into(), |p| p.display().to_string()),
        ),
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free local port").port()
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last lines a child wrote to stderr, kept for failure messages, and every line (up to
/// 256 MiB) for tests that search the whole log.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<VecDeque<String>>>, Arc<Mutex<String>>);

impl Log {
    const KEEP: usize = 200;
    const WHOLE: usize = 256 << 20;

    fn push(&self, line: String) {
        {
            let mut whole = self.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if whole.len() + line.len() < Self::WHOLE {
                whole.push_str(&line);
                whole.push('\n');
            }
        }
        let mut lines = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lines.len() == Self::KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Every line so far.
    #[must_use]
    pub fn whole(&self) -> String {
        self.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The kept lines, oldest first.
    #[must_use]
    pub fn tail(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

/// Reads a child's stderr on a thread into `log`, sending each line to the returned channel
/// too (so a caller can wait for one), and keeps draining it so the child never blocks.
fn follow(child: &mut Child, log: &Log) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    let log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push(line.clone());
            let _ = tx.send(line);
        }
    });
    rx
}

/// chromedriver on a free local port.
#[derive(Debug)]
pub struct Chromedriver {
    _child: Killed,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub chromium: PathBuf,
    pub log: Log,
}

impl Chromedriver {
    /// Starts chromedriver and waits until it answers `/status`.
    ///
    /// # Panics
    /// Chromium or chromedriver missing (with what to install), or the driver not ready in time.
    #[must_use]
    pub fn start() -> Self {
        let (chromium, driver) = require_browser();
        // The port is free when picked; another process could take it before chromedriver
        // binds it, so a driver that exits at once is started again on another port.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = Log::default();
            let mut child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
            let _lines = follow(&mut child, &log);
            let mut child = Killed(child);
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.0.try_wait() {
                    last = format!("chromedriver exited with {status}:\n{}", log.tail());
                    break;
                }
                if http_status_ready(port) {
                    return Self { _child: child, url: format!("http://127.0.0.1:{port}"), chromium, log };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if last.is_empty() {
                last = format!("chromedriver did not answer within {WAIT:?}:\n{}", log.tail());
            }
        }
        panic!("{last}");
    }

    /// A new headless Chromium session with a fresh profile, 1280×1000.
    ///
    /// # Panics
    /// The session cannot be created.
    pub async fn browser(&self, profile: &Path) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": self.chromium, "args": args },
            // Dialogs stay open until the test answers them (a `confirm()` is part of the flow).
            "unhandledPromptBehavior": "ignore",
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(capabilities).connect(&self.url).await.unwrap_or_else(
            |e| panic!("creating a Chromium session: {e}\nchromedriver:\n{}", self.log.tail()),
        )
    }
}

/// Whether an HTTP server on `port` answers `GET /status` with 200.
fn http_status_ready(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// The bot, started as an operator would: `equilibrage run` with a data directory, a config
/// file, an address and the access token in `EQUILIBRAGE_TOKEN`.
#[derive(Debug)]
pub struct Bot {
    child: Killed,
    /// `127.0.0.1:<port>`, from the log line `dashboard: http://…`.
    pub addr: String,
    pub token: String,
    pub data: tempfile::TempDir,
    pub log: Log,
}

impl Bot {
    /// Starts the bot with `config` (TOML merged over the defaults) and waits for its dashboard.
    ///
    /// # Panics
    /// The bot exits or announces no dashboard within a minute (a cold plugin compile cache
    /// takes a while in a debug build).
    #[must_use]
    pub fn start(config: &str, token: &str) -> Self {
        Self::start_in(config, token, tempfile::tempdir().expect("temp dir"), &[])
    }

    /// [`Bot::start`] on a directory the test prepared: the data directory is `<dir>/data`
    /// (a ledger, a keystore), with `env` set for the bot (a keystore password).
    ///
    /// # Panics
    /// As [`Bot::start`].
    #[must_use]
    pub fn start_in(config: &str, token: &str, data: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let config_path = data.path().join("e2e.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = Log::default();
        let mut child = Command::new(bin())
            .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("data"))
            .arg("--config")
            .arg(&config_path)
            .env_remove("EQUILIBRAGE_CONFIG")
            .env_remove("POLYMARKET_PRIVATE_KEY")
            .env("EQUILIBRAGE_TOKEN", token)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the bot");
        let lines = follow(&mut child, &log);
        let mut child = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            match lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(rest) = line.split("dashboard: http://").nth(1) {
                        break rest.trim().to_owned();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.0.wait().ok();
                    panic!("the bot exited ({status:?}) before serving its dashboard:\n{}", log.tail());
                }
            }
            assert!(Instant::now() < deadline, "no `dashboard:` line within a minute:\n{}", log.tail());
        };
        Self { child, addr, token: token.to_owned(), data, log }
    }

    /// `http://<addr><path>`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kills the bot (as a crash would) and hands back its directory, for a restart.
    #[must_use]
    pub fn kill(self) -> tempfile::TempDir {
        drop(self.child);
        self.data
    }

    /// Whether the bot is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }
}

/// Where the screenshots of this run go: `<CARGO_TARGET_TMPDIR>/screenshots/`.
#[must_use]
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/screenshots/"))
}

/// Removes the PNGs an earlier run left in [`screenshot_dir`], so what is there is this run's.
pub fn clear_screenshots() {
    let Ok(entries) = std::fs::read_dir(screenshot_dir()) else { return };
    for entry in entries.flatten() {
        if entry.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Saves a PNG of what the browser window shows as `<screenshot_dir>/<name>.png`.
///
/// # Errors
/// The browser refuses (a dialog is open, the session is gone), or the file cannot be written.
pub async fn try_screenshot(client: &Client, name: &str) -> Result<PathBuf, String> {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let png = client.screenshot().await.map_err(|e| e.to_string())?;
    if !png.starts_with(b"\x89PNG") {
        return Err("the browser's screenshot is not a PNG".into());
    }
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// [`try_screenshot`], failing the test when it fails.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    try_screenshot(client, name).await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"))
}

/// Checks `condition` every 100 ms until it gives `Some`, for at most [`WAIT`].
///
/// # Panics
/// The deadline passes: the message names `what` and shows the last value seen.
pub async fn eventually<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        match condition().await {
            Ok(value) => return value,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {WAIT:?} waiting for {what}; last: {last}"
                );
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The element `css` selects, once it is there.
///
/// # Panics
/// Not there within [`WAIT`].
pub async fn element(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client.wait().at_most(WAIT).every(POLL).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => {
            let url = client.current_url().await.map_or_else(|_| "?".into(), |u| u.to_string());
            let shown = client
                .execute(
                    "const m = document.querySelector('main') || document.body; return m.innerText;",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_str().map(|t| t.chars().take(3_000).collect::<String>()))
                .unwrap_or_default();
            panic!("no `{css}` on {url}: {e}\nthe page shows:\n{shown}")
        }
    }
}

/// Clicks the element `css` selects, once it is there. A live update that replaces the element
/// between finding and clicking it leaves a stale reference, which clicked nothing: the element
/// is found again and clicked.
///
/// # Panics
/// Not there within [`WAIT`], or the click fails otherwise.
pub async fn click(client: &Client, css: &str) {
    eventually(&format!("a click on `{css}`"), || async {
        match element(client, css).await.click().await {
            Ok(()) => Ok(()),
            Err(e) if e.is_stale_element_reference() => Err(format!("stale: {e}")),
            Err(e) => panic!("click on `{css}`: {e}"),
        }
    })
    .await;
}

/// Trimmed text of the first element `css` selects, once it is there.
pub async fn text(client: &Client, css: &str) -> String {
    element(client, css).await.text().await.expect("text").trim().to_owned()
}

/// Loads `path` and waits for `ready` (a CSS selector) on the new page. Page loads under
/// WebDriver's default strategy wait for the document, so `ready` guards the rest.
pub async fn open(client: &Client, bot: &Bot, path: &str, ready: &str) {
    client.goto(&bot.url(path)).await.unwrap_or_else(|e| panic!("loading {path}: {e}"));
    element(client, ready).await;
}

/// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
pub async fn js(client: &Client, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
    client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// The session cookie of the browser, as a `Cookie` header value, for an HTTP client acting
/// as the same logged-in browser (it is `HttpOnly`: only WebDriver can read it).
pub async fn cookie_header(client: &Client) -> String {
    let cookies = client.get_all_cookies().await.expect("cookies");
    cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect::<Vec<_>>().join("; ")
}

/// An HTTP client that does not follow redirects (so a test sees them).
#[must_use]
/// `GET path` of the bot's API with its token; the answer's JSON, a success required.
///
/// # Panics
/// The request fails, answers an error status or no JSON.
pub async fn get_json(bot: &Bot, path: &str) -> serde_json::Value {
    let answer = http().get(bot.url(path)).bearer_auth(&bot.token).send().await.expect("GET");
    assert!(answer.status().is_success(), "GET {path}: {}", answer.status());
    answer.json().await.expect("JSON")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .expect("http client")
}
