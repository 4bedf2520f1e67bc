//! The writer lock: at most one `refrate run` or `refrate vacuum` works on a warehouse at a time.
//!
//! The lock is one object, `_lock/writer.json`, created with `PutMode::Create` and naming its
//! holder (host, pid, run id, start, heartbeat). The holder rewrites the heartbeat while it
//! works and deletes the object at the end. A lock whose holder is gone — its pid is dead on
//! this host, or its heartbeat is older than [`LockPolicy::stale_after`] — is taken over.
//!
//! Two runs may find the same stale lock at once. Only the one that creates the create-only
//! marker `_lock/takeover-<stale run id>` may delete it; the other sees the marker (or the
//! winner's new lock) and stops. Correctness of the data never depends on the lock: manifest
//! versions are published create-only. The lock gives a clear message and avoids wasted work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Warehouse, WarehouseError};

/// The lock object, relative to the warehouse root.
pub const LOCK_OBJECT: &str = "_lock/writer.json";
/// Prefix of the create-only takeover markers.
pub(crate) const TAKEOVER_PREFIX: &str = "_lock/takeover-";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub run_id: String,
    pub command: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
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
pub struct LockPolicy {
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

/// Why a stale lock was taken over.
#[derive(Debug, Clone)]
pub struct Takeover {
    pub previous: LockInfo,
    pub reason: String,
}

/// A held lock. Call [`WriterLock::release`] at the end, also after an error; a process that
/// dies without releasing leaves a lock that the next run recognises as stale.
#[derive(Debug)]
pub struct WriterLock {
    warehouse: Warehouse,
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
pub fn stale_reason(holder: &LockInfo, policy: &LockPolicy, now: DateTime<Utc>) -> Option<String> {
    if holder.host == host_name() && !pid_alive(holder.pid) {
        return Some(format!("process {} on {} is gone", holder.pid, holder.host));
    }
    let silent = now.signed_duration_since(holder.heartbeat_at);
    let limit = chrono::Duration::from_std(policy.stale_after).unwrap_or(chrono::Duration::MAX);
    (silent > limit)
        .then(|| format!("no heartbeat for {} s (limit {} s)", silent.num_seconds(), limit.num_seconds()))
}

impl Warehouse {
    /// The current lock holder, if any.
    pub async fn lock_holder(&self) -> Result<Option<LockInfo>, WarehouseError> {
        match self.store.get(&self.path(LOCK_OBJECT)).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(self.store_err())?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| WarehouseError::Invalid {
                    location: self.location.clone(),
                    message: format!(
                        "{LOCK_OBJECT} is not a readable lock ({e}); if no refrate is running, delete it"
                    ),
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(WarehouseError::Store { location: self.location.clone(), source }),
        }
    }

    async fn create_only(&self, relative: &str, body: Vec<u8>) -> Result<bool, WarehouseError> {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&self.path(relative), PutPayload::from(body), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(WarehouseError::Store { location: self.location.clone(), source }),
        }
    }

    /// Takes the writer lock for `run_id`, taking over a stale one. Fails with
    /// [`WarehouseError::Locked`] naming the holder if another run is alive.
    pub async fn lock(
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
        };
        let body = serde_json::to_vec_pretty(&info).expect("lock serialises");
        let mut takeover = None;
        let mut last_holder = None;
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            if self.create_only(LOCK_OBJECT, body.clone()).await? {
                let lost = Arc::new(AtomicBool::new(false));
                let heartbeat = tokio::spawn(heartbeat(self.clone(), info.clone(), policy, lost.clone()));
                return Ok(WriterLock { warehouse: self.clone(), info, lost, heartbeat, takeover });
            }
            let Some(holder) = self.lock_holder().await? else {
                continue; // released between our create and our read
            };
            let Some(reason) = stale_reason(&holder, &policy, Utc::now()) else {
                return Err(WarehouseError::Locked {
                    location: self.location.clone(),
                    holder: holder.to_string(),
                });
            };
            // Only the run that creates the marker for this stale holder may remove its lock.
            let marker = format!("{TAKEOVER_PREFIX}{}", holder.run_id);
            if self.create_only(&marker, body.clone()).await? {
                if self.lock_holder().await?.is_some_and(|h| h.run_id == holder.run_id) {
                    self.delete(LOCK_OBJECT).await?;
                }
                takeover = Some(Takeover { previous: holder.clone(), reason });
            }
            last_holder = Some(holder);
        }
        Err(WarehouseError::Locked {
            location: self.location.clone(),
            holder: match last_holder {
                Some(h) => format!("{h}, whose stale lock another run is taking over"),
                None => "another run".to_string(),
            },
        })
    }

    /// Deletes an object; a missing one is fine.
    pub async fn delete(&self, relative: &str) -> Result<(), WarehouseError> {
        match self.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(WarehouseError::Store { location: self.location.clone(), source }),
        }
    }
}

/// Rewrites the heartbeat while the lock is ours; notes it if another run took it over.
async fn heartbeat(warehouse: Warehouse, mut info: LockInfo, policy: LockPolicy, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(policy.heartbeat_every).await;
        match warehouse.lock_holder().await {
            Ok(Some(holder)) if holder.run_id == info.run_id => {}
            Ok(_) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed read is retried at the next beat; the stale limit leaves room for that.
            Err(_) => continue,
        }
        info.heartbeat_at = Utc::now();
        let body = serde_json::to_vec_pretty(&info).expect("lock serialises");
        let _ = warehouse.store.put(&warehouse.path(LOCK_OBJECT), PutPayload::from(body)).await;
    }
}

impl WriterLock {
    pub fn holder(&self) -> &LockInfo {
        &self.info
    }

    /// Fails if another run has taken the lock over (this run was thought dead).
    pub fn check(&self) -> Result<(), WarehouseError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(WarehouseError::Locked {
                location: self.warehouse.location.clone(),
                holder: "another run that took over this run's lock while it was silent".to_string(),
            });
        }
        Ok(())
    }

    /// Stops the heartbeat and deletes the lock if it is still ours.
    pub async fn release(self) -> Result<(), WarehouseError> {
        self.heartbeat.abort();
        if self.warehouse.lock_holder().await?.is_some_and(|h| h.run_id == self.info.run_id) {
            self.warehouse.delete(LOCK_OBJECT).await?;
        }
        Ok(())
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
            wh.put(LOCK_OBJECT, stale).await.unwrap();
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
            // One run removed the stale lock (the winner, or a run that then lost the race
            // to create the new one); the marker says who.
            assert!(wh.get(&format!("{TAKEOVER_PREFIX}r1")).await.is_ok(), "round {round}");
            winner.release().await.unwrap();
            assert_eq!(wh.lock_holder().await.unwrap(), None);
            // Free again: the next run takes it without a takeover.
            let next = wh.lock("run-next", "run", LockPolicy::default()).await.unwrap();
            assert!(next.takeover.is_none());
        }
    }

    #[tokio::test]
    async fn a_run_whose_lock_was_taken_over_notices_it() {
        let wh = memory_warehouse();
        let policy =
            LockPolicy { stale_after: Duration::from_secs(600), heartbeat_every: Duration::from_millis(20) };
        let lock = wh.lock("slow-run", "run", policy).await.unwrap();
        lock.check().unwrap();
        // Another run decided this one was dead and replaced its lock.
        wh.put(LOCK_OBJECT, serde_json::to_vec(&holder("elsewhere", 1, 0)).unwrap()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(matches!(lock.check(), Err(WarehouseError::Locked { .. })));
        // Releasing does not delete the other run's lock.
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
