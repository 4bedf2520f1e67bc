//! The warehouse: Parquet files plus a versioned manifest, in a folder or an object store.
//!
//! Owns the layout (`events/month=…/part-<run>.parquet`, `rejects/…`, `_manifest/v….json`),
//! writing Parquet, the commit of a run (`commit.rs`: the next manifest from what it stored),
//! reading and publishing manifests. Publishing is one
//! create-only `put` of the next manifest version, so readers see either the old state or the
//! new one, never a mix, and two writers cannot both publish the same version. This module
//! does not parse input files or compute rates.

mod commit;
mod integrity;
pub(crate) mod layout;
mod lock;
mod manifest;
pub(crate) mod schema;
mod sweep;
#[cfg(test)]
pub(crate) mod testing;
mod writer;

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

pub(crate) use commit::{Commit, RunSummary};
pub(crate) use integrity::{BlockingReader, DamageReport, Depth};
pub(crate) use lock::{LockInfo, LockPolicy, WriterLock, stale_reason};
/// For the end-to-end tests (`refrate::testing`).
pub use lock::{host_name, lock_object_name};
pub(crate) use manifest::{
    BreakdownEntry, FORMAT, FileDigest, FileKind, FileStat, Manifest, NamedFile, PartitionEntry,
    READABLE_FORMATS, RunEntry, SourceEntry,
};
pub(crate) use sweep::{SweepPolicy, SweepReport};
/// For the end-to-end tests (`refrate::testing`).
pub use writer::read_parquet_bytes;
pub(crate) use writer::{FinishedMonth, PartitionSink, StagedMonth, WrittenFile, write_batches};

/// A warehouse problem; the message names the location.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse {location}: {source}")]
    Store { location: String, source: object_store::Error },
    #[error("warehouse {location}: {message}")]
    Invalid { location: String, message: String },
    #[error(
        "warehouse {location}: version {version} was published by another run while this one was working; nothing of this run was published — run again"
    )]
    Conflict { location: String, version: u64 },
    #[error(
        "warehouse {location} is locked by {holder}; this run did nothing. Try again when it has finished (a lock whose process is gone is taken over automatically)"
    )]
    Locked { location: String, holder: String },
    #[error("warehouse {location}: cannot write Parquet {file}: {source}")]
    Parquet { location: String, file: String, source: datafusion::parquet::errors::ParquetError },
    #[error("warehouse {location}: {context}: {source}")]
    Io { location: String, context: String, source: std::io::Error },
    /// Files a manifest names are missing or not as published.
    #[error("warehouse {location}: {report}")]
    Damaged { location: String, report: DamageReport },
    #[error(
        "warehouse {location} holds data files ({example}, …) but no manifest in _manifest/: which files are \
         current and which pseudonymisation key built them is lost, so it is not treated as a new warehouse. \
         Restore _manifest/ from a backup; or, if every input file is still at hand, move the warehouse folder \
         away and `refrate run` again to rebuild it from the inputs"
    )]
    NoManifest { location: String, example: String },
    #[error(
        "warehouse {location}: {manifest} names {file:?} for {feeds}, which is not inside the warehouse's data \
         folders: {reason}. The manifest was edited or damaged; nothing was read. Restore it from a backup"
    )]
    ForeignPath { location: String, manifest: String, file: String, feeds: String, reason: String },
}

/// An opened warehouse location.
#[derive(Debug, Clone)]
pub(crate) struct Warehouse {
    store: Arc<dyn ObjectStore>,
    /// Prefix of every object of this warehouse inside `store`.
    root: StorePath,
    /// URL of the store's root (`file:///`, `s3://bucket/`), for registering it with DataFusion.
    store_url: Url,
    /// How users wrote it, for messages.
    location: String,
    /// The folder, for a local warehouse (its staging files are swept directly).
    local_folder: Option<std::path::PathBuf>,
    /// Files larger than this are uploaded in parts of this size.
    part_size: usize,
}

/// Part size of multipart uploads (S3 needs at least 5 MiB per part but the last).
const PART_SIZE: usize = 16 * 1024 * 1024;

/// Only the `AWS_*` variables configure an S3 store: a stray `REGION` or `BUCKET` in the
/// environment of a cron job must not.
fn store_options_from_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with("AWS_"))
}

impl Warehouse {
    /// Opens a folder (created if missing) or an object store URL.
    pub(crate) fn open(location: &str) -> Result<Warehouse, WarehouseError> {
        let invalid = |message: String| WarehouseError::Invalid { location: location.to_string(), message };
        if location.contains("://") && !location.starts_with("file://") {
            let url = Url::parse(location).map_err(|e| invalid(format!("not a URL: {e}")))?;
            let (store, root) = object_store::parse_url_opts(&url, store_options_from_env())
                .map_err(|source| WarehouseError::Store { location: location.to_string(), source })?;
            let mut store_url = url.clone();
            store_url.set_path("/");
            return Ok(Warehouse::with_store(Arc::from(store), root, store_url, location));
        }
        let folder = match location.strip_prefix("file://") {
            Some(path) => std::path::PathBuf::from(path),
            None => std::path::PathBuf::from(location),
        };
        std::fs::create_dir_all(&folder).map_err(|source| WarehouseError::Io {
            location: location.to_string(),
            context: "cannot create the warehouse folder".into(),
            source,
        })?;
        let folder = folder.canonicalize().map_err(|source| WarehouseError::Io {
            location: location.to_string(),
            context: "cannot resolve the warehouse folder".into(),
            source,
        })?;
        let root = StorePath::from_absolute_path(&folder)
            .map_err(|e| invalid(format!("not a usable folder path: {e}")))?;
        let store = Arc::new(LocalFileSystem::new());
        let mut warehouse = Warehouse::with_store(
            store,
            root,
            Url::parse("file:///").expect("static URL"),
            &folder.display().to_string(),
        );
        warehouse.local_folder = Some(folder);
        Ok(warehouse)
    }

    /// A warehouse at `root` inside a store built by the caller (an embedding program, or a
    /// test wrapping a real store). `store_url` is where DataFusion finds `store`.
    pub(crate) fn with_store(
        store: Arc<dyn ObjectStore>,
        root: StorePath,
        store_url: Url,
        location: &str,
    ) -> Warehouse {
        Warehouse {
            store,
            root,
            store_url,
            location: location.to_string(),
            local_folder: None,
            part_size: PART_SIZE,
        }
    }

    /// Sets the multipart part size (tests use a small one to exercise multipart uploads).
    #[cfg(test)]
    pub(crate) fn with_part_size(mut self, bytes: usize) -> Warehouse {
        self.part_size = bytes.max(1);
        self
    }

    /// Opens a warehouse for reading: a missing local folder is an error, not created.
    /// An empty warehouse in memory, where none exists yet: `validate` reads nothing from it
    /// and writes nothing to it.
    pub(crate) fn nothing_yet(location: &str) -> Warehouse {
        let url = Url::parse("memory:///").expect("a valid URL");
        let store = Arc::new(object_store::memory::InMemory::new());
        Warehouse::with_store(store, StorePath::default(), url, location)
    }

    pub(crate) fn open_existing(location: &str) -> Result<Warehouse, WarehouseError> {
        let is_local = !location.contains("://") || location.starts_with("file://");
        let folder = location.strip_prefix("file://").unwrap_or(location);
        if is_local && !std::path::Path::new(folder).is_dir() {
            return Err(WarehouseError::Invalid {
                location: location.to_string(),
                message: "no warehouse here yet; run `refrate run` first".into(),
            });
        }
        Warehouse::open(location)
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    pub(crate) fn store_url(&self) -> &Url {
        &self.store_url
    }

    /// The full object path of a file given relative to the warehouse root.
    pub(crate) fn path(&self, relative: &str) -> StorePath {
        let mut path = self.root.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    /// A URL DataFusion can read the relative file at.
    pub(crate) fn url_of(&self, relative: &str) -> String {
        let base = self.store_url.as_str().trim_end_matches('/');
        format!("{base}/{}", self.path(relative))
    }

    fn store_err(&self) -> impl Fn(object_store::Error) -> WarehouseError + '_ {
        move |source| WarehouseError::Store { location: self.location.clone(), source }
    }

    /// The highest published manifest version, or 0 for an empty warehouse.
    pub(crate) async fn latest_version(&self) -> Result<u64, WarehouseError> {
        Ok(self.published_version().await?.unwrap_or(0))
    }

    /// The highest manifest version present; `None` when `_manifest/` holds no version at all
    /// (not even the empty version 0 a first run writes before any data file).
    async fn published_version(&self) -> Result<Option<u64>, WarehouseError> {
        let prefix = self.path("_manifest");
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(self.store_err())?;
        Ok(objects.iter().filter_map(|o| Manifest::version_of(o.location.as_ref())).max())
    }

    /// The current manifest (an empty one for a new warehouse). A warehouse with data files
    /// but no manifest at all is refused ([`WarehouseError::NoManifest`]): its manifests were
    /// lost, it is not new.
    pub(crate) async fn current(&self) -> Result<Manifest, WarehouseError> {
        match self.published_version().await? {
            None => {
                self.refuse_data_without_manifest().await?;
                Ok(Manifest::empty())
            }
            Some(0) => Ok(Manifest::empty()),
            Some(version) => self.manifest(version).await,
        }
    }

    /// The current manifest for a writer: as [`Warehouse::current`], and on a new warehouse
    /// the empty version 0 is published first, before any data file is written. Data files
    /// left by a first run killed before it published are then not mistaken for a warehouse
    /// whose manifests were lost.
    pub(crate) async fn current_for_writer(&self) -> Result<Manifest, WarehouseError> {
        if self.published_version().await?.is_none() {
            self.refuse_data_without_manifest().await?;
            let mut genesis = Manifest::empty();
            genesis.created_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            genesis.refrate_version = env!("CARGO_PKG_VERSION").to_string();
            match self.publish(&genesis).await {
                // Another writer created it first: the same empty state.
                Ok(()) | Err(WarehouseError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.current().await
    }

    async fn refuse_data_without_manifest(&self) -> Result<(), WarehouseError> {
        for folder in FileKind::ALL.map(FileKind::folder) {
            let mut listing = self.store.list(Some(&self.path(folder)));
            if let Some(object) = listing.try_next().await.map_err(self.store_err())? {
                let full = object.location.as_ref();
                let example = full.strip_prefix(self.root.as_ref()).unwrap_or(full).trim_start_matches('/');
                return Err(WarehouseError::NoManifest {
                    location: self.location.clone(),
                    example: example.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Reads one manifest version.
    pub(crate) async fn manifest(&self, version: u64) -> Result<Manifest, WarehouseError> {
        let name = Manifest::object_name(version);
        let bytes = self.get(&name).await?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| WarehouseError::Invalid {
            location: self.location.clone(),
            message: format!("{name} is not a readable manifest: {e}"),
        })?;
        if !READABLE_FORMATS.contains(&manifest.format) || manifest.version != version {
            return Err(WarehouseError::Invalid {
                location: self.location.clone(),
                message: format!(
                    "{name} has format {} and version {}; this refrate reads formats {} to {}",
                    manifest.format,
                    manifest.version,
                    READABLE_FORMATS.start(),
                    READABLE_FORMATS.end()
                ),
            });
        }
        // A path outside the warehouse first: the gravest edit, and it names the path.
        if let Some((file, reason)) = manifest.unconfined_file() {
            return Err(WarehouseError::ForeignPath {
                location: self.location.clone(),
                manifest: name,
                file: file.path,
                feeds: file.feeds,
                reason,
            });
        }
        if let Some(why) = manifest.disagreement() {
            return Err(WarehouseError::Invalid {
                location: self.location.clone(),
                message: format!(
                    "{name} is damaged or was edited: {why}. Nothing was computed from it. Restore the \
                     `_manifest/` folder from a backup, or move the warehouse away and `refrate run` again to \
                     rebuild it from the inputs (with the same pseudonymisation key)"
                ),
            });
        }
        Ok(manifest)
    }

    /// Reads a whole object.
    pub(crate) async fn get(&self, relative: &str) -> Result<bytes::Bytes, WarehouseError> {
        let result = self.store.get(&self.path(relative)).await.map_err(self.store_err())?;
        result.bytes().await.map_err(self.store_err())
    }

    /// Writes an object (atomically: a reader sees the whole object or none).
    pub(crate) async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), WarehouseError> {
        self.store.put(&self.path(relative), PutPayload::from(bytes)).await.map_err(self.store_err())?;
        Ok(())
    }

    /// Uploads a staged local file: in one put if small, else in parts. A failed multipart
    /// upload is aborted, since object stores cannot clean one up by themselves.
    pub(crate) async fn put_file(
        &self,
        relative: &str,
        file: &mut WrittenFile,
    ) -> Result<(), WarehouseError> {
        use std::io::{Read, Seek, SeekFrom};
        let io_err = |source: std::io::Error| WarehouseError::Io {
            location: self.location.clone(),
            context: format!("reading the staged file for {relative}"),
            source,
        };
        if file.bytes as usize <= self.part_size {
            let bytes = file.read_all().map_err(io_err)?;
            return self.put(relative, bytes).await;
        }
        let path = self.path(relative);
        let mut upload = self.store.put_multipart(&path).await.map_err(self.store_err())?;
        let result: Result<(), WarehouseError> = async {
            file.file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            loop {
                let mut part = Vec::with_capacity(self.part_size);
                (&mut file.file).take(self.part_size as u64).read_to_end(&mut part).map_err(io_err)?;
                if part.is_empty() {
                    break;
                }
                upload.put_part(PutPayload::from(part)).await.map_err(self.store_err())?;
            }
            upload.complete().await.map_err(self.store_err())?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Best effort: the upload's parts are invisible either way, the abort frees them.
            let _ = upload.abort().await;
        }
        result
    }

    /// Publishes `manifest` as its version, which must be the next one. Fails with
    /// [`WarehouseError::Conflict`] if that version already exists.
    pub(crate) async fn publish(&self, manifest: &Manifest) -> Result<(), WarehouseError> {
        let body = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        let name = Manifest::object_name(manifest.version);
        match self.store.put_opts(&self.path(&name), PutPayload::from(body), options).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(WarehouseError::Conflict { location: self.location.clone(), version: manifest.version })
            }
            Err(source) => Err(WarehouseError::Store { location: self.location.clone(), source }),
        }
    }
}
