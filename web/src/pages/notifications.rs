//! Settings' Notifications section: each channel (`[[notify.channels]]`) with a checkbox per
//! event it may be told, saved live and kept across restarts.

use super::layout::{csrf_field, query_value};
use crate::auth::Identity;
use crate::model::NotifyEventsView;
use maud::{Markup, html};

/// The section; `saved`: the channel whose choice was just saved.
pub(crate) fn section(channels: &[NotifyEventsView], identity: &Identity, saved: Option<&str>) -> Markup {
    html! {
        section id="notifications" class="panel" aria-labelledby="notifications-title" {
            h2 id="notifications-title" { "Notifications" }
            @if channels.is_empty() {
                p class="note" {
                    "No channel: add Telegram, webhook or ntfy channels as " code { "[[notify.channels]]" }
                    " in the config file (docs/operations.md, \"Notifications\")."
                }
            }
            @for c in channels {
                form class="notify-events" method="post" action="/settings/notifications" data-channel=(c.name) {
                    (csrf_field(identity))
                    input type="hidden" name="channel" value=(c.name);
                    fieldset {
                        legend { (c.name) " " small class="muted" { "(" (c.kind) ")" } }
                        div class="choices" {
                            @for e in &c.events {
                                @let id = format!("notify-{}-{}", c.name, e.event);
                                label for=(id) {
                                    input type="checkbox" id=(id) name="event" value=(e.event) checked[e.on];
                                    " " (e.label)
                                }
                            }
                        }
                    }
                    div class="actions" {
                        button type="submit" { "Save " (c.name) }
                        @if saved == Some(c.name.as_str()) { " " span class="flash" role="status" { "Saved." } }
                    }
                }
            }
        }
    }
}

/// Where a saved channel's choice is shown.
pub(crate) fn saved_location(channel: &str) -> String {
    format!("/settings?notified={}#notifications", query_value(channel))
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, Fake};
    use crate::pages::test_util::{assert_safe, get, post_form};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn settings_show_each_channels_events_and_save_a_choice() {
        let fake = Arc::new(Fake::default());
        let (status, _, body) = get(Arc::clone(&fake), "/settings").await;
        assert_eq!(status, StatusCode::OK);
        assert_safe(&body);
        for needle in [
            "<section id=\"notifications\" class=\"panel\"",
            "<form class=\"notify-events\" method=\"post\" action=\"/settings/notifications\" data-channel=\"phone\">",
            "<input type=\"hidden\" name=\"channel\" value=\"phone\">",
            "<input type=\"checkbox\" id=\"notify-phone-entry\" name=\"event\" value=\"entry\" checked>",
            "<input type=\"checkbox\" id=\"notify-phone-liquidation\" name=\"event\" value=\"liquidation\">",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let form = [("channel", "phone"), ("event", "liquidation"), ("event", "daily_summary")];
        let (status, headers, _) = post_form(Arc::clone(&fake), "/settings/notifications", &form).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/settings?notified=phone#notifications");
        assert_eq!(
            fake.calls(),
            [Call::NotifyEvents("phone".into(), vec!["liquidation".into(), "daily_summary".into()])]
        );
        let (_, _, body) = get(Arc::clone(&fake), "/settings?notified=phone").await;
        assert!(body.contains("value=\"liquidation\" checked>"));
        assert!(body.contains("value=\"entry\">"), "unchecked now");
        assert!(body.contains("<span class=\"flash\" role=\"status\">Saved.</span>"));
        // An unknown channel: the page again, with why.
        let (status, _, body) = post_form(fake, "/settings/notifications", &[("channel", "pager")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no notification channel named"), "{body}");
    }
}
