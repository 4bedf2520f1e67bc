//! A fault-injecting object store for tests: wraps a real store and fails the n-th put or the
//! n-th multipart completion, as a network or disk fault would.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, UploadPart,
};

/// Which operation fails (1-based counts; `None` never fails).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Faults {
    /// Fail the n-th single put (data files, rejects, the lock, the manifest).
    pub put: Option<usize>,
    /// Fail the n-th multipart completion (the upload is then aborted by the caller).
    pub complete: Option<usize>,
}

#[derive(Debug, Default)]
struct Counters {
    puts: AtomicUsize,
    completes: AtomicUsize,
    aborts: AtomicUsize,
    /// Multipart uploads begun, and those completed or aborted.
    begun: AtomicUsize,
    ended: AtomicUsize,
}

/// The wrapper. Counters are shared with clones, so a test can read them after a run.
#[derive(Debug, Clone)]
pub(crate) struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Faults,
    counters: Arc<Counters>,
}

fn injected(what: &str, n: usize) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected fault: {what} #{n} failed").into(),
    }
}

impl FaultyStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, faults: Faults) -> FaultyStore {
        FaultyStore { inner, faults, counters: Arc::default() }
    }

    pub(crate) fn puts(&self) -> usize {
        self.counters.puts.load(Ordering::SeqCst)
    }

    pub(crate) fn completes(&self) -> usize {
        self.counters.completes.load(Ordering::SeqCst)
    }

    pub(crate) fn aborts(&self) -> usize {
        self.counters.aborts.load(Ordering::SeqCst)
    }

    /// Multipart uploads begun and neither completed nor aborted (their parts would stay in
    /// the store).
    pub(crate) fn unfinished_uploads(&self) -> usize {
        self.counters.begun.load(Ordering::SeqCst) - self.counters.ended.load(Ordering::SeqCst)
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    faults: Faults,
    counters: Arc<Counters>,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let n = self.counters.completes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.faults.complete == Some(n) {
            return Err(injected("multipart completion", n));
        }
        let completed = self.inner.complete().await?;
        self.counters.ended.fetch_add(1, Ordering::SeqCst);
        Ok(completed)
    }

    async fn abort(&mut self) -> Result<()> {
        self.counters.aborts.fetch_add(1, Ordering::SeqCst);
        self.counters.ended.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let n = self.counters.puts.fetch_add(1, Ordering::SeqCst) + 1;
        if self.faults.put == Some(n) {
            return Err(injected("put", n));
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.counters.begun.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FaultyUpload { inner, faults: self.faults, counters: self.counters.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
