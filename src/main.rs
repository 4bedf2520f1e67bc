//! The `refrate` binary: parse arguments, call the library, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options as numbered in its `mimalloc.h` (v3, the version `libmimalloc-sys` builds).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator's options before anything is allocated (see [`set_allocator_options`]).
/// The standard library allocates before `main` (the main thread's handle), and mimalloc
/// creates its first arena then, with the options it has at that moment: set in `main`, they
/// applied only to later arenas, and a run peaked 30-40 MiB higher than with the same options
/// given as environment variables (docs/BENCHMARKS.md, 2026-12-06, night).
#[cfg(any(target_os = "linux", target_os = "macos"))]
#[used]
#[cfg_attr(target_os = "linux", unsafe(link_section = ".init_array"))]
#[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__mod_init_func"))]
static SET_ALLOCATOR_OPTIONS: extern "C" fn() = set_allocator_options;

unsafe extern "C" {
    /// The C library's `getenv`: `std::env` allocates, which nothing may do before the options
    /// are set.
    fn getenv(name: *const std::ffi::c_char) -> *mut std::ffi::c_char;
}

/// Arenas are committed as they are used: with mimalloc's defaults `rates` peaked at 1.2 GiB
/// where the system allocator needs 0.3. Freed memory goes back to the OS after 10 ms: at once
/// (0) cost a run 5-13 % of its time in page zeroing and TLB flushes for 0-10 % less peak
/// memory (docs/BENCHMARKS.md, 2026-12-06). An operator's own settings (mimalloc's environment
/// variables) are left as they are.
extern "C" fn set_allocator_options() {
    for (option, variable, value) in [
        (MI_OPTION_ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (MI_OPTION_PURGE_DELAY, c"MIMALLOC_PURGE_DELAY", 10),
    ] {
        // SAFETY: `getenv` reads a NUL-terminated name and returns a pointer only compared
        // with null; setting an option only stores a value the allocator reads later.
        if unsafe { getenv(variable.as_ptr()) }.is_null() {
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}

fn main() -> ExitCode {
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    set_allocator_options();
    let cli = refrate::cli::Cli::parse();
    let lang = refrate::cli::Lang::resolve(cli.lang);
    // A few blocking threads, not tokio's 512: every local file read of DataFusion and
    // `object_store` runs on one, and each thread that ever ran keeps allocator pages of its
    // own. A run at 700 hospitals x 36 months started 49 of them, and runs peaked 15-40 %
    // higher with them (docs/BENCHMARKS.md, 2026-12-06). Only the ingest thread waits on
    // other blocking work (its reads of stored files), so two would be enough to progress.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(refrate::memory::MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("refrate: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(refrate::app::main(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        // The reader of stdout went away (`refrate rates | head`): it has what it wanted.
        Err(err) if err.is_closed_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            // Messages quote file names and values from the input: no control character of
            // theirs reaches the terminal or the cron mail as such.
            let escape = |e: &dyn std::fmt::Display| refrate::escape_controls(&e.to_string());
            if lang == refrate::cli::Lang::Ja && err.message(lang) != err.to_string() {
                // The Japanese text of an input-file error stands for the chain: it names the
                // file, line and what to do.
                let text = err.message(lang);
                for line in text.lines() {
                    let prefix = if line.starts_with("  ") { "" } else { "refrate: エラー: " };
                    eprintln!("{prefix}{}", escape(&line));
                }
                return ExitCode::from(2);
            }
            let (error, caused_by) =
                if lang == refrate::cli::Lang::Ja { ("エラー", "原因") } else { ("error", "caused by") };
            eprintln!("refrate: {error}: {}", escape(&err));
            // A cause whose text a message already quotes is not printed again.
            let mut said = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  {caused_by}: {}", escape(cause));
                    said.push_str(&text);
                }
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}
