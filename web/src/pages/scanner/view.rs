//! Which opportunities the Scanner shows: search, category, minimum score, sort and page, read
//! from the URL and written back into every link, so a view can be bookmarked and the live
//! refresh keeps it.

use super::super::layout::{last, query_pairs, query_value};
use crate::model::OpportunityView;
use std::cmp::Ordering;

/// Rows a page may hold.
pub(super) const PAGE_SIZES: [usize; 3] = [25, 50, 100];
/// Longest search text and category name accepted.
const MAX_TEXT: usize = 200;
/// Highest page number accepted (a page past the last shows the last).
const MAX_PAGE: usize = 10_000;

/// A column the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sort {
    Score,
    Market,
    YesAsk,
    NoAsk,
    Liquidity,
    Volume,
    Ends,
}

impl Sort {
    const ALL: [Self; 7] =
        [Self::Score, Self::Market, Self::YesAsk, Self::NoAsk, Self::Liquidity, Self::Volume, Self::Ends];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Score => "score",
            Self::Market => "market",
            Self::YesAsk => "yes_ask",
            Self::NoAsk => "no_ask",
            Self::Liquidity => "liquidity",
            Self::Volume => "volume",
            Self::Ends => "ends",
        }
    }

    /// The direction a first click sorts in: numbers largest first, names and dates ascending.
    fn natural_desc(self) -> bool {
        !matches!(self, Self::Market | Self::Ends | Self::YesAsk | Self::NoAsk)
    }

    fn compare(self, a: &OpportunityView, b: &OpportunityView) -> Ordering {
        match self {
            Self::Score => a.score.total_cmp(&b.score),
            Self::Market => a.question.to_lowercase().cmp(&b.question.to_lowercase()),
            Self::YesAsk => a.yes_ask.cmp(&b.yes_ask),
            Self::NoAsk => a.no_ask.cmp(&b.no_ask),
            Self::Liquidity => a.liquidity.cmp(&b.liquidity),
            Self::Volume => a.volume_24h.cmp(&b.volume_24h),
            Self::Ends => a.end_ms.cmp(&b.end_ms),
        }
    }
}

/// What the operator asked to see.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct View {
    pub min: Option<f32>,
    /// Words every shown market's question, id or category contains (case-insensitive).
    pub search: String,
    pub category: Option<String>,
    pub sort: Sort,
    pub desc: bool,
    /// From 1.
    pub page: usize,
    pub per: usize,
}

impl Default for View {
    fn default() -> Self {
        Self {
            min: None,
            search: String::new(),
            category: None,
            sort: Sort::Score,
            desc: true,
            page: 1,
            per: PAGE_SIZES[0],
        }
    }
}

/// One page of the view.
#[derive(Debug)]
pub(super) struct Shown {
    pub rows: Vec<OpportunityView>,
    /// Opportunities matching the filters, over every page.
    pub matched: usize,
    /// Opportunities of the last scan before any filter.
    pub total: usize,
    /// The page shown (a page past the last becomes the last), and how many there are.
    pub page: usize,
    pub pages: usize,
}

/// Every category of `list`, sorted, for the filter.
pub(super) fn categories_of(list: &[OpportunityView]) -> Vec<String> {
    let mut categories: Vec<String> = list.iter().map(|o| o.category.clone()).collect();
    categories.sort();
    categories.dedup();
    categories
}

impl View {
    /// Reads the query string; a value out of range is refused with what was expected.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, String> {
        let pairs = query_pairs(raw);
        let get = |name: &str| last(&pairs, name).map(str::trim).filter(|t| !t.is_empty());
        let mut view = Self::default();
        if let Some(text) = get("min_score") {
            view.min = match text.parse::<f32>() {
                Ok(v) if (0.0..=10.0).contains(&v) => Some(v),
                _ => return Err(format!("`min_score` must be a number from 0 to 10, got {text:?}")),
            };
        }
        if let Some(text) = get("q") {
            if text.chars().count() > MAX_TEXT {
                return Err(format!("`q` is longer than {MAX_TEXT} characters"));
            }
            text.clone_into(&mut view.search);
        }
        if let Some(text) = get("category") {
            if text.chars().count() > MAX_TEXT {
                return Err(format!("`category` is longer than {MAX_TEXT} characters"));
            }
            view.category = Some(text.to_owned());
        }
        if let Some(text) = get("sort") {
            view.sort = Sort::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
                let names: Vec<_> = Sort::ALL.iter().map(|s| s.as_str()).collect();
                format!("`sort` must be one of {}, got {text:?}", names.join(", "))
            })?;
            view.desc = view.sort.natural_desc();
        }
        if let Some(text) = get("dir") {
            view.desc = match text {
                "desc" => true,
                "asc" => false,
                _ => return Err(format!("`dir` must be asc or desc, got {text:?}")),
            };
        }
        if let Some(text) = get("page") {
            view.page = match text.parse::<usize>() {
                Ok(p) if (1..=MAX_PAGE).contains(&p) => p,
                _ => return Err(format!("`page` must be a number from 1 to {MAX_PAGE}, got {text:?}")),
            };
        }
        if let Some(text) = get("per") {
            view.per = match text.parse::<usize>() {
                Ok(n) if PAGE_SIZES.contains(&n) => n,
                _ => return Err(format!("`per` must be 25, 50 or 100, got {text:?}")),
            };
        }
        Ok(view)
    }

    /// The query string of this view, without the values left at their defaults (empty for
    /// the default view).
    pub(super) fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.min {
            parts.push(format!("min_score={m}"));
        }
        if !self.search.is_empty() {
            parts.push(format!("q={}", query_value(&self.search)));
        }
        if let Some(c) = &self.category {
            parts.push(format!("category={}", query_value(c)));
        }
        if self.sort != Sort::Score || !self.desc {
            parts.push(format!("sort={}", self.sort.as_str()));
            if self.desc != self.sort.natural_desc() {
                parts.push(format!("dir={}", if self.desc { "desc" } else { "asc" }));
            }
        }
        if self.per != PAGE_SIZES[0] {
            parts.push(format!("per={}", self.per));
        }
        if self.page != 1 {
            parts.push(format!("page={}", self.page));
        }
        parts.join("&")
    }

    /// `path` with this view's query string.
    pub(super) fn href(&self, path: &str) -> String {
        let query = self.query();
        if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
    }

    /// The view sorted by `sort`: the other way round when it already is, from the first page.
    pub(super) fn sorted_by(&self, sort: Sort) -> Self {
        let desc = if self.sort == sort { !self.desc } else { sort.natural_desc() };
        Self { sort, desc, page: 1, ..self.clone() }
    }

    pub(super) fn at_page(&self, page: usize) -> Self {
        Self { page, ..self.clone() }
    }

    /// Filters, sorts (ties by market id, so the order never flickers) and cuts out the page.
    pub(super) fn apply(&self, all: Vec<OpportunityView>) -> Shown {
        let total = all.len();
        let words: Vec<String> = self.search.split_whitespace().map(str::to_lowercase).collect();
        let mut rows: Vec<OpportunityView> = all
            .into_iter()
            .filter(|o| self.min.is_none_or(|m| o.score >= m))
            .filter(|o| self.category.as_ref().is_none_or(|c| &o.category == c))
            .filter(|o| {
                words.is_empty() || {
                    let text = format!("{} {} {}", o.question, o.market_id, o.category).to_lowercase();
                    words.iter().all(|w| text.contains(w.as_str()))
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let by = self.sort.compare(a, b);
            (if self.desc { by.reverse() } else { by }).then_with(|| a.market_id.cmp(&b.market_id))
        });
        let matched = rows.len();
        let pages = matched.div_ceil(self.per).max(1);
        let page = self.page.min(pages);
        let rows = rows.into_iter().skip((page - 1) * self.per).take(self.per).collect();
        Shown { rows, matched, total, page, pages }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn opp(id: &str, score: f32, category: &str, question: &str, liquidity: i64) -> OpportunityView {
        OpportunityView {
            market_id: id.into(),
            question: question.into(),
            category: category.into(),
            score,
            factors: Vec::new(),
            yes_ask: None,
            no_ask: None,
            liquidity: Decimal::from(liquidity),
            volume_24h: Decimal::ZERO,
            end_ms: None,
            detected_at_ms: 0,
            scorer: String::new(),
            held: false,
        }
    }

    fn list() -> Vec<OpportunityView> {
        (0..60_i64)
            .map(|i| {
                let category = ["politics", "sports", "crypto"][usize::try_from(i % 3).unwrap()];
                #[expect(clippy::cast_precision_loss, reason = "small test numbers")]
                let score = 1.0 + (i % 10) as f32;
                opp(&format!("0x{i:02}"), score, category, &format!("Will thing {i} happen?"), 1000 - i)
            })
            .collect()
    }

    fn ids(shown: &Shown) -> Vec<&str> {
        shown.rows.iter().map(|o| o.market_id.as_str()).collect()
    }

    #[test]
    fn the_default_view_is_the_best_first_25_and_an_empty_query() {
        let view = View::parse(None).unwrap();
        assert_eq!(view, View::default());
        assert_eq!(view.query(), "");
        let shown = view.apply(list());
        assert_eq!((shown.matched, shown.total, shown.page, shown.pages), (60, 60, 1, 3));
        assert_eq!(shown.rows.len(), 25);
        // Score 10 first; ties by market id.
        assert_eq!(&ids(&shown)[..3], ["0x09", "0x19", "0x29"]);
        assert_eq!(categories_of(&list()), ["crypto", "politics", "sports"]);
    }

    #[test]
    fn search_category_and_minimum_score_combine() {
        let view = View::parse(Some("q=THING+1&category=sports&min_score=2")).unwrap();
        let shown = view.apply(list());
        // Every word must be there: "thing" and "1" match 1, 10-19, 21, 31, 41, 51; sports are
        // i % 3 == 1: 1, 10, 13, 16, 19, 31; a score of 2 or more drops 10. Ties by market id.
        assert_eq!(ids(&shown), ["0x19", "0x16", "0x13", "0x01", "0x31"]);
        assert_eq!(shown.matched, 5);
        assert_eq!(shown.total, 60);
    }

    #[test]
    fn sorting_toggles_and_every_link_round_trips_through_the_url() {
        let view = View::parse(Some("q=will&per=50")).unwrap();
        let by_liquidity = view.sorted_by(Sort::Liquidity);
        assert_eq!(by_liquidity.query(), "q=will&sort=liquidity&per=50");
        assert!(by_liquidity.desc, "numbers sort largest first on the first click");
        let flipped = by_liquidity.sorted_by(Sort::Liquidity);
        assert_eq!(flipped.query(), "q=will&sort=liquidity&dir=asc&per=50");
        let by_market = flipped.at_page(2).sorted_by(Sort::Market);
        assert_eq!((by_market.page, by_market.desc), (1, false), "a new sort starts at page 1, A to Z");
        for v in [view, by_liquidity, flipped.at_page(2), by_market] {
            assert_eq!(View::parse(Some(&v.query())).unwrap(), v, "{}", v.query());
        }
        let asc = View::parse(Some("sort=liquidity&dir=asc")).unwrap().apply(list());
        assert_eq!(ids(&asc)[0], "0x59");
    }

    #[test]
    fn a_page_past_the_last_shows_the_last() {
        let shown = View::parse(Some("page=9&per=25")).unwrap().apply(list());
        assert_eq!((shown.page, shown.pages, shown.rows.len()), (3, 3, 10));
        let empty = View::parse(Some("q=nothing-like-this")).unwrap().apply(list());
        assert_eq!((empty.page, empty.pages, empty.matched), (1, 1, 0));
    }

    #[test]
    fn bad_values_are_refused_with_what_was_expected() {
        for (query, expected) in [
            ("sort=price", "`sort` must be one of score, market, yes_ask, no_ask, liquidity, volume, ends"),
            ("dir=up", "`dir` must be asc or desc"),
            ("page=0", "`page` must be a number from 1"),
            ("per=30", "`per` must be 25, 50 or 100"),
            ("min_score=11", "`min_score` must be a number from 0 to 10"),
        ] {
            let e = View::parse(Some(query)).unwrap_err();
            assert!(e.starts_with(expected), "{query}: {e}");
        }
        let long = format!("q={}", "a".repeat(201));
        assert!(View::parse(Some(&long)).unwrap_err().contains("longer than 200"));
    }
}
