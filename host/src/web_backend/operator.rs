//! What operators' tools read and change through the dashboard's backend: the Prometheus
//! exposition, and the events each notification channel is told.

use super::{BackendError, BackendResult, Shared, engine_error, views};

pub(super) fn notification_events(shared: &Shared) -> Vec<equilibrage_web::NotifyEventsView> {
    shared.notifier.get().map(|n| views::notify_events(&n.events())).unwrap_or_default()
}

pub(super) async fn set_notification_events(
    shared: &Shared,
    channel: String,
    events: Vec<String>,
) -> BackendResult<Vec<equilibrage_web::NotifyEventsView>> {
    let Some(notifier) = shared.notifier.get() else {
        return Err(BackendError::NotFound(format!("no notification channel named {channel:?}")));
    };
    let mut kinds = Vec::with_capacity(events.len());
    for e in &events {
        match crate::notify::EventKind::parse(e) {
            Some(k) => kinds.push(k),
            None => {
                let names: Vec<_> = crate::notify::EventKind::ALL.iter().map(|k| k.as_str()).collect();
                let message = format!("no event {e:?}: one of {}", names.join(", "));
                return Err(BackendError::Invalid {
                    message: message.clone(),
                    fields: vec![equilibrage_web::FieldError { field: "events".into(), message }],
                });
            }
        }
    }
    match notifier.set_events(&channel, &kinds).await {
        Ok(()) => Ok(views::notify_events(&notifier.events())),
        Err(e @ crate::notify::NotifyError::UnknownChannel(_)) => Err(BackendError::NotFound(e.to_string())),
        Err(e) => Err(BackendError::Internal(e.to_string())),
    }
}

pub(super) fn metrics(shared: &Shared) -> BackendResult<String> {
    let engine = &shared.engine;
    let o = engine.overview().map_err(engine_error)?;
    let h = engine.health().map_err(engine_error)?;
    Ok(crate::metrics::render(&crate::metrics::AccountSnapshot {
        equity: o.total,
        cash: o.available,
        realised_pnl: o.realised_pnl,
        unrealised_pnl: o.unrealised_pnl,
        open_positions: o.open_positions,
        pending_intents: h.pending_intents,
        auto_trading: engine.settings().auto_trading,
    }))
}
