//! Deliberately broken recovery, to prove that the crash tests catch a
//! wrong recovery rule. With the `broken` feature a test turns one bug on
//! for the calls it makes on its own thread (`with_bug`); without the
//! feature `has` is always false and the compiler removes the branches.
//! Never enable the feature in a server build.

/// A recovery bug the crash tests must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalBug {
    /// Recovery finds the valid records but leaves a torn tail in place and
    /// appends after it (as a log opened in append mode would), so the
    /// next recovery finds damage followed by valid records.
    KeepTornTail,
    /// Recovery skips the fsync of the last segment, so records a killed
    /// process left in the page cache are reported durable without being so.
    SkipRecoveryFsync,
}

#[cfg(feature = "broken")]
thread_local! {
    static ACTIVE: std::cell::Cell<Option<WalBug>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with `bug` on for the logs this thread opens and uses.
#[cfg(feature = "broken")]
pub fn with_bug<T>(bug: WalBug, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<WalBug>);
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.with(|active| active.set(self.0));
        }
    }
    let _reset = Reset(ACTIVE.with(|active| active.replace(Some(bug))));
    f()
}

/// Whether `bug` is on for this thread.
#[inline]
pub(crate) fn has(_bug: WalBug) -> bool {
    #[cfg(feature = "broken")]
    {
        ACTIVE.with(|active| active.get() == Some(_bug))
    }
    #[cfg(not(feature = "broken"))]
    {
        false
    }
}
