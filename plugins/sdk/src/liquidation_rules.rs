//! The `liquidation-rules` kind: decide what to do with open positions.

use crate::common::{Kind, Params, PluginInfo};
use crate::glue;
use std::marker::PhantomData;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "liquidation-rules",
        path: "../../wit",
        runtime_path: "::equilibrage_plugin_sdk::__rt::wit_bindgen::rt",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_liquidation_rules_world",
        default_bindings_module: "::equilibrage_plugin_sdk::liquidation_rules::bindings",
        with: {
            "equilibrage:plugin/types@0.2.0": ::equilibrage_plugin_sdk::glue::wit_types,
            "equilibrage:plugin/host@0.2.0": ::equilibrage_plugin_sdk::glue::wit_host,
        },
    });
}

pub use bindings::equilibrage::plugin::rules::{Action, Decision, Leg, PositionView};

/// A liquidation-rules plugin.
pub trait LiquidationRules {
    /// Name, version and parameters.
    fn info() -> PluginInfo;

    /// Decides about one position; `None` holds it.
    fn evaluate(params: &Params, now_ms: i64, position: &PositionView) -> Option<(Action, String)>;

    /// Decides about a batch; positions without a decision are held.
    ///
    /// # Errors
    /// A message the host shows as this plugin's error; the built-in rule then protects positions.
    fn evaluate_batch(
        params: &Params,
        now_ms: i64,
        positions: &[PositionView],
    ) -> Result<Vec<Decision>, String> {
        Ok(positions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let (action, reason) = Self::evaluate(params, now_ms, p)?;
                let position = u32::try_from(i).ok()?;
                Some(Decision { position, action, reason })
            })
            .collect())
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct Glue<T>(PhantomData<T>);

impl<T: LiquidationRules> bindings::Guest for Glue<T> {
    fn describe() -> bindings::PluginInfo {
        glue::describe(glue::info(T::info), Kind::LiquidationRules)
    }

    fn evaluate(params: Vec<f64>, now: i64, positions: Vec<PositionView>) -> Result<Vec<Decision>, String> {
        let params = glue::params(params, &glue::info(T::info).params)?;
        T::evaluate_batch(&params, now, &positions)
    }
}

/// Exports a [`LiquidationRules`] implementation as this component's `liquidation-rules` world.
#[macro_export]
macro_rules! export_liquidation_rules {
    ($plugin:ty) => {
        // Natively (unit tests) nothing is exported, but the plugin type is still used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::PluginInfo = <$plugin as $crate::liquidation_rules::LiquidationRules>::info;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type EquilibrageGlue = $crate::liquidation_rules::Glue<$plugin>;
            $crate::liquidation_rules::bindings::__export_liquidation_rules_world!(EquilibrageGlue with_types_in $crate::liquidation_rules::bindings);
        };
    };
}
