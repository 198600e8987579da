//! How the live link is doing: counters the dashboard and alerts read.

/// How the live link is doing, for the dashboard and alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub heartbeats_ok: u64,
    /// Failures since the last success; the exchange cancels resting orders when heartbeats stop.
    pub heartbeat_failures: u32,
    /// Heartbeats that carried a stale id and were resent with the exchange's.
    pub heartbeat_resyncs: u64,
    pub last_error: Option<String>,
    /// Every market-feed connection is up.
    pub feed_connected: bool,
    /// Market-feed connections opened (tokens are spread over them).
    pub feed_links: u64,
    pub feed_connects: u64,
    pub feed_gaps: u64,
    pub feed_snapshots: u64,
    pub feed_duplicates: u64,
    /// Tokens the feed is subscribed to, over every connection.
    pub feed_tokens: u64,
    /// Tokens whose market the venue keeps (listed in one of the last few listings, held or
    /// read); the rest are forgotten.
    pub known_tokens: u64,
    /// Protocol-V2 markets the last listing left out (this version does not trade them).
    pub listing_protocol_v2: u64,
    /// Pages of the last listing that failed (their markets are missing from it).
    pub listing_bad_pages: u64,
    /// Connections of the user channel (more than one: it dropped and came back).
    pub user_connects: u64,
}
