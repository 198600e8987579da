//! Engine, plugin-parameter and storage errors as the web layer answers them, classed by what
//! the caller must do (fix a field, find something else, retry later, or report a fault).

use crate::engine::EngineError;
use crate::plugins::ParamError;
use crate::store::StoreError;
use equilibrage_web::{BackendError, FieldError};

/// An engine error as the web layer answers it, by what the caller must do.
pub(super) fn engine_error(e: EngineError) -> BackendError {
    match e {
        EngineError::Settings(s) => BackendError::Invalid {
            message: s.to_string(),
            fields: s
                .0
                .into_iter()
                .map(|f| FieldError { field: f.field.into(), message: f.message })
                .collect(),
        },
        EngineError::BadAmount(_) | EngineError::InsufficientCapital { .. } => {
            BackendError::Invalid { message: e.to_string(), fields: vec![field("capital", e.to_string())] }
        }
        EngineError::Params(p) => param_error(p),
        EngineError::UnknownMarket(_) | EngineError::UnknownPosition(_) => {
            BackendError::NotFound(e.to_string())
        }
        EngineError::MarketClosed(_)
        | EngineError::AlreadyHeld(_)
        | EngineError::NotOpen(_)
        | EngineError::Busy(_)
        | EngineError::NoSlot { .. }
        | EngineError::Liquidity { .. } => BackendError::Conflict(e.to_string()),
        EngineError::Exchange(x) => match x {
            crate::exchange::ExchangeError::NotFound(_) => BackendError::NotFound(format!("exchange: {x}")),
            // The venue said no to this order as things stand (balance, book, market state).
            crate::exchange::ExchangeError::Rejected { .. } => {
                BackendError::Conflict(format!("exchange: {x}"))
            }
            _ => BackendError::Unavailable(format!("exchange: {x}")),
        },
        EngineError::Plugin(_) => BackendError::Unavailable(e.to_string()),
        EngineError::Store(s) => store_error(&s),
        EngineError::VenueMismatch { .. } => BackendError::Internal(e.to_string()),
    }
}

fn param_error(e: ParamError) -> BackendError {
    match &e {
        ParamError::UnknownPlugin { .. } => BackendError::NotFound(e.to_string()),
        ParamError::UnknownParam { param, .. } | ParamError::OutOfRange { param, .. } => {
            BackendError::Invalid { message: e.to_string(), fields: vec![field(param, e.to_string())] }
        }
    }
}

pub(super) fn store_error(e: &StoreError) -> BackendError {
    tracing::error!(error = %e, "storage failed serving the dashboard");
    BackendError::Internal(format!("storage: {e}"))
}

pub(super) fn field(name: &str, message: String) -> FieldError {
    FieldError { field: name.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FieldError as SettingsField, SettingsError};
    use crate::plugins::PluginKind;
    use rust_decimal::Decimal;

    #[test]
    fn engine_errors_map_to_what_the_caller_must_do() {
        let settings = engine_error(EngineError::Settings(SettingsError(vec![SettingsField {
            field: "max_positions",
            message: "must be from 1 to 100, got 0".into(),
        }])));
        match settings {
            BackendError::Invalid { fields, .. } => {
                assert_eq!(fields, vec![field("max_positions", "must be from 1 to 100, got 0".into())]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(engine_error(EngineError::UnknownPosition(3)), BackendError::NotFound(_)));
        assert!(matches!(engine_error(EngineError::UnknownMarket("m".into())), BackendError::NotFound(_)));
        for conflict in [
            EngineError::NoSlot { max: 3 },
            EngineError::Busy(1),
            EngineError::NotOpen(1),
            EngineError::AlreadyHeld("m".into()),
            EngineError::MarketClosed("m".into()),
        ] {
            assert!(matches!(engine_error(conflict), BackendError::Conflict(_)));
        }
        let unavailable = EngineError::Exchange(crate::exchange::ExchangeError::Retryable {
            reason: "429".into(),
            retry_after: None,
        });
        assert!(matches!(engine_error(unavailable), BackendError::Unavailable(_)));
        assert!(matches!(
            engine_error(EngineError::Store(StoreError::Database("disk".into()))),
            BackendError::Internal(_)
        ));
        match engine_error(EngineError::BadAmount(Decimal::ZERO)) {
            BackendError::Invalid { fields, .. } => assert_eq!(fields[0].field, "capital"),
            other => panic!("{other:?}"),
        }
        let out_of_range =
            EngineError::Params(ParamError::OutOfRange { param: "w".into(), value: 9.0, min: 0.0, max: 1.0 });
        match engine_error(out_of_range) {
            BackendError::Invalid { fields, .. } => assert_eq!(fields[0].field, "w"),
            other => panic!("{other:?}"),
        }
        let unknown = ParamError::UnknownPlugin { kind: PluginKind::Scorer, name: "x".into() };
        assert!(matches!(engine_error(EngineError::Params(unknown)), BackendError::NotFound(_)));
    }
}
