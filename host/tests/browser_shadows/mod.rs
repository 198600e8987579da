//! Shadows on the Plugins page (issue 19): a file that is not a plugin refused, liquidation
//! rules and a scorer loaded as shadows from the page, their comparison shown once the bot
//! has scanned and holds a position, then the scorer retired and the rules promoted.

use super::{Session, TOKEN};
use crate::support::browser::{click, element, eventually, http, js, open, screenshot};
use equilibrage_plugin_artifacts as artifacts;
use serde_json::{Value, json};

async fn upload(s: &Session<'_>, path: &std::path::Path) {
    let b = s.browser;
    let input = element(b, "form#shadow-upload input[type=file]").await;
    input.send_keys(path.to_str().expect("a UTF-8 path")).await.expect("choose the file");
    element(b, "form#shadow-upload button[type=submit]").await.click().await.expect("upload");
}

async fn upload_status(s: &Session<'_>) -> String {
    let said = js(
        s.browser,
        "return document.querySelector('form#shadow-upload .upload-status').textContent;",
        vec![],
    )
    .await;
    said.as_str().unwrap_or_default().to_owned()
}

async fn shadows(s: &Session<'_>) -> Vec<Value> {
    s.api("/api/plugins/shadows").await["shadows"].as_array().cloned().expect("shadows")
}

async fn post(s: &Session<'_>, path: &str, body: &Value) -> Value {
    let answer = http().post(s.bot.url(path)).bearer_auth(TOKEN).json(body).send().await.expect("POST");
    let status = answer.status();
    let text = answer.text().await.expect("body");
    assert!(status.is_success(), "POST {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Clicks a shadow's button and waits for the page that says what was done.
async fn act(s: &Session<'_>, kind: &str, button: &str, says: &str) {
    let b = s.browser;
    click(b, &format!("article.shadow[data-kind={kind}] button.{button}")).await;
    eventually(&format!("{kind} {button}"), || async {
        let flash =
            js(b, "const f = document.querySelector('p.flash'); return f ? f.textContent : '';", vec![])
                .await;
        let flash = flash.as_str().unwrap_or_default().to_owned();
        if flash.contains(says) { Ok(()) } else { Err(flash) }
    })
    .await;
}

pub(super) async fn shadow_promote_and_retire(s: &Session<'_>) {
    let b = s.browser;
    let files = tempfile::tempdir().expect("upload dir");
    let junk = files.path().join("junk.wasm");
    std::fs::write(&junk, b"not a component").expect("write junk");
    let mut paths = Vec::new();
    for guest in [&artifacts::EAGER_RULES, &artifacts::VETO_SCORER, &artifacts::GREEDY_WHALES] {
        let path = files.path().join(guest.file);
        std::fs::write(&path, guest.bytes).expect("write the plugin");
        paths.push(path);
    }

    open(b, s.bot, "/plugins", "section#shadows").await;
    upload(s, &junk).await;
    eventually("the junk file refused", || async {
        let said = upload_status(s).await;
        if said.contains("not a WebAssembly component") { Ok(()) } else { Err(said) }
    })
    .await;
    for (path, kind) in paths.iter().zip(["liquidation-rules", "scorer", "whale-analyzer"]) {
        // The page reloads after an upload; the next one starts from the reloaded page (a mark
        // set on this one is gone there), as a person waits for the page to settle.
        js(b, "window.uploadMark = true; return true;", vec![]).await;
        upload(s, path).await;
        eventually(&format!("the {kind} shadow on the page"), || async {
            let shown = js(
                b,
                &format!(
                    "return !window.uploadMark && !!document.querySelector('article.shadow[data-kind={kind}]');"
                ),
                vec![],
            )
            .await;
            if shown == json!(true) { Ok(()) } else { Err(upload_status(s).await) }
        })
        .await;
    }
    assert_eq!(shadows(s).await.len(), 3);

    // A scan for the scorer, a position for the rules.
    post(s, "/api/opportunities/scan", &json!({})).await;
    // The best markets first; one whose books are too thin for the entry is passed over.
    let opportunities = s.api("/api/opportunities?limit=10").await;
    let mut entered = Vec::new();
    for o in opportunities["opportunities"].as_array().expect("opportunities") {
        let answer = http()
            .post(s.bot.url("/api/positions"))
            .bearer_auth(TOKEN)
            .json(&json!({ "market_id": o["market_id"] }))
            .send()
            .await
            .expect("POST /api/positions");
        entered.push(answer.status().as_u16());
        if answer.status().is_success() {
            break;
        }
    }
    assert!(entered.last().is_some_and(|s| *s < 300), "no entry among the best markets: {entered:?}");
    // The scorer and the rules compared (the whale shadow needs whale trades of the day).
    eventually("both shadows compared", || async {
        let list = shadows(s).await;
        let compared: Vec<u64> = list
            .iter()
            .filter(|v| v["plugin"]["kind"] != "whale-analyzer")
            .map(|v| v["compared"].as_u64().unwrap_or_default())
            .collect();
        if compared.len() == 2 && compared.iter().all(|c| *c > 0) {
            Ok(())
        } else {
            Err(format!("{compared:?}"))
        }
    })
    .await;
    b.refresh().await.expect("reload");
    let compared = js(
        b,
        "return [...document.querySelectorAll('article.shadow:not([data-kind=whale-analyzer]) dd.compared')].map(d => Number(d.textContent));",
        vec![],
    )
    .await;
    assert!(
        compared.as_array().is_some_and(|c| c.len() == 2 && c.iter().all(|n| n.as_u64() > Some(0))),
        "{compared}"
    );
    let agreement = js(
        b,
        "return document.querySelector('article.shadow[data-kind=scorer] dd.agreement').textContent;",
        vec![],
    )
    .await;
    assert!(agreement.as_str().is_some_and(|a| a.ends_with('%')), "{agreement}");
    // The scorer's picks and the active's, valued on paper, beside the rules' P&L if followed.
    let picks = js(
        b,
        "const a = document.querySelector('article.shadow[data-kind=scorer]'); \
         return ['dd.pnl-difference', 'dd.picks-shadow', 'dd.picks-active'].map(c => !!a.querySelector(c));",
        vec![],
    )
    .await;
    assert_eq!(picks, json!([true, true, true]));
    // The whale shadow says how it is judged: through the active scorer given its signals.
    let help = js(
        b,
        "return document.querySelector('article.shadow[data-kind=whale-analyzer]').textContent;",
        vec![],
    )
    .await;
    assert!(
        help.as_str().is_some_and(|t| t.contains("Calls compared") && t.contains("scored again")),
        "{help}"
    );
    js(b, "document.querySelector('#shadows').scrollIntoView(); return null;", vec![]).await;
    screenshot(b, "plugins-shadows").await;
    b.set_window_size(390, 844).await.expect("phone width");
    js(b, "document.querySelector('#shadows').scrollIntoView(); return null;", vec![]).await;
    screenshot(b, "plugins-shadows-phone").await;
    js(
        b,
        "document.querySelector('article.shadow[data-kind=whale-analyzer]').scrollIntoView(); return null;",
        vec![],
    )
    .await;
    screenshot(b, "plugins-shadow-whales-phone").await;
    b.set_window_size(1280, 1000).await.expect("desktop width");

    act(s, "scorer", "retire", "no longer shadows").await;
    act(s, "whale-analyzer", "retire", "no longer shadows").await;
    assert_eq!(
        js(b, "return !!document.querySelector('article.shadow[data-kind=scorer]');", vec![]).await,
        json!(false)
    );
    act(s, "liquidation-rules", "promote", "is now the active liquidation-rules plugin").await;
    let active = js(
        b,
        "const p = document.querySelector('section.plugin[data-kind=liquidation-rules][data-name=eager-rules]'); \
         return p ? p.querySelector('h2 .tag').textContent : 'missing';",
        vec![],
    )
    .await;
    assert_eq!(active, json!("active"), "the promoted rules are the active ones");
    assert!(shadows(s).await.is_empty());
    screenshot(b, "plugins-promoted").await;
    // The versions: the promoted rules active, the replaced default kept with a Roll back button.
    let rows = js(
        b,
        "return [...document.querySelectorAll('table#plugin-versions tr[data-kind=liquidation-rules]')]            .map(r => r.cells[1].textContent.trim().split(' ')[0] + ':' + !!r.querySelector('button.rollback'));",
        vec![],
    )
    .await;
    assert_eq!(rows, json!(["eager-rules:false", "equilibrage:true"]), "the rules versions");
    for (width, height, name) in [(1280, 1000, "plugins-versions"), (390, 844, "plugins-versions-phone")] {
        b.set_window_size(width, height).await.expect("window size");
        js(b, "document.querySelector('#versions').scrollIntoView(); return null;", vec![]).await;
        screenshot(b, name).await;
    }
    b.set_window_size(1280, 1000).await.expect("desktop width");
    // The scorer shadows again, so the width checks see a shadow on the page.
    upload(s, &paths[1]).await;
    eventually("the scorer shadow back", || async {
        let n = shadows(s).await.len();
        if n == 1 { Ok(()) } else { Err(format!("{n} shadows")) }
    })
    .await;
}
