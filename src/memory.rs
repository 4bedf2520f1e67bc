//! Memory the allocator holds for threads that are idle.
//!
//! The binary allocates with mimalloc (`src/main.rs`). Each thread keeps the pages it freed
//! until it allocates again; a runtime worker or a blocking thread that ran a large query and
//! went idle holds that memory while the run goes on. At 700 hospitals × 36 months the threads
//! held about 60 MiB that way after the ingest's counting and summing, on top of 20 MB in use
//! (docs/BENCHMARKS.md, 2026-12-07, morning). [`release_idle_memory`] has every thread give it
//! back after such a step. Without mimalloc as the allocator (the test binary) it does nothing
//! that matters: the calls find empty heaps.

use std::time::Duration;

/// Threads for blocking work (file reads, the ingest); the binary's runtime has this many.
pub const MAX_BLOCKING_THREADS: usize = 4;

/// How long each release holds its thread, so that the next one lands on another.
const HOLD: Duration = Duration::from_millis(1);

/// Has each worker of the current runtime, each blocking thread and the calling thread return
/// the free memory of its allocator heap to the OS. Call between steps, when no query runs:
/// each worker is held for a millisecond. A thread that takes none of the releases (a worker
/// busy elsewhere) keeps its memory until its next one; nothing else depends on it.
pub(crate) async fn release_idle_memory() {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let mut releases = Vec::with_capacity(2 * workers + MAX_BLOCKING_THREADS);
    for _ in 0..2 * workers {
        releases.push(tokio::spawn(async { release_and_hold() }));
    }
    for _ in 0..MAX_BLOCKING_THREADS {
        releases.push(tokio::task::spawn_blocking(release_and_hold));
    }
    for release in releases {
        // A release that failed (the runtime shutting down) released nothing; that is all.
        let _ = release.await;
    }
    collect_this_thread();
}

fn release_and_hold() {
    collect_this_thread();
    std::thread::sleep(HOLD);
}

fn collect_this_thread() {
    // SAFETY: `mi_collect` frees and purges the calling thread's unused pages; it takes no
    // pointer and touches no memory in use.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[cfg(test)]
mod tests {
    /// It returns on either kind of runtime, with more releases than threads, and again at
    /// once (nothing waits for a thread that took none).
    #[test]
    fn returns_on_every_kind_of_runtime() {
        for runtime in [
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        ] {
            runtime.block_on(async {
                super::release_idle_memory().await;
                super::release_idle_memory().await;
            });
        }
    }
}
