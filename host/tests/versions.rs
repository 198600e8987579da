//! Plugin versions (issue 19): trades and positions name the versions that decided them, the
//! store keeps when each version was active, and a rollback restores a previous version's hash,
//! after which new trades name it.

mod support;

use equilibrage_plugin_artifacts as artifacts;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::browser::{Bot, eventually, get_json, http};

const TOKEN: &str = "plugin-versions-test-token-0123456789";

/// Auto-trading with low bars and a 1 % liquidation, so entries and exits come within seconds.
fn config() -> String {
    "[exchange.sim]\nseed = 23\nmarkets = 120\nspeed = 600.0\n\
     [engine]\nauto_trading = true\nopportunity_threshold = 1\nmax_positions = 3\n\
     scan_interval_secs = 10\nsweep_interval_secs = 5\nliquidation_drop_percent = \"1\"\n\
     max_slippage_percent = \"10\"\n"
        .to_owned()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn get(bot: &Bot, path: &str) -> Value {
    get_json(bot, path).await
}

async fn trades(bot: &Bot) -> Vec<Value> {
    get(bot, "/api/trades?limit=1000").await["trades"].as_array().cloned().expect("trades")
}

/// Closes every open position, so the next scan enters new ones.
async fn close_all(bot: &Bot) {
    let open = get(bot, "/api/positions").await;
    for p in open["positions"].as_array().expect("positions") {
        let id = p["id"].as_u64().expect("id");
        // One already closing answers 409: that is fine.
        let _ = http().delete(bot.url(&format!("/api/positions/{id}"))).bearer_auth(TOKEN).send().await;
    }
}

/// Waits for an entry trade after trade `after` that names `version`, closing positions so that
/// new entries come.
async fn entry_named(bot: &Bot, after: u64, version: &str) -> u64 {
    eventually(&format!("an entry named {version}"), || async {
        let all = trades(bot).await;
        let found = all.iter().find(|t| {
            t["id"].as_u64() > Some(after) && t["purpose"] == "entry" && t["decided_by"] == version
        });
        match found {
            Some(t) => Ok(t["id"].as_u64().expect("id")),
            None => {
                close_all(bot).await;
                let last: Vec<&Value> = all.iter().filter(|t| t["purpose"] == "entry").take(2).collect();
                Err(format!("latest entries: {last:?}"))
            }
        }
    })
    .await
}

fn short(name: &str, version: &str, sha256: &str) -> String {
    format!("{name}@{version}#{}", &sha256[..12])
}

#[tokio::test]
async fn trades_name_their_versions_and_a_rollback_restores_the_previous_one() {
    let bot = tokio::task::spawn_blocking(|| Bot::start(&config(), TOKEN)).await.expect("start");
    let default_sha = sha(artifacts::SCORER.bytes);
    let default_id = short("default-scorer", "0.2.0", &default_sha);
    let rules_sha = sha(artifacts::EQUILIBRAGE.bytes);
    let rules_prefix = format!("equilibrage@0.2.0#{}", &rules_sha[..12]);

    // Entries name the scorer of their scan; the positions too; the rules' exits name the rules.
    let first = entry_named(&bot, 0, &default_id).await;
    eventually("an exit decided by the rules, named", || async {
        let all = trades(&bot).await;
        let exit = all.iter().find(|t| t["action"] == "sell" && t["purpose"] == "liquidation");
        match exit {
            Some(t) if t["decided_by"] == rules_prefix.as_str() => Ok(()),
            Some(t) => Err(format!("a liquidation named {}", t["decided_by"])),
            None => Err("no liquidation yet".into()),
        }
    })
    .await;
    let positions = get(&bot, "/api/positions/history?limit=50").await;
    let named = serde_json::to_string(&positions).expect("JSON").contains(&default_id)
        || get(&bot, "/api/positions").await["positions"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["scorer"] == default_id.as_str()));
    assert!(named, "a position names the scorer it was entered on");

    // A new scorer by hot reload: the store closes the default's period and opens the new one.
    let dir = bot.data.path().join("data/plugins");
    let partial = dir.join("scorer.wasm.partial");
    std::fs::write(&partial, artifacts::VETO_SCORER.bytes).expect("write");
    std::fs::rename(&partial, dir.join("scorer.wasm")).expect("deploy");
    let veto_sha = sha(artifacts::VETO_SCORER.bytes);
    let veto_id = short("veto-scorer", "0.1.0", &veto_sha);
    let versions = eventually("the new scorer active, on record", || async {
        let v = get(&bot, "/api/plugins/versions").await["versions"].as_array().cloned().expect("versions");
        let of = |sha: &str| v.iter().find(|r| r["sha256"] == sha).cloned();
        match (of(&default_sha), of(&veto_sha)) {
            (Some(d), Some(n)) if d["active"] == false && n["active"] == true => Ok((d, n)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (old, new) = versions;
    assert_eq!(old["kept"], true, "the replaced version is kept: {old}");
    assert_eq!(old["id"], default_id.as_str());
    let period = &old["periods"][0];
    assert!(period["to_ms"].as_i64() >= period["from_ms"].as_i64(), "a closed period: {old}");
    assert!(new["periods"][0]["to_ms"].is_null(), "{new}");
    let second = entry_named(&bot, first, &veto_id).await;

    // The rollback: the default scorer's hash is active again, and new entries name it.
    let answer = http()
        .post(bot.url(&format!("/api/plugins/versions/scorer/{default_sha}/rollback")))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let plugins = get(&bot, "/api/plugins").await;
    let active: Vec<&Value> = plugins["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter(|p| p["kind"] == "scorer" && p["active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["sha256"], default_sha.as_str());
    assert_eq!(std::fs::read(dir.join("scorer.wasm")).expect("file"), artifacts::SCORER.bytes);
    entry_named(&bot, second, &default_id).await;
    let v = get(&bot, "/api/plugins/versions").await["versions"].as_array().cloned().expect("versions");
    let default = v.iter().find(|r| r["sha256"] == default_sha.as_str()).expect("the default on record");
    assert_eq!(default["periods"].as_array().map(Vec::len), Some(2), "active twice: {default}");
    assert_eq!(default["active"], true);

    // The Lab attributes the closed positions' P&L to the versions that decided them.
    let lab = get(&bot, "/api/lab").await;
    let rows = lab["live_by_version"].as_array().cloned().expect("by version");
    for id in [&default_id, &veto_id] {
        let row = rows.iter().find(|r| r["kind"] == "scorer" && r["version"] == id.as_str());
        assert!(row.is_some_and(|r| r["positions"].as_u64() >= Some(1)), "{id} in {rows:?}");
    }
    let counted = |kind: &str| -> u64 {
        rows.iter().filter(|r| r["kind"] == kind).filter_map(|r| r["positions"].as_u64()).sum()
    };
    assert_eq!(counted("scorer"), counted("liquidation-rules"), "each position once per kind: {rows:?}");

    // Rolling back to what is not a kept version is refused, and changes nothing.
    for bad in ["0".repeat(64), "../../etc".to_owned(), "abc".to_owned()] {
        let answer = http()
            .post(bot.url(&format!("/api/plugins/versions/scorer/{bad}/rollback")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("POST");
        assert_eq!(answer.status(), 404, "{bad}");
    }
}
