//! The ingest half of `refrate run`: find input files, skip those already ingested, stream the
//! new ones into partition files, and publish a new manifest version.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{AppError, Refusal};
use crate::config::{Config, Input, InputKind};
use crate::ingest::{
    self, Event, FileStats, OverlapOutcome, OverlapPolicy, Pseudonymizer, Reject, RejectReason,
    RelatedInstitutions, ReportedRow,
};
use crate::regimes::Count;
use crate::warehouse::schema::{self, month_of};
use crate::warehouse::{
    BlockingReader, Commit, FinishedMonth, Manifest, PartitionEntry, PartitionSink, RunSummary, SourceEntry,
    StagedMonth, Warehouse, WriterLock,
};

/// One input file matched by a config glob.
#[derive(Debug, Clone)]
pub(super) struct SourceFile {
    pub path: PathBuf,
    /// The name recorded in the warehouse: the path relative to the config folder.
    pub name: String,
    pub input: Input,
    /// Size and modification time when found, if settled ([`FileStat::settled`]).
    pub stat: Option<crate::warehouse::FileStat>,
}

/// Expands the config's globs, in a stable order. A glob that matches nothing stops the
/// command (a moved folder or a typo would otherwise give a green run on no new data),
/// unless the input is marked `optional: true`, which is only noted.
pub(super) fn expand_inputs(cfg: &Config, quiet: bool) -> Result<Vec<SourceFile>, AppError> {
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    for input in &cfg.inputs {
        let paths = glob::glob(&input.pattern)
            .map_err(|source| AppError::Glob { pattern: input.pattern_as_written.clone(), source })?;
        let mut matched: Vec<PathBuf> = Vec::new();
        for entry in paths {
            let path = entry.map_err(|source| AppError::GlobEntry {
                pattern: input.pattern_as_written.clone(),
                source,
            })?;
            if path.is_symlink() && !cfg.follow_symlinks {
                return Err(AppError::refused(
                    Refusal::Symlink,
                    format!(
                        "inputs: {} is a symbolic link; refrate reads only regular files unless the config says \
                     follow_symlinks: true (copy the export instead, or allow links if they are yours)",
                        cfg.display_path(&path)
                    ),
                ));
            }
            if path.is_file() {
                matched.push(path);
            }
        }
        matched.sort();
        if matched.is_empty() {
            if !input.optional {
                return Err(AppError::refused(
                    Refusal::NoMatch,
                    format!(
                        "config {}: inputs: {:?} matches no file (looked for {}); check the path, which is relative to \
                     the config's folder, or mark the input optional: true if it may be absent",
                        cfg.path.display(),
                        input.pattern_as_written,
                        input.pattern
                    ),
                ));
            }
            if !quiet {
                eprintln!("refrate: note: optional input {:?} matches no file", input.pattern_as_written);
            }
        }
        for path in matched {
            if seen.insert(path.clone()) {
                let stat = crate::warehouse::FileStat::settled(&path);
                files.push(SourceFile { name: cfg.display_path(&path), path, input: input.clone(), stat });
            }
        }
    }
    Ok(files)
}

pub(super) fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What a matched file is to the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Ingested under this name with this content: skipped silently (`(unchanged)`).
    Unchanged,
    /// A new name whose content was ingested under another name (a copy such as `x (1).csv`,
    /// a moved folder) or comes twice in this run: skipped, with this note naming the earlier
    /// file.
    Copy(String),
    /// New or changed content: ingested.
    New,
}

/// Classifies the matched files. A changed file (known name, other content) is ingested even if
/// its content equals another source's: its own earlier rows must go.
///
/// The SHA-256 is the identity of a file's content; it is computed here only where it decides
/// something. An event file that shares its size with no stored source and with no other file
/// of this run can be neither unchanged nor a copy: it is hashed while it is read (`None`), so
/// that its bytes are read once ([`recorded_sha256`]).
pub(super) fn classify(
    current: &Manifest,
    files: Vec<SourceFile>,
) -> Result<Vec<(SourceFile, Option<String>, Delivery)>, AppError> {
    let stored: HashMap<&str, &str> =
        current.sources.iter().map(|(name, s)| (s.sha256.as_str(), name.as_str())).collect();
    // Same name, size and modification time as when it was ingested: not read again.
    let same_stat =
        |f: &SourceFile| current.sources.get(&f.name).is_some_and(|s| s.stat.is_some() && s.stat == f.stat);
    // The sizes a file's content could share: every stored source's (unknown if one has no
    // recorded size) and those of this run's other files.
    let stored_sizes: Option<HashSet<u64>> =
        current.sources.values().map(|s| s.stat.map(|st| st.size)).collect();
    let mut run_sizes: HashMap<u64, usize> = HashMap::new();
    for size in files.iter().filter(|f| !same_stat(f)).filter_map(|f| f.stat.map(|st| st.size)) {
        *run_sizes.entry(size).or_default() += 1;
    }
    let hashed_while_read = |f: &SourceFile| {
        let Some(size) = f.stat.map(|st| st.size) else { return false };
        f.input.kind == InputKind::Events
            && run_sizes.get(&size) == Some(&1)
            && match current.sources.get(&f.name) {
                Some(s) => s.stat.is_some_and(|st| st.size != size),
                None => stored_sizes.as_ref().is_some_and(|sizes| !sizes.contains(&size)),
            }
    };
    let mut this_run: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for f in files {
        if same_stat(&f) {
            let sha = current.sources.get(&f.name).map(|s| s.sha256.clone());
            out.push((f, sha, Delivery::Unchanged));
            continue;
        }
        if hashed_while_read(&f) {
            out.push((f, None, Delivery::New));
            continue;
        }
        let sha = sha256_file(&f.path).map_err(AppError::io(format!("reading {}", f.name)))?;
        let delivery = match current.sources.get(&f.name) {
            Some(s) if s.sha256 == sha => Delivery::Unchanged,
            Some(_) => Delivery::New,
            None => match (stored.get(sha.as_str()), this_run.get(&sha)) {
                (Some(earlier), _) => {
                    Delivery::Copy(format!("{}: same content as {earlier} (already ingested)", f.name))
                }
                (None, Some(earlier)) => {
                    Delivery::Copy(format!("{}: same content as {earlier} (delivered in this run)", f.name))
                }
                (None, None) => Delivery::New,
            },
        };
        if delivery == Delivery::New {
            this_run.insert(sha.clone(), f.name.clone());
        }
        out.push((f, Some(sha), delivery));
    }
    Ok(out)
}

/// The SHA-256 an event file is recorded with: the one computed while it was read. A file
/// also hashed before ([`classify`]) must not have changed in between: it would be recorded
/// under a content that was not the one ingested.
fn recorded_sha256(name: &str, before: Option<&str>, stats: &FileStats) -> Result<String, AppError> {
    match before {
        Some(before) if before != stats.sha256 => Err(AppError::refused(
            Refusal::ChangedWhileRead,
            format!(
                "{name}: the file changed while it was read (SHA-256 {} before reading, {} after); \
                 nothing was published. Run again once the file is complete",
                &before[..12.min(before.len())],
                &stats.sha256[..12.min(stats.sha256.len())]
            ),
        )),
        _ => Ok(stats.sha256.clone()),
    }
}

/// The files whose content is not in the warehouse yet (see [`classify`]); copies get a note.
fn new_content(
    files: Vec<(SourceFile, Option<String>, Delivery)>,
    notes: &mut Vec<Note>,
) -> Vec<(SourceFile, Option<String>)> {
    let mut changed = Vec::new();
    for (f, sha, delivery) in files {
        match delivery {
            Delivery::Unchanged => {}
            Delivery::Copy(note) => {
                notes.push(Note { file: f.name.clone(), text: format!("{note}: skipped") })
            }
            Delivery::New => changed.push((f, sha)),
        }
    }
    changed
}

/// What the ingest half did.
pub(super) struct IngestOutcome {
    pub manifest: Manifest,
    pub published: bool,
    pub files_seen: usize,
    pub files_ingested: usize,
    pub rows_read: u64,
    pub rows_rejected: u64,
    /// Valid rows not stored again: identical rows of another file were there already.
    pub rows_already_present: u64,
    pub partitions_written: usize,
    /// Hospital-months that had data and now have none (an emptied file, `--allow-empty`).
    pub partitions_cleared: Vec<String>,
    /// What a user should know about the delivery (files skipped as copies, months replaced
    /// or completed by another file), one line each.
    pub notes: Vec<Note>,
    /// The event files read, as they would be stored.
    pub files: Vec<FileResult>,
    /// The reported-counts files read, with their rows.
    pub reported: Vec<(String, usize)>,
    /// What would stop `run`, when surveying (`validate`); a run stops at the first instead.
    pub stops: Vec<Stop>,
}

/// A line about the delivery of one file.
pub(super) struct Note {
    pub file: String,
    pub text: String,
}

/// Something that stops `run`, and the file it concerns (none for what concerns the run as a
/// whole, such as a month far after the stored data).
pub(super) struct Stop {
    pub file: Option<String>,
    pub error: AppError,
}

/// A run stops at the first problem; a survey collects them all.
struct Stops {
    survey: bool,
    found: Vec<Stop>,
}

impl Stops {
    /// `result` when running; when surveying, its error is kept and the ingest goes on.
    fn check(&mut self, file: Option<&str>, result: Result<(), AppError>) -> Result<(), AppError> {
        match result {
            Err(error) if self.survey => {
                self.found.push(Stop { file: file.map(str::to_string), error });
                Ok(())
            }
            other => other,
        }
    }
}

/// How `run` ingests.
pub(super) struct IngestOptions<'a> {
    pub run_id: &'a str,
    /// The run's writer lock, checked just before publishing: a run whose lock was taken over
    /// must not publish. Without one the ingest is a survey (`validate`): every file is read
    /// and judged exactly as `run` would, nothing is stored or published, and what would stop
    /// `run` is collected in [`IngestOutcome::stops`].
    pub lock: Option<&'a WriterLock>,
    pub overlap: OverlapPolicy,
    pub allow_empty: bool,
    pub progress: indicatif::ProgressBar,
}

/// One event file, read and judged.
pub(super) struct FileResult {
    pub name: String,
    sha256: String,
    stat: Option<crate::warehouse::FileStat>,
    pub stats: FileStats,
    pub rejects: Vec<Reject>,
    /// The hospitals with a valid row in it.
    pub hospitals: BTreeSet<String>,
    /// The partitions holding rows of this file.
    partitions: BTreeSet<String>,
    /// Rows already present, by the file that had them first.
    pub already_present_in: BTreeMap<String, u64>,
    /// Partitions this file replaced, with the sources it replaced.
    replaced: BTreeMap<String, Vec<String>>,
}

struct Ingested {
    files: Vec<FileResult>,
    /// By month.
    months: BTreeMap<String, FinishedMonth>,
    notes: Vec<Note>,
    stops: Vec<Stop>,
    /// The hospital-months that held stored rows of other sources, with those sources.
    carried: BTreeMap<String, BTreeSet<String>>,
}

/// Skips files already in the manifest (same name and content), ingests the others, and
/// publishes a new manifest version if anything changed.
pub(super) async fn ingest_and_publish(
    cfg: &Config,
    warehouse: &Warehouse,
    options: IngestOptions<'_>,
    current: Manifest,
    files: Vec<(SourceFile, Option<String>, Delivery)>,
    pseudonymizer: Option<Pseudonymizer>,
    related: Option<RelatedInstitutions>,
) -> Result<IngestOutcome, AppError> {
    let key_id = pseudonymizer.as_ref().map(Pseudonymizer::key_id);
    if let (Some(stored), Some(key_id)) = (&current.pseudonym_key_id, &key_id)
        && stored != key_id
    {
        return Err(AppError::refused(
            Refusal::OtherKey,
            format!(
                "the pseudonymisation key (id {key_id}) is not the one this warehouse was built with (id {stored}); \
                 duplicate detection and patient counts need one key. Use the original key, or start a new warehouse"
            ),
        ));
    }
    let files_seen = files.len();
    let survey = options.lock.is_none();
    let mut stops = Stops { survey, found: Vec::new() };
    let mut notes = Vec::new();
    let changed = new_content(files, &mut notes);
    // A warehouse whose counts or month sums are missing (written before manifest format 4 or
    // 5) or were made by other rules gets them from this run even when no input is new.
    let sums_stale = !survey && !crate::engine::sums_are_stored(&current);
    if changed.is_empty() && !sums_stale {
        return Ok(IngestOutcome {
            manifest: current,
            published: false,
            files_seen,
            files_ingested: 0,
            rows_read: 0,
            rows_rejected: 0,
            rows_already_present: 0,
            partitions_written: 0,
            partitions_cleared: Vec::new(),
            notes,
            files: Vec::new(),
            reported: Vec::new(),
            stops: Vec::new(),
        });
    }

    let (changed, changed_aggregates): (Vec<_>, Vec<_>) =
        changed.into_iter().partition(|(f, _)| f.input.kind == InputKind::Events);
    let reported = read_reported(&changed_aggregates, &mut stops)?;
    let stored_files = warehouse.blocking_reader(current.version);
    let base = current.clone();
    let max_ratio = cfg.max_reject_ratio;
    let allow_empty = options.allow_empty;
    let overlap = options.overlap;
    let progress = options.progress.clone();
    progress.set_length(changed.len() as u64);
    // A survey without the key still judges the files among themselves (a throwaway key
    // tells equal patient numbers as well as any), but not against stored rows.
    let (pseudonymizer, compares_stored) = match pseudonymizer {
        Some(p) => (Some(p), true),
        None if survey => {
            let throwaway: [u8; 32] = rand::random();
            (Some(Pseudonymizer::new(&throwaway).expect("32 random bytes are a valid key")), false)
        }
        None => (None, false),
    };
    let ingested = if changed.is_empty() {
        Ingested {
            files: Vec::new(),
            months: BTreeMap::new(),
            notes: Vec::new(),
            stops: Vec::new(),
            carried: BTreeMap::new(),
        }
    } else {
        let pseudonymizer = pseudonymizer.ok_or_else(|| AppError::Key(ingest::KeyError::Missing))?;
        tokio::task::spawn_blocking(move || {
            let limits = Limits { max_reject_ratio: max_ratio, allow_empty, overlap, survey };
            ingest_files(&stored_files, &base, &changed, &pseudonymizer, related.as_ref(), limits, &progress)
        })
        .await
        .map_err(AppError::Task)??
    };
    stops.found.extend(ingested.stops);
    if !compares_stored {
        for f in &ingested.files {
            stops.check(Some(&f.name), needs_the_key(f, &ingested.carried))?;
        }
    }

    let jump = check_month_jump(
        &current,
        ingested.files.iter().map(|f| (f.name.as_str(), &f.stats.months)),
        cfg.max_jump_months,
    );
    stops.check(None, jump)?;

    // Upload data files under fresh names; none is visible until the manifest names it.
    let mut commit = match options.lock {
        Some(lock) => Commit::begin(warehouse, &current, options.run_id, key_id, lock),
        None => Commit::rehearse(warehouse, &current, options.run_id, key_id),
    };
    options.progress.set_message("uploading");
    notes.extend(ingested.notes);
    commit.put_months(ingested.months).await?;
    let mut run = RunSummary::default();
    let (mut rows_read, mut rows_already_present) = (0, 0);
    for f in &ingested.files {
        rows_read += f.stats.rows_read;
        run.rows_rejected += f.stats.rows_rejected;
        run.rows_valid += f.stats.rows_valid;
        rows_already_present += f.stats.rows_already_present;
        let (rejects_file, rejects_digest) = if f.rejects.is_empty() {
            (None, None)
        } else {
            let (name, digest) = commit.put_rejects(&f.rejects).await?;
            (Some(name), Some(digest))
        };
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for r in &f.rejects {
            *by_reason.entry(r.reason.code().to_string()).or_default() += 1;
        }
        let entry = SourceEntry {
            sha256: f.sha256.clone(),
            kind: "events".into(),
            encoding: f.stats.encoding.clone(),
            rows_read: f.stats.rows_read,
            rows_valid: f.stats.rows_valid,
            rows_rejected: f.stats.rows_rejected,
            rows_already_present: f.stats.rows_already_present,
            already_present_in: f.already_present_in.clone(),
            replaced: f.replaced.clone(),
            check_digit_warnings: f.stats.check_digit_warnings,
            rejects_by_reason: by_reason,
            partitions: f.partitions.iter().cloned().collect(),
            rejects_file,
            rejects_digest,
            reported_file: None,
            reported_digest: None,
            run_id: options.run_id.to_string(),
            ingested_at: commit.now.clone(),
            stat: f.stat,
        };
        commit.record_source(&f.name, entry);
    }
    for (file, sha, rows) in &reported {
        let (name, digest) = commit.put_reported(rows, &file.name).await?;
        rows_read += rows.len() as u64;
        run.rows_valid += rows.len() as u64;
        let entry = SourceEntry {
            sha256: sha.clone(),
            kind: "aggregates".into(),
            encoding: file.input.format.encoding.name().to_string(),
            rows_read: rows.len() as u64,
            rows_valid: rows.len() as u64,
            rows_rejected: 0,
            rows_already_present: 0,
            already_present_in: BTreeMap::new(),
            replaced: BTreeMap::new(),
            check_digit_warnings: 0,
            rejects_by_reason: BTreeMap::new(),
            partitions: rows.iter().map(|r| r.period.key(&r.hospital_code)).collect(),
            rejects_file: None,
            rejects_digest: None,
            reported_file: Some(name),
            reported_digest: Some(digest),
            run_id: options.run_id.to_string(),
            ingested_at: commit.now.clone(),
            stat: file.stat,
        };
        commit.record_source(&file.name, entry);
    }
    let lines: HashMap<(String, String), u64> = reported
        .iter()
        .flat_map(|(f, _, rows)| {
            rows.iter().map(|r| ((f.name.clone(), r.period.key(&r.hospital_code)), r.line))
        })
        .collect();
    run.files_ingested = (ingested.files.len() + reported.len()) as u64;
    // Each partition's counts, from the files just stored, so reads of this version do not
    // aggregate its events again.
    let rules = crate::engine::counts_rules();
    let to_count = commit.files_to_count(&rules);
    if !to_count.is_empty() {
        options.progress.set_message("counting");
        let counts =
            crate::engine::Engine::count_partitions(warehouse, to_count.iter().map(String::as_str)).await?;
        commit.set_counts(&rules, counts);
        crate::memory::release_idle_memory().await;
    }
    // Each month's department and partner sums beside its events, so the pages of this version
    // sum the months instead of every event again.
    let rules = crate::engine::breakdowns_rules();
    let to_break_down = commit.months_to_break_down(&rules);
    if !to_break_down.is_empty() {
        options.progress.set_message("summing departments and partners");
        // A few whole months at a time, as many as make about BREAKDOWN_ROWS rows of sums at the
        // rows per hospital-month seen so far, the next summed while these are stored.
        let seen = SumsSeen::default();
        let pending: std::collections::VecDeque<_> = to_break_down.into_iter().collect();
        let groups = futures::stream::unfold(pending, |mut pending| {
            let limit = seen.group_limit();
            async move { next_month_group(&mut pending, limit).map(|group| (group, pending)) }
        });
        let mut sums = std::pin::pin!(
            groups
                .map(|(months, hospital_months)| async move {
                    let sums = crate::engine::Engine::break_down_months(warehouse, &months).await?;
                    Ok::<_, AppError>((months, hospital_months, sums))
                })
                .buffered(2)
        );
        while let Some(summed) = sums.next().await {
            let (months, hospital_months, mut sums) = summed?;
            seen.add(sums.values().flatten().map(|b| b.num_rows()).sum(), hospital_months);
            for (month, events) in months {
                let batches = sums.remove(&month).unwrap_or_default();
                commit.put_breakdowns(&month, events, &batches).await?;
            }
        }
        crate::memory::release_idle_memory().await;
    }
    let (partitions_written, partitions_cleared) =
        (commit.partitions_written, commit.partitions_cleared.clone());
    let rows_rejected = run.rows_rejected;
    // Nothing is published after SIGTERM/SIGINT, nor with two sources for one period.
    let next = commit
        .publish(run, |next| {
            stops.check(None, check_one_source_per_period(next, &lines))?;
            super::interrupt::check()
        })
        .await?;
    // Writing the manifest (13 MB of JSON at 700 hospitals x 36 months) is the last large step.
    crate::memory::release_idle_memory().await;
    Ok(IngestOutcome {
        manifest: next,
        published: !survey,
        files_seen,
        files_ingested: ingested.files.len() + reported.len(),
        rows_read,
        rows_rejected,
        rows_already_present,
        partitions_written,
        partitions_cleared,
        notes,
        files: ingested.files,
        reported: reported.iter().map(|(f, _, rows)| (f.name.clone(), rows.len())).collect(),
        stops: stops.found,
    })
}

/// Without the key, a file's rows of hospital-months that hold stored rows of other files
/// cannot be compared with them: whether they are already present, or differ, is not known.
/// (Rows are compared within a hospital-month only: other hospitals' rows of the month do not
/// matter.)
fn needs_the_key(file: &FileResult, carried: &BTreeMap<String, BTreeSet<String>>) -> Result<(), AppError> {
    let months: Vec<&str> =
        file.partitions.iter().filter(|m| carried.contains_key(*m)).map(String::as_str).collect();
    if months.is_empty() {
        return Ok(());
    }
    let stored: BTreeSet<&str> = months.iter().flat_map(|m| carried[*m].iter()).map(String::as_str).collect();
    Err(AppError::refused(
        Refusal::KeyNeeded,
        format!(
            "{}: its rows of {} cannot be compared with the rows stored for them (from {}) without the \
             pseudonymisation key, so whether they are already present or differ from them is not known; \
             set {} (or pseudonym_key_file in the config) and validate again",
            file.name,
            months.join(", "),
            stored.into_iter().collect::<Vec<_>>().join(", "),
            ingest::KEY_ENV_VAR
        ),
    ))
}

/// Refuses new months that leap past the end of the data: a new month more than `max_jump`
/// months after the month before it (stored or new) and after every stored month. One
/// mistyped year (`R8.5.2` for `R7.5.2`, still before today) must not become the latest month
/// and move the fiscal year that is checked. Gaps inside the data, and history loaded before
/// the stored months, are fine, and so is a catch-up delivery of several months in a row. A
/// first run has nothing to compare with (history often has gaps); the date window still
/// applies there.
///
/// `validate` applies it too, to the files it reads: it must stop where `run` stops.
pub(crate) fn check_month_jump<'a>(
    current: &Manifest,
    files: impl IntoIterator<Item = (&'a str, &'a BTreeSet<String>)>,
    max_jump: u32,
) -> Result<(), AppError> {
    let index = |m: &str| crate::periods::parse_month(m).map(|(y, mo)| i64::from(y) * 12 + i64::from(mo) - 1);
    let month = |i: i64| format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1);
    // Every month with data, and for new ones the first file that has it.
    let mut months: BTreeMap<i64, Option<&str>> =
        current.partitions.values().filter_map(|p| index(&p.month)).map(|i| (i, None)).collect();
    let stored = months.keys().next_back().copied();
    for (name, file_months) in files {
        for i in file_months.iter().filter_map(|m| index(m)) {
            months.entry(i).or_insert(Some(name));
        }
    }
    let mut previous: Option<i64> = None;
    for (&i, file) in &months {
        if let (Some(prev), Some(name)) = (previous, file)
            && i - prev > i64::from(max_jump)
            && stored.is_some_and(|s| i > s)
        {
            return Err(AppError::refused(
                Refusal::MonthJump,
                format!(
                    "{name} has rows in {}, {} months after the month before it with data ({}); a month so far \
                 ahead is usually a mistyped year, so nothing was published. Check that file's dates \
                 (`refrate validate` lists the months of each file); if the gap is real, raise \
                 dates.max_jump_months (now {max_jump}) in the config",
                    month(i),
                    i - prev,
                    month(prev)
                ),
            ));
        }
        previous = Some(i);
    }
    Ok(())
}

type Reported = Vec<(SourceFile, String, Vec<ReportedRow>)>;

/// Reads the changed reported-counts files (small; any bad row stops the run).
fn read_reported(files: &[(SourceFile, Option<String>)], stops: &mut Stops) -> Result<Reported, AppError> {
    let known: Vec<&str> = Count::ALL.iter().map(|c| c.name()).collect();
    let mut reported = Vec::new();
    for (f, sha) in files {
        // Hashed by `classify` (only event files are hashed while read).
        let sha = match sha {
            Some(sha) => sha.clone(),
            None => sha256_file(&f.path).map_err(AppError::io(format!("reading {}", f.name)))?,
        };
        match ingest::read_aggregates(&f.path, &f.name, &f.input.format, &known) {
            Ok(rows) => reported.push((f.clone(), sha, rows)),
            Err(e) => stops.check(Some(&f.name), Err(e.into()))?,
        }
    }
    Ok(reported)
}

/// A hospital-period comes from one source: event logs, or one row of reported counts. A
/// reported fiscal year also covers its twelve months.
fn check_one_source_per_period(
    next: &Manifest,
    lines: &HashMap<(String, String), u64>,
) -> Result<(), AppError> {
    let describe = |source: &str, key: &str| match lines.get(&(source.to_string(), key.to_string())) {
        Some(line) => format!("{source} line {line}"),
        None => source.to_string(),
    };
    // Who provides each hospital-month, and each reported hospital-year.
    let mut months: BTreeMap<String, String> = BTreeMap::new();
    for (key, p) in &next.partitions {
        months.insert(key.clone(), p.sources.first().cloned().unwrap_or_else(|| "event logs".into()));
    }
    let mut years: BTreeMap<String, String> = BTreeMap::new();
    for (name, source) in next.sources.iter().filter(|(_, s)| s.kind == "aggregates") {
        for key in &source.partitions {
            let (hospital, period) = key.split_once('/').unwrap_or((key, ""));
            let clash = if let Some(fy) = period.strip_prefix("FY") {
                let fy: i32 = fy.parse().unwrap_or(0);
                let in_year = crate::periods::months_of_fiscal_year(fy);
                in_year
                    .iter()
                    .find_map(|m| {
                        months.get(&format!("{hospital}/{m}")).map(|s| (s.clone(), format!("{hospital}/{m}")))
                    })
                    .or_else(|| years.get(key).map(|s| (s.clone(), key.clone())))
            } else {
                let fy = crate::periods::fiscal_year_of(period).unwrap_or(0);
                months.get(key).map(|s| (s.clone(), key.clone())).or_else(|| {
                    let y = format!("{hospital}/FY{fy}");
                    years.get(&y).map(|s| (s.clone(), y))
                })
            };
            if let Some((other, other_key)) = clash {
                return Err(AppError::refused(
                    Refusal::TwoSources,
                    format!(
                        "{} reports {key}, but {} already provides {other_key}; a hospital-period comes from one source only \
                     (event logs or one reported row): remove one of them",
                        describe(name, key),
                        describe(&other, &other_key)
                    ),
                ));
            }
            if period.starts_with("FY") {
                years.insert(key.clone(), name.clone());
            } else {
                months.insert(key.clone(), name.clone());
            }
        }
    }
    Ok(())
}

pub(super) use crate::warehouse::layout::new_run_id;

/// What stops an ingest.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_reject_ratio: f64,
    allow_empty: bool,
    overlap: OverlapPolicy,
    /// `validate`: collect what stops a run, and read on.
    survey: bool,
}

/// Rebuilds the months a run touches: rows of the changed files plus the rows other sources
/// contributed earlier, every hospital's, since a month is one file. The delivery rules
/// (already present, duplicates, overlaps) are applied per hospital-month when the months are
/// finished (see [`PartitionSink::finish`]).
struct Rebuild<'a> {
    /// The warehouse's stored files, read for this blocking thread.
    stored_files: &'a BlockingReader,
    /// The stored event files holding rows of each month (one from format 3, one per
    /// hospital-month before), each with its partitions.
    stored: BTreeMap<&'a str, Vec<Vec<(&'a str, &'a PartitionEntry)>>>,
    changed_names: BTreeSet<&'a str>,
    sink: PartitionSink,
    /// By month: what the delivery rules need of each row the sink holds, in the same order.
    spools: BTreeMap<String, ingest::RowSpool>,
    /// The month of the last row added, and its name (opened).
    last_month: Option<((i32, u32), String)>,
    /// The hospital-months that held rows of other sources, carried over, with those sources.
    carried: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Rebuild<'a> {
    fn new(
        stored_files: &'a BlockingReader,
        current: &'a Manifest,
        changed_names: BTreeSet<&'a str>,
    ) -> Self {
        let mut stored: BTreeMap<&str, Vec<Vec<(&str, &PartitionEntry)>>> = BTreeMap::new();
        for parts in current.event_files().into_values() {
            for month in parts.iter().map(|(_, p)| p.month.as_str()).collect::<BTreeSet<_>>() {
                stored.entry(month).or_default().push(parts.clone());
            }
        }
        Rebuild {
            stored_files,
            stored,
            changed_names,
            sink: PartitionSink::new(),
            spools: BTreeMap::new(),
            last_month: None,
            carried: BTreeMap::new(),
        }
    }

    fn staging(month: &str) -> impl FnOnce(datafusion::parquet::errors::ParquetError) -> AppError + '_ {
        move |source| AppError::Parquet { what: format!("staging month {month}"), source }
    }

    /// Opens a month, carrying over the rows of sources that are not being replaced. They
    /// come first, so a new row identical to one of them is the one "already present".
    fn open_month(&mut self, month: &str) -> Result<(), AppError> {
        if self.sink.contains(month) {
            return Ok(());
        }
        self.sink.open(month).map_err(Self::staging(month))?;
        let spool = ingest::RowSpool::new().map_err(AppError::io(format!("spooling the rows of {month}")))?;
        self.spools.insert(month.to_string(), spool);
        // The references only (they borrow the manifest, not `self`).
        let Some(files) = self.stored.get(month).cloned() else {
            return Ok(());
        };
        let expected = crate::periods::parse_month(month);
        let in_month = |date: chrono::NaiveDate| {
            use chrono::Datelike;
            expected == Some((date.year(), date.month()))
        };
        for parts in &files {
            // The hospital-months keeping rows of sources not being replaced, and those sources.
            let mut kept_any = false;
            for (key, p) in parts {
                let kept = p.sources.iter().filter(|s| !self.changed_names.contains(s.as_str()));
                let kept: BTreeSet<String> = kept.cloned().collect();
                if !kept.is_empty() {
                    kept_any = true;
                    self.carried.entry(key.to_string()).or_default().extend(kept);
                }
            }
            if !kept_any {
                continue;
            }
            // Read whole anyway, so checking its SHA-256 and schema costs nothing extra.
            let file = PartitionEntry::named_file(parts);
            let batches = self.stored_files.read_verified(&file)?;
            for batch in &batches {
                let events = schema::events_from_batch(batch).map_err(|problem| AppError::Partition {
                    key: file.feeds.clone(),
                    file: file.path.clone(),
                    problem,
                })?;
                for (event, source) in events {
                    if self.changed_names.contains(source.as_str()) {
                        continue;
                    }
                    if !in_month(event.event_date) {
                        return Err(AppError::Partition {
                            key: file.feeds.clone(),
                            file: file.path.clone(),
                            problem: format!(
                                "a row of {} (line {} of {source}) in a file of {month}",
                                month_of(event.event_date),
                                event.line
                            ),
                        });
                    }
                    self.push(month, &event, &source)?;
                }
            }
        }
        Ok(())
    }

    /// Adds a valid event of `file`.
    fn add(&mut self, event: &Event, file: &str) -> Result<(), AppError> {
        use chrono::Datelike;
        // Rows come month by month: the month's name is built when it changes.
        let ym = (event.event_date.year(), event.event_date.month());
        let month = match self.last_month.take() {
            Some((last, name)) if last == ym => (last, name),
            _ => {
                let name = month_of(event.event_date);
                self.open_month(&name)?;
                (ym, name)
            }
        };
        let added = self.push(&month.1, event, file);
        self.last_month = Some(month);
        added
    }

    /// Stores a row of `month` (opened), and spools what the delivery rules need of it.
    fn push(&mut self, month: &str, event: &Event, source: &str) -> Result<(), AppError> {
        self.sink.push(month, event, source).map_err(Self::staging(month))?;
        let spool = self.spools.get_mut(month).expect("a month's spool is made when it is opened");
        // The message is made on failure only: this runs for every row.
        spool
            .push(&ingest::EventFields::of(event), source, event.line, event.byte_offset)
            .map_err(|e| AppError::io(format!("spooling the rows of {month}"))(e))
    }
}

/// Reads the changed files on a blocking thread. For each hospital-month they touch, the rows
/// of other sources already in the warehouse are carried over, so the partition is rebuilt
/// whole: a corrected file replaces its own earlier rows and nothing else.
#[allow(clippy::too_many_arguments)]
fn ingest_files(
    stored_files: &BlockingReader,
    current: &Manifest,
    changed: &[(SourceFile, Option<String>)],
    pseudonymizer: &Pseudonymizer,
    related: Option<&RelatedInstitutions>,
    limits: Limits,
    progress: &indicatif::ProgressBar,
) -> Result<Ingested, AppError> {
    let Limits { max_reject_ratio, allow_empty, overlap, survey } = limits;
    let mut stops = Stops { survey, found: Vec::new() };
    let mut rebuild =
        Rebuild::new(stored_files, current, changed.iter().map(|(f, _)| f.name.as_str()).collect());
    let mut results = Vec::new();
    // Two threads: this one stores the rows (Parquet encoding and compression) while a reader
    // parses, checks and pseudonymises the next ones, the files in run order.
    let (sender, parsed) = std::sync::mpsc::sync_channel::<Parsed>(PARSED_CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| -> Result<(), AppError> {
        std::thread::Builder::new()
            .name("refrate-reader".into())
            .spawn_scoped(scope, move || read_in_order(changed, pseudonymizer, related, &sender, survey))
            .map_err(AppError::io("starting the reading thread".to_string()))?;
        let parsed = parsed; // dropped on return, which stops the reader at its next send
        let mut files = changed.iter();
        let mut file = files.next();
        let mut events_of_file = 0u64;
        let mut hospitals: BTreeSet<String> = BTreeSet::new();
        for message in &parsed {
            let (source, sha) = file.expect("the reader sends nothing after the last file");
            match message {
                Parsed::Events(chunk) => {
                    if events_of_file == 0 {
                        progress.set_message(source.name.clone());
                    }
                    super::interrupt::check()?;
                    events_of_file += chunk.len() as u64;
                    let mut previous: Option<&str> = None;
                    for event in &chunk {
                        rebuild.add(event, &source.name)?;
                        // Exports come sorted by hospital: the set is looked up on a change only.
                        if previous != Some(event.hospital_code.as_str()) {
                            if !hospitals.contains(&event.hospital_code) {
                                hospitals.insert(event.hospital_code.clone());
                            }
                            previous = Some(&event.hospital_code);
                        }
                    }
                }
                Parsed::File(result) => {
                    progress.inc(1);
                    file = files.next();
                    let events = std::mem::take(&mut events_of_file);
                    let hospitals = std::mem::take(&mut hospitals);
                    let (stats, mut rejects) = match *result {
                        Ok(read) => read,
                        Err(error) => {
                            let error =
                                AppError::Ingest { file: source.name.clone(), error: Box::new(error) };
                            stops.check(Some(&source.name), Err(error))?;
                            continue;
                        }
                    };
                    rejects.sort_by_key(|r| r.line);
                    let sha256 = match recorded_sha256(&source.name, sha.as_deref(), &stats) {
                        Ok(sha256) => sha256,
                        Err(changed) => {
                            stops.check(Some(&source.name), Err(changed))?;
                            stats.sha256.clone()
                        }
                    };
                    // Early, before the rows are judged (a survey checks once, after).
                    if !survey {
                        check_reject_ratio(&source.name, &stats, &rejects, max_reject_ratio)?;
                    }
                    if events == 0 && !allow_empty {
                        stops.check(Some(&source.name), check_not_emptied(current, &source.name, &stats))?;
                    }
                    results.push(FileResult {
                        name: source.name.clone(),
                        sha256,
                        stat: source.stat,
                        stats,
                        rejects,
                        hospitals,
                        partitions: BTreeSet::new(),
                        already_present_in: BTreeMap::new(),
                        replaced: BTreeMap::new(),
                    });
                }
            }
        }
        Ok(())
    })?;
    // Partitions a changed file used to feed but feeds no longer are rebuilt without it.
    for (file, _) in changed {
        if let Some(old) = current.sources.get(&file.name) {
            for key in &old.partitions {
                let month = key.split_once('/').map_or(key.as_str(), |(_, m)| m);
                rebuild.open_month(month)?;
            }
        }
    }
    let Rebuild { sink, mut spools, changed_names, carried, .. } = rebuild;
    let staged =
        sink.finish().map_err(|source| AppError::Parquet { what: "finishing month files".into(), source })?;
    let staged: Vec<(StagedMonth, ingest::RowSpool)> = staged
        .into_iter()
        .map(|month| {
            let spool = spools.remove(&month.month).expect("every staged month has its spool");
            (month, spool)
        })
        .collect();
    let finished = judge_months(staged, |name| changed_names.contains(name), overlap)?;
    check_overlaps(&finished.overlaps, &mut stops)?;
    let mut notes = Vec::new();
    for o in finished.overlaps.iter().filter(|o| o.outcome == Some(OverlapOutcome::Replaced)) {
        let text = format!(
            "{} replaces {} (was {}; overlap: replace): {} row(s) in common, {} added, {} of the earlier rows gone",
            o.file,
            o.partition,
            o.others.join(", "),
            o.shared,
            o.added,
            o.lacking
        );
        notes.push(Note { file: o.file.clone(), text });
        if let Some(r) = results.iter_mut().find(|r| r.name == o.file) {
            r.replaced.insert(o.partition.clone(), o.others.clone());
        }
    }
    for c in &finished.complements {
        let text = format!(
            "{} adds rows to {}, which holds rows of {}; no row in common, so they are taken as another part of that month",
            c.file,
            c.partition,
            c.others.join(", ")
        );
        notes.push(Note { file: c.file.clone(), text });
    }
    for d in finished.duplicates {
        let Some(result) = results.iter_mut().find(|r| r.name == d.source_file) else {
            // Carried-over rows come first and were unique when they were published.
            continue;
        };
        if !d.within_one_file() {
            result.stats.rows_already_present += 1;
            *result.already_present_in.entry(d.first_source_file).or_default() += 1;
            continue;
        }
        result.stats.rows_valid -= 1;
        result.stats.rows_rejected += 1;
        result.rejects.push(Reject {
            file: d.source_file.clone(),
            line: d.line,
            byte_offset: d.byte_offset,
            field: None,
            value: None,
            reason: RejectReason::Duplicate,
            detail: format!("exact duplicate of line {} of this file", d.first_line),
        });
    }
    for (key, p) in finished.months.values().flat_map(|m| &m.partitions) {
        for source in &p.sources {
            if let Some(r) = results.iter_mut().find(|r| &r.name == source) {
                r.partitions.insert(key.clone());
            }
        }
    }
    for r in &mut results {
        r.rejects.sort_by_key(|x| x.line);
        // Again, now that repeats within each file are known (rows already present are not
        // rejects and do not count).
        stops.check(Some(&r.name), check_reject_ratio(&r.name, &r.stats, &r.rejects, max_reject_ratio))?;
    }
    Ok(Ingested { files: results, months: finished.months, notes, stops: stops.found, carried })
}

/// What the delivery rules found in the months of a run, and the months to store.
#[derive(Default)]
struct Judged {
    /// By month.
    months: BTreeMap<String, FinishedMonth>,
    duplicates: Vec<ingest::Duplicate>,
    overlaps: Vec<ingest::PartitionOverlap>,
    complements: Vec<ingest::PartitionOverlap>,
}

/// Applies the delivery rules to each hospital-month of each staged month, on every core,
/// reading back what the month's spool holds of each row (two rows can only be the same
/// record within one hospital-month, so memory is bounded by the largest month, a fingerprint
/// per row, not by the input): rows already present from another file and repeats within one
/// file are dropped (the first stays), and a newer file that differs from the stored rows is
/// refused or replaces the hospital-month, per `policy`. `is_new` tells the files of this run
/// from those whose rows were carried over. Findings are merged in month order.
fn judge_months(
    staged: Vec<(StagedMonth, ingest::RowSpool)>,
    is_new: impl Fn(&str) -> bool + Sync,
    policy: OverlapPolicy,
) -> Result<Judged, AppError> {
    let judged = crate::parallel::in_parallel(staged, |(staged, spool)| {
        let month = staged.month.clone();
        let rows = spool.into_rows().map_err(AppError::io(format!("reading back the rows of {month}")))?;
        let judged = rows.judge(&month, &is_new, policy);
        let parquet = |source| AppError::Parquet { what: format!("judging the rows of {month}"), source };
        let finished = staged.keep(&judged.keep, judged.partitions).map_err(parquet)?;
        Ok::<_, AppError>((month, finished, judged.duplicates, judged.overlaps, judged.complements))
    });
    let mut done = Judged::default();
    for result in judged {
        let (month, finished, duplicates, overlaps, complements) = result?;
        done.months.insert(month, finished);
        done.duplicates.extend(duplicates);
        done.overlaps.extend(overlaps);
        done.complements.extend(complements);
    }
    Ok(done)
}

/// Rows of department and partner sums made at once, held sorted with the next group's: a
/// few tens of MB. All months at once held half a million rows at 700 hospitals × 36 months
/// (40 partners), the peak of that run; one month at a time cost 36 small queries there. With
/// 800 partners a hospital-month has about 600 rows, not 55, so the hospital-months of a group
/// follow the rows seen (docs/BENCHMARKS.md, 2026-12-07, morning).
const BREAKDOWN_ROWS: usize = 200_000;

/// At most this many hospital-months at once, whatever the rows seen.
const BREAKDOWN_HOSPITAL_MONTHS: usize = 4_000;

/// The sums' rows and hospital-months seen so far, which size the next group of months.
#[derive(Debug, Default)]
struct SumsSeen {
    rows: std::sync::atomic::AtomicUsize,
    hospital_months: std::sync::atomic::AtomicUsize,
}

impl SumsSeen {
    fn add(&self, rows: usize, hospital_months: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.rows.fetch_add(rows, Relaxed);
        self.hospital_months.fetch_add(hospital_months, Relaxed);
    }

    /// Hospital-months for the next group: one month while nothing is seen, then as many as
    /// make [`BREAKDOWN_ROWS`] rows at the rows per hospital-month seen.
    fn group_limit(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let (rows, hospital_months) = (self.rows.load(Relaxed), self.hospital_months.load(Relaxed));
        if hospital_months == 0 {
            return 1;
        }
        let per_hospital_month = rows.div_ceil(hospital_months).max(1);
        (BREAKDOWN_ROWS / per_hospital_month).clamp(1, BREAKDOWN_HOSPITAL_MONTHS)
    }
}

/// Months summed at once, each with its event files.
type MonthGroup = Vec<(String, Vec<String>)>;

/// The next consecutive months (each with its files and number of hospital-months) of at most
/// `limit` hospital-months together (a month holding more is a group alone), and their
/// hospital-months. None when no month is left.
fn next_month_group(
    pending: &mut std::collections::VecDeque<(String, (Vec<String>, usize))>,
    limit: usize,
) -> Option<(MonthGroup, usize)> {
    let mut group = Vec::new();
    let mut size = 0;
    while let Some((_, (_, hospital_months))) = pending.front() {
        if !group.is_empty() && size + hospital_months > limit {
            break;
        }
        let (month, (files, hospital_months)) = pending.pop_front().expect("looked at above");
        size += hospital_months;
        group.push((month, files));
    }
    (!group.is_empty()).then_some((group, size))
}

/// Parsed rows sent to the storing thread at a time, and chunks in flight: memory stays a few
/// chunks of rows whatever the input's size.
const PARSED_CHUNK: usize = 4096;
const PARSED_CHUNKS_IN_FLIGHT: usize = 8;

/// What the reading thread sends: a file's valid rows in chunks, then its statistics and
/// rejects (or why it could not be read, after which it sends nothing more).
enum Parsed {
    Events(Vec<Event>),
    File(Box<Result<(FileStats, Vec<Reject>), ingest::IngestError>>),
}

/// Reads `changed` in order on the reading thread. Stops when the storing thread has gone
/// (it stopped on an error, which it reports), and after a file that cannot be read unless
/// `read_on` (a survey).
fn read_in_order(
    changed: &[(SourceFile, Option<String>)],
    pseudonymizer: &Pseudonymizer,
    related: Option<&RelatedInstitutions>,
    sender: &std::sync::mpsc::SyncSender<Parsed>,
    read_on: bool,
) {
    for (file_index, (file, _)) in changed.iter().enumerate() {
        let mut rejects: Vec<Reject> = Vec::new();
        let mut chunk = Vec::with_capacity(PARSED_CHUNK);
        let mut ctx = ingest::IngestContext::new(pseudonymizer, related, file_index);
        let result = ingest::read_file(
            &file.path,
            &file.name,
            &file.input.format,
            &mut ctx,
            |event: Event| -> Result<(), ()> {
                chunk.push(event);
                if chunk.len() == PARSED_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(PARSED_CHUNK));
                    sender.send(Parsed::Events(full)).map_err(|_| ())?;
                }
                Ok(())
            },
            |reject| rejects.push(reject),
        );
        let result = match result {
            Ok(stats) => Ok((stats, rejects)),
            Err(ingest::ReadError::Stopped(())) => return,
            Err(ingest::ReadError::Ingest(error)) => Err(error),
        };
        if !chunk.is_empty() && sender.send(Parsed::Events(chunk)).is_err() {
            return;
        }
        let failed = result.is_err();
        if sender.send(Parsed::File(Box::new(result))).is_err() || (failed && !read_on) {
            return;
        }
    }
}

/// A changed file with no valid row that fed hospital-months stops the run (unless
/// `--allow-empty`): an empty export is usually a failed one.
fn check_not_emptied(current: &Manifest, name: &str, stats: &FileStats) -> Result<(), AppError> {
    let Some(old) = current.sources.get(name).filter(|old| !old.partitions.is_empty()) else {
        return Ok(());
    };
    Err(AppError::refused(
        Refusal::EmptiedFile,
        format!(
            "{}: this changed file holds no valid row ({} read), but it fed {} hospital-month(s) ({}); \
         nothing was published. An empty export is usually a failed one: check it. If those months \
         really have no events, run again with --allow-empty to clear them",
            name,
            stats.rows_read,
            old.partitions.len(),
            old.partitions.join(", ")
        ),
    ))
}

/// A newer file that differs from what a hospital-month holds stops the run unless
/// `overlap: replace` let it replace the month; the message names both files. A survey keeps
/// each refusal with its file.
fn check_overlaps(overlaps: &[ingest::PartitionOverlap], stops: &mut Stops) -> Result<(), AppError> {
    let refused: Vec<(&str, String)> =
        overlaps.iter().filter_map(|o| refusal(o).map(|why| (o.file.as_str(), why))).collect();
    if stops.survey {
        for (file, why) in refused {
            stops.check(Some(file), Err(AppError::refused(Refusal::DifferingExport, why)))?;
        }
        return Ok(());
    }
    if refused.is_empty() {
        return Ok(());
    }
    let why: Vec<String> = refused.into_iter().map(|(_, why)| why).collect();
    Err(AppError::refused(Refusal::DifferingExport, format!("{}; nothing was published", why.join("; "))))
}

/// Why an overlap stops the run, or `None` if it does not (a replacement, a complement).
fn refusal(o: &ingest::PartitionOverlap) -> Option<String> {
    let what = format!(
        "{} gives rows for {} that differ from those of {} ({} row(s) in common, {} of theirs missing on the days it covers, {} new)",
        o.file,
        o.partition,
        o.others.join(", "),
        o.shared,
        o.lacking,
        o.added
    );
    match o.outcome? {
        OverlapOutcome::Replaced => None,
        OverlapOutcome::Refused => Some(format!(
            "{what}: a correction or a partial re-export? Keep the file you mean and remove the other, \
             or set `overlap: replace` in the config to let the newer file replace that hospital-month"
        )),
        OverlapOutcome::RefusedSameRun => Some(format!(
            "{what}; both are delivered in the same run, so which is the newer cannot be told: \
             remove the one you do not mean (or deliver the newer in a later run with `overlap: replace`)"
        )),
    }
}

/// A file with too many rejects stops the run: something is wrong with the export as a whole.
fn check_reject_ratio(
    name: &str,
    stats: &FileStats,
    rejects: &[Reject],
    max_reject_ratio: f64,
) -> Result<(), AppError> {
    let Some(ratio) = stats.reject_share_above(max_reject_ratio) else {
        return Ok(());
    };
    Err(AppError::refused(
        Refusal::TooManyRejects,
        format!(
            "{}: {} of {} rows rejected ({:.1} %), more than max_reject_ratio {:.1} %; nothing was published. \
         First rejects: {}. Fix the file or raise max_reject_ratio in the config",
            name,
            stats.rows_rejected,
            stats.rows_read,
            ratio * 100.0,
            max_reject_ratio * 100.0,
            rejects
                .iter()
                .take(3)
                .map(|x| format!("line {} {} ({})", x.line, x.reason.code(), x.detail))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_summed_in_groups_of_whole_months_up_to_the_limit() {
        let months: BTreeMap<String, (Vec<String>, usize)> =
            [("2025-04", 700), ("2025-05", 700), ("2025-06", 2_000), ("2025-07", 5_000), ("2025-08", 10)]
                .into_iter()
                .map(|(m, n)| (m.to_string(), (vec![format!("events/month={m}/part.parquet")], n)))
                .collect();
        let groups = |limit: usize| -> Vec<(MonthGroup, usize)> {
            let mut pending = months.clone().into_iter().collect();
            std::iter::from_fn(|| next_month_group(&mut pending, limit)).collect()
        };
        let names = |groups: Vec<(MonthGroup, usize)>| -> Vec<Vec<String>> {
            groups.into_iter().map(|(g, _)| g.into_iter().map(|(m, _)| m).collect()).collect()
        };
        assert_eq!(
            names(groups(1_400)),
            [vec!["2025-04", "2025-05"], vec!["2025-06"], vec!["2025-07"], vec!["2025-08"]]
        );
        assert_eq!(
            names(groups(4_000)),
            [vec!["2025-04", "2025-05", "2025-06"], vec!["2025-07"], vec!["2025-08"]]
        );
        assert_eq!(groups(4_000).iter().map(|(_, n)| *n).collect::<Vec<_>>(), [3_400, 5_000, 10]);
        let all = groups(usize::MAX);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1, 8_410);
        assert_eq!(
            all[0].0[3],
            ("2025-07".to_string(), vec!["events/month=2025-07/part.parquet".to_string()])
        );
        assert!(next_month_group(&mut Default::default(), 4_000).is_none());
    }

    /// One month while no sums are seen; then as many hospital-months as make about
    /// BREAKDOWN_ROWS rows at the rows seen per hospital-month, within 1 and
    /// BREAKDOWN_HOSPITAL_MONTHS.
    #[test]
    fn groups_of_months_follow_the_rows_their_sums_have() {
        let seen = SumsSeen::default();
        assert_eq!(seen.group_limit(), 1);
        seen.add(700 * 55, 700); // 40 partners
        assert_eq!(seen.group_limit(), BREAKDOWN_ROWS / 55);
        let many = SumsSeen::default();
        many.add(100 * 615, 100); // 800 partners
        assert_eq!(many.group_limit(), BREAKDOWN_ROWS / 615);
        let few = SumsSeen::default();
        few.add(10, 100);
        assert_eq!(few.group_limit(), BREAKDOWN_HOSPITAL_MONTHS);
        let huge = SumsSeen::default();
        huge.add(10 * BREAKDOWN_ROWS, 1);
        assert_eq!(huge.group_limit(), 1);
    }

    #[test]
    fn a_file_that_changed_while_it_was_read_is_refused_not_recorded() {
        let read = FileStats { sha256: "b".repeat(64), ..FileStats::default() };
        assert_eq!(recorded_sha256("inputs/x.csv", None, &read).unwrap(), "b".repeat(64));
        assert_eq!(recorded_sha256("inputs/x.csv", Some(&"b".repeat(64)), &read).unwrap(), "b".repeat(64));
        match recorded_sha256("inputs/x.csv", Some(&"a".repeat(64)), &read) {
            Err(AppError::Refused { kind: Refusal::ChangedWhileRead, message }) => {
                assert!(message.starts_with("inputs/x.csv: the file changed while it was read"), "{message}");
                assert!(message.contains("aaaaaaaaaaaa before reading, bbbbbbbbbbbb after"), "{message}");
            }
            other => panic!("not refused: {other:?}"),
        }
    }
}
