//! The writer lock: at most one `refrate run` or `refrate vacuum` works on a warehouse at a time.
//!
//! The lock is a sequence of generations, `_lock/v<N>.json`, each created with
//! `PutMode::Create` exactly once, like manifest versions. The highest generation is the lock.
//! It names its holder (host, pid, run id, start, heartbeat); the holder rewrites the
//! heartbeat while it works and marks the generation released at the end. To take the lock,
//! a run reads the highest generation `N`: if it is released, or stale — its pid is dead on
//! this host, or its heartbeat is older than [`LockPolicy::stale_after`] — the run creates
//! `N+1`. Of several runs doing so at once, exactly one creates it; the others see a live
//! holder. The newest generation is never deleted (a new holder deletes only older ones), so
//! numbers are never reused by a run that looked earlier: such a run would create an older
//! number, find a newer one above it and stop. A run killed at any step leaves at worst a
//! generation with a dead holder, which the next run supersedes.
//!
//! Correctness of the data never depends on the lock: manifest versions are published
//! create-only. The lock gives a clear message and avoids wasted work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Manifest, Warehouse, WarehouseError};

/// The folder of lock generations, relative to the warehouse root.
pub(super) const LOCK_DIR: &str = "_lock";

/// Object name of lock generation `n` (zero-padded, so names sort by generation).
pub fn lock_object_name(n: u64) -> String {
    format!("{LOCK_DIR}/v{n:020}.json")
}

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub run_id: String,
    pub command: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Set when the holder finished: the generation no longer holds the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`refrate {}` run {} (host {}, pid {}, started {}, last heartbeat {})",
            self.command,
            self.run_id,
            self.host,
            self.pid,
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.heartbeat_at.format("%Y-%m-%d %H:%M:%S UTC"),
        )
    }
}

/// When a lock counts as abandoned, and how often a holder proves it is alive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockPolicy {
    /// A lock whose heartbeat is older than this is stale, whatever host holds it.
    pub stale_after: Duration,
    /// How often the holder rewrites its heartbeat (well below `stale_after`).
    pub heartbeat_every: Duration,
}

impl Default for LockPolicy {
    fn default() -> Self {
        LockPolicy { stale_after: Duration::from_secs(10 * 60), heartbeat_every: Duration::from_secs(30) }
    }
}

/// Why a stale lock was superseded.
#[derive(Debug, Clone)]
pub(crate) struct Takeover {
    pub previous: LockInfo,
    pub reason: String,
}

/// A held lock. Call [`WriterLock::release`] at the end, also after an error; a process that
/// dies without releasing leaves a lock that the next run recognises as stale.
#[derive(Debug)]
pub(crate) struct WriterLock {
    warehouse: Warehouse,
    generation: u64,
    info: LockInfo,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
    pub takeover: Option<Takeover>,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// This machine's name, as recorded in the lock.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates or truncates.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if end > 0 {
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "unknown-host".to_string()
}

/// Whether `pid` names a live process on this host. A zombie counts as alive until reaped.
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Why `holder` is stale, or `None` if it must be assumed alive.
pub(crate) fn stale_reason(holder: &LockInfo, policy: &LockPolicy, now: DateTime<Utc>) -> Option<String> {
    if holder.host == host_name() && !pid_alive(holder.pid) {
        return Some(format!("process {} on {} is gone", holder.pid, holder.host));
    }
    let silent = now.signed_duration_since(holder.heartbeat_at);
    let limit = chrono::Duration::from_std(policy.stale_after).unwrap_or(chrono::Duration::MAX);
    // A heartbeat from the future (a host with a wrong clock, or a forged lock) would block
    // every run for good: far enough ahead, it proves nothing.
    if -silent > limit {
        return Some(format!("its heartbeat is {} s in the future (a wrong clock?)", -silent.num_seconds()));
    }
    (silent > limit)
        .then(|| format!("no heartbeat for {} s (limit {} s)", silent.num_seconds(), limit.num_seconds()))
}

impl Warehouse {
    /// The highest lock generation and its content (0 and `None` if there is none).
    async fn lock_head(&self) -> Result<(u64, Option<LockInfo>), WarehouseError> {
        let objects: Vec<_> =
            self.store.list(Some(&self.path(LOCK_DIR))).try_collect().await.map_err(self.store_err())?;
        let Some(n) = objects.iter().filter_map(|o| Manifest::version_of(o.location.as_ref())).max() else {
            return Ok((0, None));
        };
        let name = lock_object_name(n);
        let bytes = match self.store.get(&self.path(&name)).await {
            Ok(result) => result.bytes().await.map_err(self.store_err())?,
            // Swept or never fully there: treat as no holder, the create-only put decides.
            Err(object_store::Error::NotFound { .. }) => return Ok((n, None)),
            Err(source) => return Err(WarehouseError::Store { location: self.location.clone(), source }),
        };
        let info = serde_json::from_slice(&bytes).map_err(|e| WarehouseError::Invalid {
            location: self.location.clone(),
            message: format!("{name} is not a readable lock ({e}); if no refrate is running, delete it"),
        })?;
        Ok((n, Some(info)))
    }

    /// The current lock holder, if the lock is held (possibly by a stale holder).
    pub(crate) async fn lock_holder(&self) -> Result<Option<LockInfo>, WarehouseError> {
        Ok(self.lock_head().await?.1.filter(|h| h.released_at.is_none()))
    }

    /// The newest lock generation (0 if the lock was never taken).
    pub(crate) async fn lock_generation(&self) -> Result<u64, WarehouseError> {
        Ok(self.lock_head().await?.0)
    }

    async fn create_only(&self, relative: &str, body: Vec<u8>) -> Result<bool, WarehouseError> {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&self.path(relative), PutPayload::from(body), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(WarehouseError::Store { location: self.location.clone(), source }),
        }
    }

    /// Takes the writer lock for `run_id`, superseding a stale holder. Fails with
    /// [`WarehouseError::Locked`] naming the holder if another run is alive.
    pub(crate) async fn lock(
        &self,
        run_id: &str,
        command: &str,
        policy: LockPolicy,
    ) -> Result<WriterLock, WarehouseError> {
        let now = Utc::now();
        let info = LockInfo {
            host: host_name(),
            pid: std::process::id(),
            run_id: run_id.to_string(),
            command: command.to_string(),
            started_at: now,
            heartbeat_at: now,
            released_at: None,
        };
        let body = serde_json::to_vec_pretty(&info).expect("lock serialises");
        for _ in 0..5 {
            let (n, head) = self.lock_head().await?;
            let mut takeover = None;
            if let Some(holder) = head.filter(|h| h.released_at.is_none()) {
                match stale_reason(&holder, &policy, Utc::now()) {
                    None => {
                        return Err(WarehouseError::Locked {
                            location: self.location.clone(),
                            holder: holder.to_string(),
                        });
                    }
                    Some(reason) => takeover = Some(Takeover { previous: holder, reason }),
                }
            }
            if self.create_only(&lock_object_name(n + 1), body.clone()).await? {
                // A run delayed since its read could create a generation that was already
                // superseded and swept: only the newest generation is the lock.
                let (newest, holder) = self.lock_head().await?;
                if newest != n + 1 {
                    return Err(WarehouseError::Locked {
                        location: self.location.clone(),
                        holder: holder.map(|h| h.to_string()).unwrap_or_else(|| "another run".into()),
                    });
                }
                self.delete_lock_generations_below(n + 1).await;
                let lost = Arc::new(AtomicBool::new(false));
                let heartbeat =
                    tokio::spawn(heartbeat(self.clone(), n + 1, info.clone(), policy, lost.clone()));
                return Ok(WriterLock {
                    warehouse: self.clone(),
                    generation: n + 1,
                    info,
                    lost,
                    heartbeat,
                    takeover,
                });
            }
            // Another run created generation n + 1 first: look at it.
        }
        Err(WarehouseError::Locked {
            location: self.location.clone(),
            holder: "other runs that keep taking the lock at the same moment".to_string(),
        })
    }

    /// `refrate unlock`: ends the current holder's lock by publishing a released generation
    /// after it. Returns the holder it ended (`None`: the lock was free). Only for a lock the
    /// operator knows is abandoned: the run holding it notices at its next heartbeat and
    /// publishes nothing.
    pub(crate) async fn unlock(&self) -> Result<Option<LockInfo>, WarehouseError> {
        let (n, head) = self.lock_head().await?;
        let Some(holder) = head.filter(|h| h.released_at.is_none()) else {
            return Ok(None);
        };
        let now = Utc::now();
        let released = LockInfo {
            host: host_name(),
            pid: std::process::id(),
            run_id: "unlock".to_string(),
            command: "unlock".to_string(),
            started_at: now,
            heartbeat_at: now,
            released_at: Some(now),
        };
        let body = serde_json::to_vec_pretty(&released).expect("lock serialises");
        if !self.create_only(&lock_object_name(n + 1), body).await? {
            return Err(WarehouseError::Locked {
                location: self.location.clone(),
                holder: "a run that took the lock just now".to_string(),
            });
        }
        self.delete_lock_generations_below(n + 1).await;
        Ok(Some(holder))
    }

    /// Deletes superseded generations, so `_lock/` holds one object. Best effort: the sweep
    /// removes any left. Safe because the newest generation is never deleted, and a run that
    /// re-creates a deleted number finds a newer one and stops.
    async fn delete_lock_generations_below(&self, generation: u64) {
        let Ok(objects) = self.store.list(Some(&self.path(LOCK_DIR))).try_collect::<Vec<_>>().await else {
            return;
        };
        for o in objects {
            if Manifest::version_of(o.location.as_ref()).is_some_and(|n| n < generation) {
                let _ = self.store.delete(&o.location).await;
            }
        }
    }

    /// Deletes an object; a missing one is fine.
    pub(crate) async fn delete(&self, relative: &str) -> Result<(), WarehouseError> {
        match self.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(WarehouseError::Store { location: self.location.clone(), source }),
        }
    }
}

/// Rewrites the heartbeat while the lock is ours; notes it if another run superseded it.
async fn heartbeat(
    warehouse: Warehouse,
    generation: u64,
    mut info: LockInfo,
    policy: LockPolicy,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(policy.heartbeat_every).await;
        match warehouse.lock_generation().await {
            Ok(n) if n == generation => {}
            Ok(_) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed read is retried at the next beat; the stale limit leaves room for that.
            Err(_) => continue,
        }
        info.heartbeat_at = Utc::now();
        let body = serde_json::to_vec_pretty(&info).expect("lock serialises");
        let path = warehouse.path(&lock_object_name(generation));
        let _ = warehouse.store.put(&path, PutPayload::from(body)).await;
    }
}

impl WriterLock {
    #[cfg(test)]
    pub(crate) fn holder(&self) -> &LockInfo {
        &self.info
    }

    /// Fails if another run has superseded this run's lock (this run was thought dead).
    pub(crate) fn check(&self) -> Result<(), WarehouseError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(WarehouseError::Locked {
                location: self.warehouse.location.clone(),
                holder: "another run that took over this run's lock while it was silent".to_string(),
            });
        }
        Ok(())
    }

    /// Stops the heartbeat and marks the generation released. Rewriting a generation that
    /// another run has superseded is harmless: only the highest one counts.
    pub(crate) async fn release(mut self) -> Result<(), WarehouseError> {
        self.heartbeat.abort();
        self.info.released_at = Some(Utc::now());
        let body = serde_json::to_vec_pretty(&self.info).expect("lock serialises");
        self.warehouse.put(&lock_object_name(self.generation), body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32, heartbeat_age: i64) -> LockInfo {
        let now = Utc::now();
        LockInfo {
            host: host.to_string(),
            pid,
            run_id: "r1".into(),
            command: "run".into(),
            started_at: now,
            heartbeat_at: now - chrono::Duration::seconds(heartbeat_age),
            released_at: None,
        }
    }

    fn memory_warehouse() -> Warehouse {
        let store = Arc::new(object_store::memory::InMemory::new());
        Warehouse::with_store(store, "wh".into(), url::Url::parse("memory:///").unwrap(), "memory")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_many_runs_taking_over_one_stale_lock_exactly_one_wins() {
        for round in 0..20 {
            let wh = memory_warehouse();
            let stale = serde_json::to_vec(&holder("elsewhere", 1, 3600)).unwrap();
            wh.put(&lock_object_name(1), stale).await.unwrap();
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let wh = wh.clone();
                    tokio::spawn(
                        async move { wh.lock(&format!("run-{i}"), "run", LockPolicy::default()).await },
                    )
                })
                .collect();
            let mut winners = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    Ok(lock) => winners.push(lock),
                    Err(WarehouseError::Locked { .. }) => {}
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}");
            let winner = winners.pop().unwrap();
            assert_eq!(wh.lock_holder().await.unwrap().unwrap().run_id, winner.holder().run_id);
            assert!(winner.takeover.as_ref().is_some_and(|t| t.previous.run_id == "r1"), "round {round}");
            winner.release().await.unwrap();
            assert_eq!(wh.lock_holder().await.unwrap(), None);
            // Free again: the next run takes it without a takeover, as generation 3.
            let next = wh.lock("run-next", "run", LockPolicy::default()).await.unwrap();
            assert!(next.takeover.is_none());
            assert_eq!(wh.lock_generation().await.unwrap(), 3);
        }
    }

    #[tokio::test]
    async fn a_run_whose_lock_was_superseded_notices_it_and_leaves_the_new_lock_alone() {
        let wh = memory_warehouse();
        let policy =
            LockPolicy { stale_after: Duration::from_secs(600), heartbeat_every: Duration::from_millis(20) };
        let lock = wh.lock("slow-run", "run", policy).await.unwrap();
        lock.check().unwrap();
        // Another run decided this one was dead and took generation 2.
        wh.put(&lock_object_name(2), serde_json::to_vec(&holder("elsewhere", 1, 0)).unwrap()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(matches!(lock.check(), Err(WarehouseError::Locked { .. })));
        lock.release().await.unwrap();
        assert_eq!(wh.lock_holder().await.unwrap().unwrap().run_id, "r1");
    }

    #[test]
    fn a_live_holder_is_not_stale_and_a_dead_or_silent_one_is() {
        let policy = LockPolicy::default();
        let now = Utc::now();
        // This process, fresh heartbeat: alive.
        assert_eq!(stale_reason(&holder(&host_name(), std::process::id(), 5), &policy, now), None);
        // Another host, fresh heartbeat: assumed alive (its pid means nothing here).
        assert_eq!(stale_reason(&holder("elsewhere", 1, 5), &policy, now), None);
        // Another host, silent for an hour: stale.
        assert!(stale_reason(&holder("elsewhere", 1, 3600), &policy, now).unwrap().contains("no heartbeat"));
        // This host, a reaped child's pid: stale at once.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(stale_reason(&holder(&host_name(), pid, 5), &policy, now).unwrap().contains("is gone"));
    }
}
