//! What every kind's export glue shares: the WIT types, the cached self-description, parameters.

use crate::common::{Kind, ParamSpec, Params, PluginInfo};
use std::sync::OnceLock;

pub use crate::scorer::bindings::equilibrage::plugin::host as wit_host;
pub use crate::scorer::bindings::equilibrage::plugin::types as wit_types;

/// A component holds exactly one plugin, so one cached description serves every call.
static INFO: OnceLock<PluginInfo> = OnceLock::new();

pub(crate) fn info(make: fn() -> PluginInfo) -> &'static PluginInfo {
    INFO.get_or_init(make)
}

/// Checks that `values` match the declared parameters in number.
pub(crate) fn params(values: Vec<f64>, specs: &[ParamSpec]) -> Result<Params, String> {
    if values.len() != specs.len() {
        return Err(format!("expected {} parameter values, got {}", specs.len(), values.len()));
    }
    Ok(Params::new(values, specs))
}

pub(crate) fn describe(info: &PluginInfo, kind: Kind) -> wit_types::PluginInfo {
    use wit_types as t;
    t::PluginInfo {
        name: info.name.clone(),
        version: info.version.clone(),
        kind: match kind {
            Kind::Scorer => t::PluginKind::Scorer,
            Kind::WhaleAnalyzer => t::PluginKind::WhaleAnalyzer,
            Kind::NewsAggregator => t::PluginKind::NewsAggregator,
            Kind::LiquidationRules => t::PluginKind::LiquidationRules,
        },
        description: info.description.clone(),
        params: info
            .params
            .iter()
            .map(|p| t::ParamSpec {
                name: p.name.clone(),
                help: p.help.clone(),
                default: p.default,
                min: p.min,
                max: p.max,
            })
            .collect(),
        factors: info
            .factors
            .iter()
            .map(|f| t::FactorSpec {
                name: f.name.clone(),
                help: f.help.clone(),
                weight_param: f.weight_param.clone(),
            })
            .collect(),
    }
}
