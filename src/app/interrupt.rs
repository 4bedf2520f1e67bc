//! SIGTERM and SIGINT during `run` and `vacuum`: stop at the next safe point, publish nothing
//! after the signal, release the lock, say so. A second signal ends the process at once (the
//! lock is then stale and taken over by the next run, as after a kill).

use std::sync::atomic::{AtomicBool, Ordering};

use super::AppError;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Starts listening for SIGTERM and SIGINT (inside the tokio runtime).
pub(super) fn install() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        // Without handlers the default action stays: the process ends, as after a kill.
        return;
    };
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("refrate: {name} again: stopping at once");
                std::process::exit(130);
            }
            eprintln!(
                "refrate: {name} received: stopping at the next safe point (send it again to stop at once)"
            );
        }
    });
}

/// Fails once a signal has arrived; called before every step that publishes or writes.
pub(super) fn check() -> Result<(), AppError> {
    if INTERRUPTED.load(Ordering::SeqCst) { Err(AppError::Interrupted) } else { Ok(()) }
}
