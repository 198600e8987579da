//! The trades export (`GET /history/export.csv`, `GET /api/trades.csv`): RFC 4180 CSV streamed
//! in ~64 KiB chunks from a blocking walk over the trades, so an export of any size keeps memory
//! flat, with text cells guarded against spreadsheet formula injection.

use crate::api::ApiQuery;
use crate::backend::{BackendError, BackendResult};
use crate::error::{AppError, AppResult};
use crate::model::TradeView;
use crate::query::{HistoryQuery, utc_time};
use crate::{AppState, Backend};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt as _;
use futures_util::stream;
use std::io::Write as _;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The columns, in order.
pub(crate) const HEADER: &str = "id,time_utc,position_id,market_id,question,side,action,purpose,price,shares,\
notional,fee,status,tx_hash,reason,decided_by";
/// A chunk is sent once it holds this much.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the client: the export's memory is about `(CHANNEL + 1) × CHUNK`.
const CHANNEL: usize = 4;
/// A client that takes no chunk for this long is given up on: the walk (and the read
/// transaction under it) ends rather than wait on it forever.
const STALL: std::time::Duration = std::time::Duration::from_secs(30);
/// The file name browsers save the export as.
const FILE_NAME: &str = "equilibrage-trades.csv";

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new().route("/history/export.csv", get(export::<B>))
}

/// Streams the trades matching the history filter as CSV. A bad filter is refused (400) and a
/// backend that fails before the first chunk answers its own status; a failure later can only
/// cut the body short, which the client sees as an incomplete transfer.
pub(crate) async fn export<B: Backend>(
    State(state): State<AppState<B>>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> AppResult<Response> {
    let filter = query.filter()?;
    let backend = Arc::clone(&state.backend);
    let mut rows = spawn_rows(move |each| backend.for_each_trade(&filter, each));
    let first = match rows.next().await {
        Some(Err(e)) => return Err(AppError::from(e)),
        first => first,
    };
    let rest = stream::unfold(rows, |mut rows| async move { rows.next().await.map(|chunk| (chunk, rows)) });
    let body = stream::iter(first).chain(rest).map(|chunk| chunk.map_err(std::io::Error::other));
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{FILE_NAME}\"")),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// CSV chunks coming from a blocking task.
pub(crate) struct Rows {
    rx: mpsc::Receiver<BackendResult<Bytes>>,
    task: Option<JoinHandle<()>>,
}

impl Rows {
    /// The next chunk; `None` at the end. A task that panicked is reported as an error, so a
    /// cut-short export never looks complete.
    async fn next(&mut self) -> Option<BackendResult<Bytes>> {
        if let Some(chunk) = self.rx.recv().await {
            if chunk.is_err() {
                self.rx.close();
                self.task = None;
            }
            return Some(chunk);
        }
        match self.task.take()?.await {
            Ok(()) => None,
            Err(_) => Some(Err(BackendError::Internal("the export stopped unexpectedly".into()))),
        }
    }
}

/// Runs `walk` (which hands trades to its callback, oldest first) on the blocking pool, writing
/// CSV into chunks sent through a small channel: the walk waits while the client is slow, and
/// stops as soon as the receiver is gone (the client went away).
pub(crate) fn spawn_rows<F>(walk: F) -> Rows
where
    F: FnOnce(&mut dyn FnMut(&TradeView) -> bool) -> BackendResult<()> + Send + 'static,
{
    spawn_rows_within(walk, STALL)
}

/// Sends `item` from the blocking pool, waiting at most `stall` for room; false when the client
/// is gone or stalled.
fn send_within(
    tx: &mpsc::Sender<BackendResult<Bytes>>,
    item: BackendResult<Bytes>,
    stall: std::time::Duration,
) -> bool {
    let runtime = tokio::runtime::Handle::current();
    matches!(runtime.block_on(tokio::time::timeout(stall, tx.send(item))), Ok(Ok(())))
}

/// [`spawn_rows`], giving up on a client that takes nothing for `stall`.
fn spawn_rows_within<F>(walk: F, stall: std::time::Duration) -> Rows
where
    F: FnOnce(&mut dyn FnMut(&TradeView) -> bool) -> BackendResult<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL);
    let task = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(CHUNK + 1024);
        buf.extend_from_slice(HEADER.as_bytes());
        buf.extend_from_slice(b"\r\n");
        let mut open = true;
        let result = walk(&mut |trade| {
            write_row(&mut buf, trade);
            if buf.len() >= CHUNK {
                let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + 1024));
                open = send_within(&tx, Ok(Bytes::from(full)), stall);
            }
            open
        });
        match result {
            Ok(()) if open && !buf.is_empty() => {
                let _ = send_within(&tx, Ok(Bytes::from(buf)), stall);
            }
            Ok(()) => {}
            Err(e) => {
                let _ = send_within(&tx, Err(e), stall);
            }
        }
    });
    Rows { rx, task: Some(task) }
}

/// One trade as a CSV record, CRLF-terminated.
fn write_row(buf: &mut Vec<u8>, t: &TradeView) {
    // Numbers and times are formatted here and hold no separator, quote or leading formula
    // character (a negative number stays a number); text from the venue or markets is guarded.
    let _ = write!(buf, "{},{},{},", t.id, utc_time(t.at_ms), t.position_id);
    text_cell(buf, &t.market_id);
    buf.push(b',');
    text_cell(buf, &t.question);
    buf.push(b',');
    text_cell(buf, t.side.label());
    buf.push(b',');
    text_cell(buf, &t.action);
    buf.push(b',');
    text_cell(buf, &t.purpose);
    let _ = write!(buf, ",{},{},{},{},", t.price, t.shares, t.notional, t.fee);
    text_cell(buf, &t.status);
    buf.push(b',');
    text_cell(buf, t.tx_hash.as_deref().unwrap_or(""));
    buf.push(b',');
    text_cell(buf, &t.reason);
    buf.push(b',');
    text_cell(buf, t.decided_by.as_deref().unwrap_or(""));
    buf.extend_from_slice(b"\r\n");
}

/// A text cell: a leading `'` when a spreadsheet would read it as a formula, and quoted (quotes
/// doubled) when it holds a comma, quote or line break (RFC 4180).
fn text_cell(buf: &mut Vec<u8>, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = text.contains([',', '"', '\r', '\n']);
    if quoted {
        buf.push(b'"');
    }
    if formula {
        buf.push(b'\'');
    }
    for &b in text.as_bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    if quoted {
        buf.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::http::{authed, browser, send};
    use crate::fake::{Fake, dec, trade};
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn cell(text: &str) -> String {
        let mut buf = Vec::new();
        text_cell(&mut buf, text);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn cells_are_quoted_and_guarded() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a \"quoted\", reason"), "\"a \"\"quoted\"\", reason\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1", "-1+2", "@SUM(A1)", "\tx", "=1"] {
            assert!(cell(risky).trim_start_matches('"').starts_with('\''), "{risky:?}");
        }
        assert_eq!(cell("\rx"), "\"'\rx\"");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn negative_numbers_stay_numbers() {
        let mut t = trade(7, 2);
        t.fee = dec("-0.25");
        t.price = dec("-1");
        t.reason = "-stop".into();
        t.tx_hash = Some("0xabc".into());
        let mut buf = Vec::new();
        write_row(&mut buf, &t);
        let row = String::from_utf8(buf).unwrap();
        assert!(
            row.contains(",-1,1250,500,-0.25,confirmed,0xabc,'-stop,default-scorer@0.2.0#0123456789ab\r\n"),
            "{row}"
        );
        assert!(row.starts_with("7,2023-11-14 22:13:27,2,0xmarket2,"), "{row}");
        assert_eq!(row.matches(',').count(), HEADER.matches(',').count());
    }

    #[tokio::test]
    async fn export_streams_header_and_rows() {
        for request in [
            authed("GET", "/api/trades.csv?from=2023-01-01&outcome=win"),
            browser("GET", "/history/export.csv?market=x&page=3", false),
        ] {
            let (status, headers, body) =
                send(Arc::new(Fake::default()), request.body(Body::empty()).unwrap()).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(headers[CONTENT_TYPE], "text/csv; charset=utf-8");
            assert_eq!(headers[CONTENT_DISPOSITION], "attachment; filename=\"equilibrage-trades.csv\"");
            let lines: Vec<&str> = body.split("\r\n").collect();
            assert_eq!(lines[0], HEADER);
            assert_eq!(lines.len(), 3 + 2, "header, 3 trades, and the empty tail after the last CRLF");
            assert_eq!(
                lines[1],
                "1,2023-11-14 22:13:21,2,0xmarket2,<script>alert(1)</script>,YES,buy,entry,0.4,1250,500,0.1,\
                 confirmed,,\"a \"\"quoted\"\", reason\",default-scorer@0.2.0#0123456789ab"
            );
            assert_eq!(lines[4], "");
        }
    }

    #[tokio::test]
    async fn export_refuses_a_bad_filter_and_strangers() {
        let fake = Arc::new(Fake::default());
        for uri in ["/api/trades.csv?from=yesterday", "/history/export.csv?outcome=maybe"] {
            let (status, headers, body) =
                send(fake.clone(), authed("GET", uri).body(Body::empty()).unwrap()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
            assert!(body.contains("\"error\""), "{body}");
        }
        let anonymous = axum::http::Request::get("/api/trades.csv").body(Body::empty()).unwrap();
        assert_eq!(send(fake.clone(), anonymous).await.0, StatusCode::UNAUTHORIZED);
        let page = axum::http::Request::get("/history/export.csv").body(Body::empty()).unwrap();
        assert_eq!(
            send(fake, page).await.0,
            StatusCode::SEE_OTHER,
            "a browser without session logs in first"
        );
    }

    #[tokio::test]
    async fn a_large_export_arrives_complete() {
        let fake = Arc::new(Fake { trade_count: 20_000, ..Fake::default() });
        let (status, _, body) =
            send(fake, authed("GET", "/api/trades.csv").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.len() > 10 * CHUNK, "several chunks: {}", body.len());
        let lines: Vec<&str> = body.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 20_001);
        for (i, line) in lines.iter().enumerate().skip(1) {
            assert!(line.starts_with(&format!("{i},")), "row {i} in order: {line}");
        }
    }

    #[tokio::test]
    async fn the_walk_stops_when_the_client_goes_away() {
        let handed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&handed);
        let mut rows = spawn_rows(move |each| {
            for id in 1.. {
                counter.fetch_add(1, Ordering::Relaxed);
                if !each(&trade(id, 2)) {
                    return Ok(());
                }
            }
            Ok(())
        });
        let first = rows.next().await.unwrap().unwrap();
        assert!(first.len() >= CHUNK);
        let task = rows.task.take().unwrap();
        drop(rows);
        task.await.unwrap();
        let handed = handed.load(Ordering::Relaxed);
        let per_chunk = u64::try_from(CHUNK / 100).unwrap();
        assert!(handed < per_chunk * u64::try_from(CHANNEL + 3).unwrap(), "stopped after {handed} trades");
    }

    #[tokio::test]
    async fn a_client_that_stalls_is_given_up_on_and_the_walk_ends() {
        let handed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&handed);
        let mut rows = spawn_rows_within(
            move |each| {
                for id in 1.. {
                    counter.fetch_add(1, Ordering::Relaxed);
                    if !each(&trade(id, 2)) {
                        return Ok(());
                    }
                }
                Ok(())
            },
            std::time::Duration::from_millis(200),
        );
        // One chunk taken, then nothing: the client is still connected, just not reading.
        let _first = rows.next().await.unwrap().unwrap();
        let task = rows.task.take().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("the walk ends although the client never went away")
            .unwrap();
        let handed = handed.load(Ordering::Relaxed);
        let per_chunk = u64::try_from(CHUNK / 100).unwrap();
        assert!(handed < per_chunk * u64::try_from(CHANNEL + 3).unwrap(), "stopped after {handed} trades");
        drop(rows);
    }

    #[tokio::test]
    async fn backend_errors_end_the_export() {
        let mut rows = spawn_rows(|_| Err(BackendError::Unavailable("store busy".into())));
        assert_eq!(rows.next().await, Some(Err(BackendError::Unavailable("store busy".into()))));
        assert_eq!(rows.next().await, None);

        // After the first chunk, an error can only cut the body short.
        let rows = spawn_rows(|each| {
            for id in 1..=2_000 {
                each(&trade(id, 2));
            }
            Err(BackendError::Internal("disk".into()))
        });
        let chunks: Vec<_> =
            stream::unfold(rows, |mut r| async move { r.next().await.map(|c| (c, r)) }).collect().await;
        assert!(chunks.len() >= 2);
        assert!(chunks[..chunks.len() - 1].iter().all(Result::is_ok));
        assert_eq!(chunks.last(), Some(&Err(BackendError::Internal("disk".into()))));

        let panicking = spawn_rows(|_| panic!("walk bug"));
        let mut panicking = panicking;
        assert!(matches!(panicking.next().await, Some(Err(BackendError::Internal(_)))));
    }
}
