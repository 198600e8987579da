//! The allocator of the `equilibrage` binary and its benchmarks (mimalloc), and how soon it
//! gives freed memory back to the system.
//!
//! The engine makes many small, short-lived allocations (a scan's candidates, factor names,
//! store records); mimalloc serves them faster than glibc's allocator: a 3-day backtest runs in
//! about three quarters of the time (`docs/benchmarks.md`, "A faster allocator"). It keeps freed
//! memory for a while before returning it, which suits a backtest, but the running bot's
//! resident memory has a budget (≤ 200 MB with 20,000 markets), so the bot returns it at once.

/// The global allocator; the binary and the benchmarks declare
/// `#[global_allocator] static ALLOCATOR: Allocator = Allocator;`.
pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_purge_delay`, by number: libmimalloc-sys does not name it ("not
/// exposed as constants for stability reasons"). The number is that of the pinned version's
/// `mimalloc.h` (checked by a test against the option's documented default).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's own default delay before freed memory goes back to the system, in ms.
const DEFAULT_PURGE_DELAY_MS: i32 = 1_000;

/// How soon freed memory goes back to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// At once: the long-running bot, whose resident memory is budgeted.
    Promptly,
    /// After mimalloc's default delay (a second): runs that end (backtests, sweeps), faster.
    Lazily,
}

/// Sets how soon freed memory goes back to the system. Call it at the start of `main`, before
/// other threads exist (mimalloc's options are plain globals).
pub fn set_purge(purge: Purge) {
    let delay_ms = match purge {
        Purge::Promptly => 0,
        Purge::Lazily => DEFAULT_PURGE_DELAY_MS,
    };
    #[allow(unsafe_code, reason = "mimalloc's option setter: a plain store to one of its globals")]
    // SAFETY: `mi_option_set` takes any option number below `_mi_option_last` and any value;
    // callers set it before starting threads, as the function's documentation asks.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, delay_ms.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is the purge delay's: it starts at mimalloc's documented default
    /// (its neighbours, the eager-commit delay and the NUMA node count, default to 1 and 0),
    /// and reads back what `set_purge` sets.
    #[test]
    fn the_purge_delay_is_the_option_set() {
        #[allow(unsafe_code, reason = "mimalloc's option getter: a plain read")]
        // SAFETY: reads an option by a number below `_mi_option_last`.
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        assert_eq!(get(PURGE_DELAY), std::ffi::c_long::from(DEFAULT_PURGE_DELAY_MS));
        assert_eq!((get(PURGE_DELAY - 1), get(PURGE_DELAY + 1)), (1, 0));
        set_purge(Purge::Promptly);
        assert_eq!(get(PURGE_DELAY), 0);
        set_purge(Purge::Lazily);
        assert_eq!(get(PURGE_DELAY), std::ffi::c_long::from(DEFAULT_PURGE_DELAY_MS));
    }
}
