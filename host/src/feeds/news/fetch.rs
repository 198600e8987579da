//! Fetching one news source (conditional, bounded) and reading its answer: RSS / Atom through
//! `feed-rs`, or NewsAPI's JSON shape, into plain-text items (tags stripped, entities decoded).

use super::*;

pub(super) fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

pub(super) async fn fetch(
    client: &reqwest::Client,
    source: &SourceStatus,
    key: Option<(&str, &str)>,
    cap: usize,
) -> Result<Fetched, NewsError> {
    let mut request = client.get(&source.url).header(
        header::ACCEPT,
        "application/rss+xml, application/atom+xml, application/xml, application/json;q=0.9, */*;q=0.5",
    );
    if let Some(etag) = &source.etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(since) = &source.last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, since);
    }
    if let Some((name, value)) = key {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| NewsError::Client(e.to_string()))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| NewsError::Client("bad API key".into()))?;
        value.set_sensitive(true);
        request = request.header(name, value);
    }
    // Errors name the URL, never headers: the key cannot leak through them.
    let mut response = request.send().await.map_err(|e| NewsError::Http(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        return Err(NewsError::Status(status.as_u16()));
    }
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(NewsError::TooLarge(cap));
    }
    let etag = header_text(response.headers(), header::ETAG);
    let last_modified = header_text(response.headers(), header::LAST_MODIFIED);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| NewsError::Http(e.to_string()))? {
        if body.len() + chunk.len() > cap {
            return Err(NewsError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body { body, etag, last_modified })
}

/// Text with tags dropped and whitespace collapsed (summaries often carry HTML), capped.
pub(super) fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    collapse(&decode_entities(&out)).chars().take(MAX_SUMMARY_CHARS).collect()
}

/// HTML character references in text that was HTML (the XML layer decoded one level already).
pub(super) fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub(super) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

/// Items of an RSS / Atom feed, and how many entries were skipped (no title). An entry with a
/// missing or unreadable date is dated `now_ms`; a date in the future is clamped to `now_ms`.
pub(super) fn parse_feed(body: &[u8], url: &str, now_ms: i64) -> Result<(Vec<NewsItem>, usize), NewsError> {
    let feed = feed_rs::parser::parse(body)
        .map_err(|e| NewsError::Malformed { kind: "feed", reason: e.to_string() })?;
    let source =
        feed.title.map(|t| collapse(&t.content)).filter(|t| !t.is_empty()).unwrap_or_else(|| host_of(url));
    let mut items = Vec::with_capacity(feed.entries.len());
    let mut skipped = 0;
    for entry in feed.entries {
        // The title is kept as written (markup included): the dashboard shows it as text.
        let Some(title) = entry.title.map(|t| collapse(&t.content)).filter(|t| !t.is_empty()) else {
            skipped += 1;
            continue;
        };
        let link = entry.links.first().map(|l| l.href.trim().to_owned()).unwrap_or_default();
        let summary = entry
            .summary
            .map(|t| plain_text(&t.content))
            .filter(|s| !s.is_empty())
            .or_else(|| entry.content.and_then(|c| c.body).map(|b| plain_text(&b)))
            .unwrap_or_default();
        let published_ms =
            entry.published.or(entry.updated).map_or(now_ms, |d| d.timestamp_millis().min(now_ms));
        items.push(NewsItem {
            title,
            source: source.clone(),
            market: String::new(),
            published_ms,
            summary,
            url: link,
        });
    }
    Ok((items, skipped))
}

#[derive(Deserialize)]
struct ApiPage {
    articles: Vec<serde_json::Value>,
}

/// Items of a JSON API page; an article without a title is skipped, the rest kept.
pub(super) fn parse_api(body: &[u8], url: &str, now_ms: i64) -> Result<(Vec<NewsItem>, usize), NewsError> {
    let page: ApiPage = serde_json::from_slice(body)
        .map_err(|e| NewsError::Malformed { kind: "news API answer", reason: e.to_string() })?;
    let fallback = host_of(url);
    let mut items = Vec::with_capacity(page.articles.len());
    let mut skipped = 0;
    for a in page.articles {
        let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(collapse);
        let Some(title) = text(a.get("title")).filter(|t| !t.is_empty()) else {
            skipped += 1;
            continue;
        };
        let published_ms = a
            .get("publishedAt")
            .and_then(serde_json::Value::as_str)
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d.trim()).ok())
            .map_or(now_ms, |d| d.timestamp_millis().min(now_ms));
        items.push(NewsItem {
            title,
            source: text(a.get("source").and_then(|s| s.get("name")))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| fallback.clone()),
            market: String::new(),
            published_ms,
            summary: a
                .get("description")
                .and_then(serde_json::Value::as_str)
                .map(plain_text)
                .unwrap_or_default(),
            url: text(a.get("url")).unwrap_or_default(),
        });
    }
    Ok((items, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_lose_their_tags() {
        assert_eq!(plain_text("<p>Senate <b>passes</b>\n bill</p>"), "Senate passes bill");
        assert_eq!(
            plain_text("Funds &amp;amp; more &#8211; &#x41;&nbsp;&bogus; & so"),
            "Funds &amp; more \u{2013} A &bogus; & so"
        );
    }
}
