//! Notifications (issue 20) against local mock chat services speaking the real wire formats
//! (testkit's `MockChat`): delivery on Telegram, a JSON webhook, Discord and ntfy; retries after
//! 5xx and 429 (Telegram's `retry_after` honoured); a channel's rate; Telegram commands from an
//! allow-listed chat only, `/pause` and `/resume`, `/close` acting only after `/confirm`; and,
//! end to end with the real binary, secrets absent from the log.

mod support;

use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::notify::{ChannelStatus, EventKind, Note, Notifier, NotifyConfig};
use equilibrage::store::{PositionStatus, Store};
use equilibrage_testkit::chat::{ChatConfig, MockChat};
use rust_decimal_macros::dec;
use std::time::{Duration, Instant};
use support::runtime;

const BOT_TOKEN: &str = "123456:AAH-test-bot-token-0f1e2d3c4b5a69788796a5b4";
const CHAT: i64 = 424_242;
const STRANGER: i64 = 666;
const HOOK_SECRET: &str = "hooksecret9f8e7d6c5b4a39281706";
const NTFY_TOKEN: &str = "tk_ntfytoken0a1b2c3d4e5f6a7b8c9d0e";

async fn mock() -> MockChat {
    MockChat::start(ChatConfig {
        bot_token: BOT_TOKEN.into(),
        chats: vec![CHAT, STRANGER],
        ntfy_protected: Some(("equilibrage-alerts".into(), NTFY_TOKEN.into())),
    })
    .await
}

fn config(mock: &MockChat, extra: &str) -> NotifyConfig {
    let url = mock.url();
    let text = format!(
        r#"
[[channels]]
name = "phone"
kind = "telegram"
chat_id = {CHAT}
api_url = "{url}"
poll_timeout_secs = 1
{extra}

[[channels]]
name = "hook"
kind = "webhook"
url_env = "TEST_HOOK_URL"

[[channels]]
name = "discord"
kind = "webhook"
format = "discord"
url_env = "TEST_DISCORD_URL"

[[channels]]
name = "ntfy"
kind = "ntfy"
server = "{url}"
topic = "equilibrage-alerts"
token_env = "TEST_NTFY_TOKEN"
events = ["error", "liquidation"]
"#
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn env(mock: &MockChat) -> impl Fn(&str) -> Option<String> {
    let url = mock.url();
    move |var: &str| match var {
        "EQUILIBRAGE_TELEGRAM_TOKEN" => Some(BOT_TOKEN.into()),
        "TEST_HOOK_URL" => Some(format!("{url}/hook/{HOOK_SECRET}")),
        "TEST_DISCORD_URL" => Some(format!("{url}/discord/1234/{HOOK_SECRET}")),
        "TEST_NTFY_TOKEN" => Some(NTFY_TOKEN.into()),
        _ => None,
    }
}

/// An engine on a still simulator (nothing moves unless the test drives it).
async fn engine() -> (tempfile::TempDir, tempfile::TempDir, equilibrage::engine::Engine, equilibrage::Plugins)
{
    let (plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 5, markets: 20, ..SimConfig::default() }, dec!(10000));
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    (plugins_dir, dir, engine, plugins)
}

async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status<'a>(statuses: &'a [ChannelStatus], name: &str) -> &'a ChannelStatus {
    statuses.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no channel {name}"))
}

fn note(kind: EventKind, title: &str) -> Note {
    Note { kind, title: title.into(), text: "What happened, in words.".into(), at_ms: 1_764_806_400_000 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_delivers_in_its_format_and_retries_after_5xx_and_429() {
    let mock = mock().await;
    mock.fail_next("telegram:sendMessage", 502, 2);
    mock.fail_next("webhook", 503, 1);
    mock.fail_next("discord", 429, 1);
    mock.fail_next("ntfy", 500, 1);
    let notifier = Notifier::start(&config(&mock, ""), &env(&mock), &Default::default()).unwrap();
    notifier.notify(&note(EventKind::Error, "Error (trader)"));

    until("every channel delivered", || {
        let s = notifier.statuses();
        s.iter().all(|c| c.sent == 1).then_some(())
    })
    .await;
    let statuses = notifier.statuses();
    assert_eq!(status(&statuses, "phone").retries, 2);
    for s in &statuses {
        assert_eq!((s.failed, s.dropped, s.failing()), (0, 0, false), "{s:?}");
    }
    // Telegram: plain text to the configured chat, after two 502s.
    assert_eq!(mock.sent().len(), 1);
    assert_eq!(mock.sent()[0].chat_id, CHAT);
    assert_eq!(mock.sent()[0].text, "Error (trader)\nWhat happened, in words.");
    let tries: Vec<u16> =
        mock.requests().iter().filter(|r| r.route == "telegram:sendMessage").map(|r| r.status).collect();
    assert_eq!(tries, [502, 502, 200]);
    // The JSON webhook and Discord's.
    let hooks = mock.webhooks();
    let json = hooks.iter().find(|h| h.get("event").is_some()).expect("the JSON webhook");
    assert_eq!(json["event"], "error");
    assert_eq!(json["urgent"], true);
    assert_eq!(json["title"], "Error (trader)");
    let discord = hooks.iter().find(|h| h.get("content").is_some()).expect("the Discord webhook");
    assert_eq!(discord["content"], "**Error (trader)**\nWhat happened, in words.");
    // Discord's 429 said `Retry-After: 1`: the retry waited for it.
    let discord_at: Vec<Instant> =
        mock.requests().iter().filter(|r| r.route == "discord").map(|r| r.at).collect();
    assert_eq!(discord_at.len(), 2);
    assert!(
        discord_at[1] - discord_at[0] >= Duration::from_millis(950),
        "{:?}",
        discord_at[1] - discord_at[0]
    );
    // ntfy: the protected topic with its token, urgent events at high priority.
    let (topic, headers, body) = mock.ntfy_messages().pop().expect("ntfy");
    assert_eq!(topic, "equilibrage-alerts");
    assert_eq!(headers["title"], "Error (trader)");
    assert_eq!(headers["priority"], "high");
    assert_eq!(headers["tags"], "error");
    assert_eq!(headers["authorization"], format!("Bearer {NTFY_TOKEN}"));
    assert_eq!(body, "What happened, in words.");

    // An event a channel did not select does not reach it: ntfy takes errors and liquidations.
    notifier.notify(&note(EventKind::Entry, "Position 1: bought YES"));
    until("the entry on Telegram", || (mock.sent().len() == 2).then_some(())).await;
    until("the entry on the webhooks", || (mock.webhooks().len() == 4).then_some(())).await;
    assert_eq!(mock.ntfy_messages().len(), 1, "ntfy did not select entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegrams_retry_after_is_honoured_and_a_refusal_is_not_retried() {
    let mock = mock().await;
    mock.fail_next("telegram:sendMessage", 429, 1);
    let notifier = Notifier::start(&config(&mock, ""), &env(&mock), &Default::default()).unwrap();
    notifier.notify(&note(EventKind::Close, "Position 2: sold NO"));
    until("delivered after the 429", || (mock.sent().len() == 1).then_some(())).await;
    let at: Vec<Instant> =
        mock.requests().iter().filter(|r| r.route == "telegram:sendMessage").map(|r| r.at).collect();
    assert!(at[1] - at[0] >= Duration::from_millis(950), "retry_after 1 s: {:?}", at[1] - at[0]);

    // A message Telegram refuses (too long is clipped by the bot; a wrong token is refused):
    // with a bad token every send is a 401, reported once, never retried.
    let bad = |var: &str| {
        if var == "EQUILIBRAGE_TELEGRAM_TOKEN" { Some("999:wrong".to_owned()) } else { env(&mock)(var) }
    };
    let refused = Notifier::start(&config(&mock, ""), &bad, &Default::default()).unwrap();
    let before = mock.requests().len();
    refused.notify(&note(EventKind::Close, "Position 3: sold YES"));
    let s = until("the refusal reported", || {
        let s = status(&refused.statuses(), "phone").clone();
        (s.failed == 1).then_some(s)
    })
    .await;
    assert!(s.failing());
    assert!(s.last_error.as_ref().is_some_and(|(_, e)| e.starts_with("401")), "{s:?}");
    let unauthorized = mock.requests()[before..]
        .iter()
        .filter(|r| r.route == "telegram:sendMessage" && r.status == 401)
        .count();
    assert_eq!(unauthorized, 1, "a refusal is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_sends_no_more_than_its_rate() {
    let mock = mock().await;
    let text =
        "[[channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"TEST_HOOK_URL\"\nper_minute = 2\n";
    let config: NotifyConfig = toml::from_str(text).unwrap();
    let notifier = Notifier::start(&config, &env(&mock), &Default::default()).unwrap();
    for i in 0..4 {
        notifier.notify(&note(EventKind::Entry, &format!("Position {i}: bought YES")));
    }
    until("the first two", || (mock.webhooks().len() == 2).then_some(())).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(mock.webhooks().len(), 2, "the other two wait for the minute to pass");
    let s = status(&notifier.statuses(), "hook").clone();
    assert_eq!((s.sent, s.failed, s.dropped), (2, 0, 0), "queued, not lost: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_commands_come_only_from_the_allowed_chat_and_close_waits_for_confirm() {
    let mock = mock().await;
    let (_p, _d, engine, plugins) = engine().await;
    let notifier =
        Notifier::start(&config(&mock, "commands = true"), &env(&mock), &Default::default()).unwrap();
    notifier.serve_commands(&engine, &plugins);
    let replies_to = |chat: i64| mock.sent().into_iter().filter(|s| s.chat_id == chat).collect::<Vec<_>>();

    // A stranger is ignored (and counted), whatever the command.
    mock.user_says(STRANGER, "/pause");
    until("the stranger ignored", || (status(&notifier.statuses(), "phone").ignored == 1).then_some(()))
        .await;
    assert!(replies_to(STRANGER).is_empty());

    mock.user_says(CHAT, "/status");
    let status_reply = until("the /status reply", || replies_to(CHAT).pop()).await;
    assert!(status_reply.text.starts_with("Equity 10000"), "{}", status_reply.text);

    // Pause and resume auto-trading.
    mock.user_says(CHAT, "/resume");
    until("resumed", || engine.settings().auto_trading.then_some(())).await;
    mock.user_says(CHAT, "/pause");
    until("paused", || (!engine.settings().auto_trading).then_some(())).await;
    assert!(replies_to(CHAT).last().is_some_and(|r| r.text.starts_with("Auto-trading paused")));

    // A position to close.
    engine.scan().await.unwrap();
    let market = engine.opportunities(0.0).unwrap().first().expect("an opportunity").market_id.clone();
    let p = engine.enter(&market, Some(dec!(100))).await.unwrap();
    assert_eq!(p.status, PositionStatus::Active);

    mock.user_says(CHAT, &format!("/close {}", p.id));
    let ask = until("the question", || {
        replies_to(CHAT).last().filter(|r| r.text.starts_with("Close position")).cloned()
    })
    .await;
    assert!(ask.text.contains(&format!("/confirm {}", p.id)), "{}", ask.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        engine.position(p.id).unwrap().position.status.is_open(),
        "nothing happens before the confirmation"
    );
    // A confirmation of another id, or from the stranger, does nothing.
    mock.user_says(STRANGER, &format!("/confirm {}", p.id));
    mock.user_says(CHAT, &format!("/confirm {}", p.id + 1));
    until("the wrong confirmation answered", || {
        replies_to(CHAT).last().filter(|r| r.text.starts_with("Nothing to confirm")).cloned()
    })
    .await;
    assert!(engine.position(p.id).unwrap().position.status.is_open());
    // Again, confirmed this time.
    mock.user_says(CHAT, &format!("/close {}", p.id));
    until("asked again", || {
        (replies_to(CHAT).iter().filter(|r| r.text.starts_with("Close position")).count() == 2).then_some(())
    })
    .await;
    mock.user_says(CHAT, &format!("/confirm {}", p.id));
    let done =
        until("closed", || replies_to(CHAT).last().filter(|r| r.text.contains("closed")).cloned()).await;
    assert!(done.text.starts_with(&format!("Position {} closed", p.id)), "{}", done.text);
    assert!(!engine.position(p.id).unwrap().position.status.is_open());
    assert_eq!(status(&notifier.statuses(), "phone").ignored, 2, "both of the stranger's messages");

    // The read-only commands answer.
    for (command, starts) in [("/positions", "No open position"), ("/pnl", "P&L "), ("/plugins", "")] {
        let before = replies_to(CHAT).len();
        mock.user_says(CHAT, command);
        let reply = until(command, || replies_to(CHAT).get(before).cloned()).await;
        assert!(reply.text.starts_with(starts), "{command}: {}", reply.text);
    }
    let plugins_reply = replies_to(CHAT).pop().unwrap();
    assert!(plugins_reply.text.contains("scorer/default-scorer@"), "{}", plugins_reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_tells_link_failures_recoveries_and_the_days_summary() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mock = mock().await;
    let (_plugins_dir, plugins) = runtime(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let sim = SimExchange::new(SimConfig { seed: 5, markets: 20, ..SimConfig::default() }, dec!(10000));
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    let text = "[[channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"TEST_HOOK_URL\"\n\
                events = [\"feed\", \"daily_summary\", \"entry\"]\n";
    let config: NotifyConfig = toml::from_str(text).unwrap();
    let notifier = Notifier::start(&config, &env(&mock), &Default::default()).unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&down);
    let probe: equilibrage::notify::LinkProbe =
        Arc::new(move || flag.load(Ordering::SeqCst).then(|| "the market feed is disconnected".to_owned()));
    tokio::spawn(notifier.clone().watch(engine.clone(), &plugins, Some(probe)));
    let titles =
        || mock.webhooks().iter().filter_map(|h| h["title"].as_str().map(str::to_owned)).collect::<Vec<_>>();

    down.store(true, Ordering::SeqCst);
    until("the link down", || titles().contains(&"The exchange link is down".to_owned()).then_some(())).await;
    let hook = mock.webhooks().pop().unwrap();
    assert_eq!((hook["event"].as_str(), hook["urgent"].as_bool()), (Some("feed"), Some(true)));
    assert_eq!(hook["text"], "the market feed is disconnected");
    down.store(false, Ordering::SeqCst);
    until("the link back", || titles().contains(&"The exchange link is back".to_owned()).then_some(())).await;

    // An entry, told with its market, then the day ends on the engine's clock: the summary.
    engine.scan().await.unwrap();
    let market = engine.opportunities(0.0).unwrap().first().expect("an opportunity").clone();
    let p = engine.enter(&market.market_id, Some(dec!(100))).await.unwrap();
    let entry = until("the entry", || {
        mock.webhooks()
            .into_iter()
            .find(|h| h["event"] == "entry" && h["title"] == format!("Position {} entered", p.id))
    })
    .await;
    let text = entry["text"].as_str().unwrap_or_default();
    assert!(text.starts_with(&market.question), "{entry}");
    let held = engine.position(p.id).unwrap().position;
    for (side, leg) in [("YES", &held.legs[0]), ("NO", &held.legs[1])] {
        let said = format!(
            "{side} {} shares at {}",
            leg.bought.normalize(),
            leg.entry_price().round_dp(4).normalize()
        );
        assert!(text.contains(&said), "{said} in {text}");
    }
    let before = engine.now_ms();
    sim.advance(86_400_000);
    let summary =
        until("the daily summary", || mock.webhooks().into_iter().find(|h| h["event"] == "daily_summary"))
            .await;
    let date = equilibrage::clock::utc_date(before);
    assert_eq!(summary["title"], format!("Daily summary, {date} (UTC)"));
    let entries = mock.webhooks().iter().filter(|h| h["event"] == "entry").count();
    assert_eq!(entries, 1, "one message for an entry, not one per side");
    assert!(
        summary["text"].as_str().is_some_and(|t| t.contains("1 open positions; 2 trades on")),
        "{summary}"
    );
}

/// `equilibrage notify secret` stores the bot token encrypted; the bot's `notify test` (and
/// the bot itself) use it when the environment has none; without either, a clear refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_stored_encrypted_is_used_when_the_environment_has_none() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("notify.toml");
    let url = mock.url();
    std::fs::write(
        &config_path,
        format!("[[notify.channels]]\nname = \"phone\"\nkind = \"telegram\"\nchat_id = {CHAT}\napi_url = \"{url}\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (data_arg, config_arg) = (data.clone(), config_path.clone());
    let bot = move |args: &[&str], input: Option<&str>| {
        let mut child = Command::new(support::browser::bin())
            .args(["--data-dir"])
            .arg(&data_arg)
            .arg("--config")
            .arg(&config_arg)
            .args(args)
            .env_remove("EQUILIBRAGE_TELEGRAM_TOKEN")
            .env_remove("EQUILIBRAGE_CONFIG")
            .env("EQUILIBRAGE_WALLET_PASSWORD", "a good long password")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the bot");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(text) = input {
            writeln!(stdin, "{text}").unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let said =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), said)
    };
    // Nothing stored yet: the test says which variable or command provides the token.
    let (ok, said) = tokio::task::spawn_blocking({
        let bot = bot.clone();
        move || bot(&["notify", "test"], None)
    })
    .await
    .unwrap();
    assert!(!ok, "{said}");
    assert!(
        said.contains("EQUILIBRAGE_TELEGRAM_TOKEN") && said.contains("equilibrage notify secret phone"),
        "{said}"
    );
    // A channel that is not configured is refused.
    let (ok, said) = tokio::task::spawn_blocking({
        let bot = bot.clone();
        move || bot(&["notify", "secret", "pager"], Some("x"))
    })
    .await
    .unwrap();
    assert!(!ok && said.contains("no channel named \"pager\""), "{said}");
    // Stored, then used.
    let (ok, said) = tokio::task::spawn_blocking({
        let bot = bot.clone();
        move || bot(&["notify", "secret", "phone"], Some(BOT_TOKEN))
    })
    .await
    .unwrap();
    assert!(ok, "{said}");
    assert!(!said.contains(BOT_TOKEN), "{said}");
    let stored = std::fs::read_to_string(data.join("wallet/notify-secrets.json")).unwrap();
    assert!(!stored.contains(BOT_TOKEN) && stored.contains("\"crypto\""), "encrypted: {stored}");
    let (ok, said) = tokio::task::spawn_blocking(move || bot(&["notify", "test"], None)).await.unwrap();
    assert!(ok, "{said}");
    assert!(said.contains("phone") && said.contains("delivered"), "{said}");
    assert!(!said.contains(BOT_TOKEN), "{said}");
    assert_eq!(
        mock.sent().last().map(|s| s.text.as_str()),
        Some("equilibrage: test notification\nIf you read this, the channel works.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_chosen_for_a_channel_apply_at_once_and_survive_a_restart() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bot.redb")).unwrap();
    let text = "[[channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"TEST_HOOK_URL\"\nevents = [\"error\"]\n";
    let config: NotifyConfig = toml::from_str(text).unwrap();
    let notifier = Notifier::start(&config, &env(&mock), &Default::default()).unwrap();
    notifier.keep_events_in(&store).unwrap();
    assert_eq!(notifier.events()[0].events, [EventKind::Error]);
    notifier.notify(&note(EventKind::Entry, "Position 1: bought YES"));
    notifier.set_events("hook", &[EventKind::Entry, EventKind::DailySummary]).await.unwrap();
    notifier.notify(&note(EventKind::Entry, "Position 2: bought YES"));
    notifier.notify(&note(EventKind::Error, "Error (scanner)"));
    until("the second entry", || (mock.webhooks().len() == 1).then_some(())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let titles: Vec<String> =
        mock.webhooks().iter().map(|h| h["title"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(
        titles,
        ["Position 2: bought YES"],
        "before the choice entries were not told, after it errors are not"
    );
    assert!(matches!(
        notifier.set_events("pager", &[]).await,
        Err(equilibrage::notify::NotifyError::UnknownChannel(_))
    ));
    drop(notifier);

    // A restart: the configuration says errors, the kept choice wins.
    let again = Notifier::start(&config, &env(&mock), &Default::default()).unwrap();
    again.keep_events_in(&store).unwrap();
    assert_eq!(again.events()[0].events, [EventKind::Entry, EventKind::DailySummary]);
}

#[test]
fn bad_channels_are_refused_naming_the_key() {
    for (text, key) in [
        ("[[channels]]\nname = \"t\"\nkind = \"telegram\"\n", "notify.channels.chat_id"),
        (
            "[[channels]]\nname = \"t\"\nkind = \"telegram\"\nchat_id = 1\ntopic = \"x\"\n",
            "notify.channels.topic",
        ),
        ("[[channels]]\nname = \"n\"\nkind = \"ntfy\"\ntopic = \"a b\"\n", "notify.channels.topic"),
        ("[[channels]]\nname = \"w\"\nkind = \"webhook\"\nper_minute = 0\n", "notify.channels.per_minute"),
        (
            "[[channels]]\nname = \"w\"\nkind = \"webhook\"\n[[channels]]\nname = \"w\"\nkind = \"webhook\"\n",
            "notify.channels.name",
        ),
        (
            "[[channels]]\nname = \"w\"\nkind = \"webhook\"\nurl_env = \"not a var\"\n",
            "notify.channels.url_env",
        ),
    ] {
        let config: NotifyConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let (got, message) = config.validate().expect_err(text);
        assert_eq!(got, key, "{text}: {message}");
    }
    let unknown: Result<NotifyConfig, _> = toml::from_str("[[channels]]\nname = \"w\"\nkind = \"pager\"\n");
    assert!(unknown.is_err());
}

/// The real binary on a fast simulator, auto-trading, with a Telegram and a webhook channel
/// whose first deliveries fail: entries reach both, the dashboard's health shows the channels,
/// and with the log at `debug` neither the bot token nor the webhook's secret path appears in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_notifies_entries_and_its_log_never_shows_a_secret() {
    let mock = mock().await;
    mock.fail_next("telegram:sendMessage", 502, 1);
    mock.fail_next("webhook", 429, 1);
    let url = mock.url();
    let config = format!(
        "[exchange.sim]\nseed = 3\nmarkets = 60\nspeed = 600.0\n\
         [engine]\nauto_trading = true\nopportunity_threshold = 1\nscan_interval_secs = 10\n\
         max_slippage_percent = \"10\"\n\
         [[notify.channels]]\nname = \"phone\"\nkind = \"telegram\"\nchat_id = {CHAT}\napi_url = \"{url}\"\n\
         events = [\"entry\", \"error\"]\n\
         [[notify.channels]]\nname = \"hook\"\nkind = \"webhook\"\nevents = [\"entry\"]\n"
    );
    let hook = format!("{url}/hook/{HOOK_SECRET}");
    let bot = tokio::task::spawn_blocking(move || {
        support::browser::Bot::start_in(
            &config,
            "notify-e2e-token-7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
            tempfile::tempdir().unwrap(),
            &[
                ("EQUILIBRAGE_TELEGRAM_TOKEN", BOT_TOKEN),
                ("EQUILIBRAGE_WEBHOOK_URL", hook.as_str()),
                ("RUST_LOG", "debug"),
            ],
        )
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !mock.sent().iter().any(|s| s.text.starts_with("Position ") && s.text.contains(" entered\n")) {
        assert!(
            Instant::now() < deadline,
            "no entry on Telegram: sent {:?}, requests {:?}\n{}",
            mock.sent(),
            mock.requests().iter().map(|r| (&r.route, r.status)).collect::<Vec<_>>(),
            bot.log
                .whole()
                .lines()
                .filter(|l| l.contains("notif")
                    || l.contains("scan")
                    || l.contains("entry")
                    || l.contains("entered")
                    || l.contains("ERROR")
                    || l.contains("WARN"))
                .take(60)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until("an entry on the webhook", || mock.webhooks().iter().find(|h| h["event"] == "entry").cloned())
        .await;
    let overview: serde_json::Value = support::browser::http()
        .get(bot.url("/api/dashboard/overview"))
        .bearer_auth(&bot.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let channels = overview["health"]["notifications"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = channels.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["phone", "hook"], "{overview}");
    assert!(
        channels.iter().all(|c| c["sent"].as_u64() >= Some(1) && c["retries"].as_u64() >= Some(1)),
        "{channels:?}"
    );
    let log = bot.log.whole();
    assert!(log.contains("notifications on"), "{}", bot.log.tail());
    assert!(log.contains("equilibrage::notify"), "the notifier logged at debug (its retries)");
    for secret in [BOT_TOKEN, HOOK_SECRET, "AAH-test-bot-token"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
