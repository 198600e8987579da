"""The component's glue (built by componentize-py, world `scorer`): the host's types in, the
plugin's answer out. The strategy is in plugin.py."""

import equilibrage_plugin as sdk
import plugin
import wit_world
from componentize_py_types import Err
from wit_world.imports import scoring, types


def describe_info(kind) -> types.PluginInfo:
    info = plugin.INFO
    return types.PluginInfo(
        name=info.name,
        version=info.version,
        kind=kind,
        description=info.description,
        params=[types.ParamSpec(name=p.name, help=p.help, default=p.default, min=p.min, max=p.max) for p in info.params],
        factors=[types.FactorSpec(name=f.name, help=f.help, weight_param=f.weight_param) for f in info.factors],
    )


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return describe_info(types.PluginKind.SCORER)

    def score(self, params, now, markets) -> scoring.Scores:
        try:
            values, factors = sdk.score_batch(plugin.INFO, params, now, markets, plugin.score)
        except ValueError as e:
            raise Err(str(e))
        return scoring.Scores(values=values, factors=factors)
