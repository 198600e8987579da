//! The allocator of the `equilibrage` binary and its benchmarks (mimalloc), and how soon the
//! running bot gives freed memory back to the system.
//!
//! The engine makes many small, short-lived allocations (a scan's candidates, factor names,
//! store records, plugin inputs); mimalloc 2 serves them faster than glibc's allocator: a 30-day
//! backtest in about half the time (`docs/benchmarks.md`, "A faster allocator"). It waits 10 ms
//! before returning freed memory to the system. The running bot's resident memory has a budget
//! (≤ 200 MB with 20,000 markets), and returning freed memory at once keeps it there, below
//! glibc's figure; a backtest ends, and keeping what it freed spares it taking the memory back
//! page by page (a 30-day backtest's page faults fall to a fifth, 6–7 % of its time). A sweep
//! keeps the default: it ran no faster keeping its memory, and its peak rose.

/// The global allocator; the binary and the benchmarks declare
/// `#[global_allocator] static ALLOCATOR: Allocator = Allocator;`.
pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_purge_delay`, by number: libmimalloc-sys does not name it (options
/// are "not exposed as constants for stability reasons"). The number is that of the pinned
/// version's `mimalloc.h`; a test checks it against the option's documented default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes the allocator return freed memory to the system at once rather than after its delay:
/// the long-running bot's setting. Call it at the start of `main`, before other threads exist
/// (mimalloc's options are plain globals).
pub fn return_freed_memory_at_once() {
    #[allow(unsafe_code, reason = "mimalloc's option setter: a plain store to one of its globals")]
    // SAFETY: `mi_option_set` takes any option number below `_mi_option_last` and any value;
    // callers set it before starting threads, as the function's documentation asks.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// Makes the allocator keep freed memory until the process ends: a backtest's setting (its peak
/// is what it takes anyway). Call it as [`return_freed_memory_at_once`].
pub fn keep_freed_memory() {
    #[allow(unsafe_code, reason = "mimalloc's option setter: a plain store to one of its globals")]
    // SAFETY: as in `return_freed_memory_at_once`; -1 is mimalloc's "never" for a delay.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is the purge delay's: it starts at mimalloc 2's documented default
    /// (10 ms; its neighbours, the eager-commit delay and the NUMA node count, default to 1 and
    /// 0), and reads what each setter sets.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        #[allow(unsafe_code, reason = "mimalloc's option getter: a plain read")]
        // SAFETY: reads an option by a number below `_mi_option_last`.
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        assert_eq!((get(PURGE_DELAY - 1), get(PURGE_DELAY), get(PURGE_DELAY + 1)), (1, 10, 0));
        return_freed_memory_at_once();
        assert_eq!(get(PURGE_DELAY), 0);
        keep_freed_memory();
        assert_eq!(get(PURGE_DELAY), -1);
    }
}
