"""The component's glue (built by componentize-py, world `scorer`): the host's types in, the
plugin's answer out. The strategy is in plugin.py."""

import equilibrage_plugin as sdk
import plugin
import wit_world
from componentize_py_types import Err
from wit_world.imports import scoring, types


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return sdk.wit_info(types, types.PluginKind.SCORER, plugin.INFO)

    def score(self, params, now, markets) -> scoring.Scores:
        try:
            values, factors = sdk.score_batch(plugin.INFO, params, now, markets, plugin.score)
        except ValueError as e:
            raise Err(str(e))
        return scoring.Scores(values=values, factors=factors)
