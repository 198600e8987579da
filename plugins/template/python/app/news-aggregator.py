"""The component's glue (built by componentize-py, world `news-aggregator`): the host's types in,
the plugin's matches out. The strategy is in plugin.py."""

import equilibrage_plugin as sdk
import plugin
import wit_world
from componentize_py_types import Err
from wit_world.imports import news, types


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return sdk.wit_info(types, types.PluginKind.NEWS_AGGREGATOR, plugin.INFO)

    def match_news(self, params, now, items, markets):
        views = [sdk.NewsItem(i.title, i.summary, i.source, i.published) for i in items]
        texts = [sdk.MarketText(m.question, m.category) for m in markets]
        try:
            out = sdk.check_matches(plugin.match_news(sdk.Params(plugin.INFO, params), now, views, texts), views, texts)
        except ValueError as e:
            raise Err(str(e))
        return [news.NewsMatch(item=m.item, market=m.market, relevance=m.relevance, sentiment=m.sentiment) for m in out]
