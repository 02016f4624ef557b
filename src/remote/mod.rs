//! Object storage as the output: an `s3://`, `gs://` or `az://` URL (or, for a consortium on a
//! shared disk, a folder through the same interface).
//!
//! The stages never see it. They read and write a local folder as always; for an object-store
//! output that folder is a *mirror* in the state folder ([`mirror`]): before the tail, what the
//! night reads of earlier runs is pulled into it ([`history`]), and after the tail every file
//! written is pushed, each put whole (one PUT for a small file, a multipart upload for a large
//! one), so a reader never sees half a file. The journal, the embedding cache, scratch and the
//! lock stay on local disk: a crash-proof journal needs a local fsync.
//!
//! Credentials come only from each cloud's usual environment variables (and, for S3, a static
//! profile in `~/.aws/credentials`: [`aws_profile`]); they are held in memory by the client and
//! never written anywhere.
//!
//! Retries: object_store's own retry loop is switched off (`max_retries = 0`); every operation
//! goes through the project's one retry layer, [`crate::net::retry::with_retries`], bounded by
//! attempts and by wall time.

pub mod aws_profile;
pub mod history;
pub mod lease;
pub mod mirror;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutMode, PutOptions, PutPayload, PutResult, RetryConfig,
    UpdateVersion,
};

use crate::config::OutputLocation;
use crate::net::retry::{AttemptError, ErrorKind, RetryPolicy, with_retries};
use crate::store::Output;

/// Files up to this size go in one PUT; larger ones in a multipart upload.
pub const MULTIPART_THRESHOLD: usize = 32 * 1024 * 1024;
/// The part size of a multipart upload (S3's minimum is 5 MiB).
const PART_SIZE: usize = 16 * 1024 * 1024;
/// Parts in flight at once in a multipart upload.
const PARTS_IN_FLIGHT: usize = 4;
/// Where hivewatch keeps its own objects under the output prefix (the write probe, leases).
/// A leading underscore: Spark, Hive and Trino skip it, and no table glob reaches it.
pub const SYSTEM_PREFIX: &str = "_hivewatch";

/// What kind of failure: decides the exit code at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteErrorKind {
    /// The output cannot be used as configured (bad URL, no credentials, no such bucket, no
    /// write access, unreachable store), found before any model request: exit 2.
    Config,
    /// An operation failed mid-run (after its retries): exit 3, rerun to resume.
    Failed,
    /// Another analysis holds the night's lease: exit 4.
    LeaseHeld,
}

/// An object-store failure, naming the output URL, the object and what to check.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct RemoteError {
    pub url: String,
    pub kind: RemoteErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl crate::failure::Classify for RemoteError {
    fn failure(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self.kind {
            RemoteErrorKind::Config => Failure::BadInput,
            RemoteErrorKind::LeaseHeld => Failure::Locked,
            RemoteErrorKind::Failed => Failure::Failed,
        }
    }
}

impl RemoteError {
    fn new(url: &str, kind: RemoteErrorKind, message: impl Into<String>, hint: Option<String>) -> Self {
        RemoteError { url: url.to_owned(), kind, message: message.into(), hint }
    }

    /// The same error, as a configuration problem found before any request was sent.
    pub fn as_config(mut self) -> Self {
        if self.kind == RemoteErrorKind::Failed {
            self.kind = RemoteErrorKind::Config;
        }
        self
    }
}

/// Which store a URL names: decides the hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    S3,
    Gcs,
    Azure,
    /// A folder, through object_store's local file system (a consortium on a shared disk).
    Folder,
}

impl Cloud {
    fn credentials_hint(self) -> &'static str {
        match self {
            Cloud::S3 => {
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or AWS_PROFILE naming a profile with static keys in ~/.aws/credentials; AWS_REGION for the bucket's region; AWS_ENDPOINT (and AWS_ALLOW_HTTP=true for http://) for an S3-compatible server"
            }
            Cloud::Gcs => {
                "set GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT) to a service-account key file with access to the bucket"
            }
            Cloud::Azure => {
                "set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY, or a service principal's AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID)"
            }
            Cloud::Folder => "check that the folder exists and this user may write to it",
        }
    }
}

/// One object as listed: its key under the output prefix, size and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `/`-separated, relative to the output prefix (`runs/run_date=2026-01-01/x.parquet`).
    pub key: String,
    pub size: u64,
    pub e_tag: Option<String>,
}

/// An output URL opened: the client, the prefix inside the bucket, and the retry policy.
#[derive(Debug, Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    cloud: Cloud,
    policy: RetryPolicy,
}

/// object_store's own retries off: the project's retry layer does them.
fn no_retries() -> RetryConfig {
    RetryConfig { max_retries: 0, ..RetryConfig::default() }
}

impl Remote {
    /// Opens an output location. Folders go through object_store's local file system (created
    /// if missing); URLs through the cloud's client, configured from its environment variables.
    /// Nothing is sent yet: [`Remote::check_writable`] does the first request.
    pub fn open(location: &OutputLocation) -> Result<Remote, RemoteError> {
        let policy = RetryPolicy::new(4, Duration::from_secs(600));
        match location {
            OutputLocation::Dir(dir) => {
                let url = dir.display().to_string();
                std::fs::create_dir_all(dir).map_err(|e| {
                    RemoteError::new(
                        &url,
                        RemoteErrorKind::Config,
                        format!("cannot create the output folder: {e}"),
                        Some(Cloud::Folder.credentials_hint().into()),
                    )
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| RemoteError::new(&url, RemoteErrorKind::Config, e.to_string(), None))?;
                Ok(Remote { store: Arc::new(store), prefix: Path::default(), url, cloud: Cloud::Folder, policy })
            }
            OutputLocation::Url(url) => Self::open_url(url, policy, &|k| std::env::var(k).ok()),
        }
    }

    fn open_url(url: &str, policy: RetryPolicy, env: &dyn Fn(&str) -> Option<String>) -> Result<Remote, RemoteError> {
        let config =
            |message: String, hint: Option<String>| RemoteError::new(url, RemoteErrorKind::Config, message, hint);
        let parsed = reqwest::Url::parse(url).map_err(|e| config(format!("not a URL: {e}"), None))?;
        let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|e| config(e.to_string(), None))?;
        let built: Result<(Arc<dyn ObjectStore>, Cloud), object_store::Error> = match scheme {
            ObjectStoreScheme::AmazonS3 => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url).with_retry(no_retries());
                if let Some(profile) =
                    aws_profile::load(env).map_err(|m| config(m, Some(Cloud::S3.credentials_hint().into())))?
                {
                    b = b
                        .with_access_key_id(profile.access_key_id)
                        .with_secret_access_key(profile.secret_access_key.expose());
                    if let Some(token) = profile.session_token {
                        b = b.with_token(token.expose());
                    }
                    if let Some(region) = profile.region {
                        b = b.with_region(region);
                    }
                }
                b.build().map(|s| (Arc::new(s) as Arc<dyn ObjectStore>, Cloud::S3))
            }
            ObjectStoreScheme::GoogleCloudStorage => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(no_retries())
                .build()
                .map(|s| (Arc::new(s) as Arc<dyn ObjectStore>, Cloud::Gcs)),
            ObjectStoreScheme::MicrosoftAzure => object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(no_retries())
                .build()
                .map(|s| (Arc::new(s) as Arc<dyn ObjectStore>, Cloud::Azure)),
            other => return Err(config(format!("{other:?} URLs are not an output hivewatch writes to"), None)),
        };
        let (store, cloud) = built.map_err(|e| {
            let hint = match scheme {
                ObjectStoreScheme::AmazonS3 => Cloud::S3.credentials_hint(),
                ObjectStoreScheme::GoogleCloudStorage => Cloud::Gcs.credentials_hint(),
                _ => Cloud::Azure.credentials_hint(),
            };
            config(format!("cannot configure the object-store client: {e}"), Some(hint.into()))
        })?;
        let prefix =
            Path::parse(prefix).map_err(|e| config(format!("the prefix is not a usable object path: {e}"), None))?;
        Ok(Remote { store, prefix, url: url.to_owned(), cloud, policy })
    }

    /// A remote over any store (tests use object_store's in-memory one).
    pub fn from_store(store: Arc<dyn ObjectStore>, url: &str, cloud: Cloud) -> Remote {
        Remote {
            store,
            prefix: Path::default(),
            url: url.to_owned(),
            cloud,
            policy: RetryPolicy::new(4, Duration::from_secs(600)),
        }
    }

    /// The output URL (or folder), as people wrote it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The object path of a key under the output prefix.
    fn path(&self, key: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in key.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The key of an object path, relative to the output prefix.
    fn key(&self, path: &Path) -> Option<String> {
        let parts: Vec<String> = path.prefix_match(&self.prefix)?.map(|p| p.as_ref().to_owned()).collect();
        Some(parts.join("/"))
    }

    /// `url/key`, for messages.
    pub fn describe(&self, key: &str) -> String {
        format!("{}/{key}", self.url.trim_end_matches('/'))
    }

    /// Runs `op` through the retry layer. A permanent failure comes back as the store's error
    /// (for callers that look at it: not found, already exists, precondition); a transient one
    /// that outlived its retries as a [`RemoteError`].
    async fn retried<T, F, Fut>(
        &self,
        what: &str,
        key: &str,
        op: F,
    ) -> Result<Result<T, object_store::Error>, RemoteError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, object_store::Error>>,
    {
        let r = with_retries(&self.policy, |_| {
            let fut = op();
            async move {
                match fut.await {
                    Ok(v) => Ok(Ok(v)),
                    Err(e) => match transient(&e) {
                        Some(kind) => {
                            Err(AttemptError { kind, http_status: None, message: e.to_string(), retry_after: None })
                        }
                        None => Ok(Err(e)),
                    },
                }
            }
        })
        .await;
        match r.result {
            Ok(v) => Ok(v),
            Err(e) => {
                // No keys in the environment: the client fell back to the instance metadata
                // service (or a token endpoint) and could not reach it.
                let credentials =
                    ["credential", "Credential", "/latest/api/token", "/latest/meta-data", "oauth2", "metadata.google"]
                        .iter()
                        .any(|w| e.message.contains(w));
                let hint = match e.kind {
                    _ if credentials => Some(format!(
                        "no usable credentials were found in the environment (the client fell back to the cloud's metadata service and got nothing): {}",
                        self.cloud.credentials_hint()
                    )),
                    ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::DeadlineExceeded => Some(match self.cloud {
                        Cloud::S3 => "is the store reachable? check AWS_ENDPOINT (for an S3-compatible server), AWS_REGION, the network and any proxy (HTTPS_PROXY, NO_PROXY)".to_owned(),
                        _ => "is the store reachable? check the network and any proxy (HTTPS_PROXY, NO_PROXY)".to_owned(),
                    }),
                    _ => None,
                };
                Err(RemoteError::new(
                    &self.url,
                    RemoteErrorKind::Failed,
                    format!("{what} {} failed after {} attempt(s): {}", self.describe(key), r.attempts, e.message),
                    hint,
                ))
            }
        }
    }

    /// A permanent store error as a [`RemoteError`] with what to check.
    pub fn explain(&self, what: &str, key: &str, e: &object_store::Error) -> RemoteError {
        use object_store::Error as E;
        let at = self.describe(key);
        let (message, hint) = match e {
            E::Unauthenticated { .. } => (
                format!("{what} {at}: the store refused the credentials: {e}"),
                Some(self.cloud.credentials_hint().to_owned()),
            ),
            E::PermissionDenied { .. } => (
                format!("{what} {at}: permission denied: {e}"),
                Some(match self.cloud {
                    Cloud::S3 => "the credentials lack access: hivewatch needs s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on the prefix (a member needs only ListBucket, GetObject and PutObject)".to_owned(),
                    Cloud::Gcs => "the service account needs storage.objects.list, get, create and delete on the bucket".to_owned(),
                    Cloud::Azure => "the identity needs read, write, list and delete on the container (Storage Blob Data Contributor)".to_owned(),
                    Cloud::Folder => Cloud::Folder.credentials_hint().to_owned(),
                }),
            ),
            E::NotFound { .. } if looks_like_missing_bucket(e) => (
                format!("{what} {at}: the bucket does not exist: {e}"),
                Some("check the bucket name in output, and the region or endpoint it is served from".to_owned()),
            ),
            other => {
                let text = other.to_string();
                let hint = if text.contains("credential") || text.contains("Credential") || text.contains("token") {
                    Some(self.cloud.credentials_hint().to_owned())
                } else {
                    None
                };
                (format!("{what} {at}: {text}"), hint)
            }
        };
        RemoteError::new(&self.url, RemoteErrorKind::Failed, message, hint)
    }

    /// Checks, with one small object put and deleted, that the output can be written: run
    /// before any model request, so a bad bucket, missing credentials or a denied write stop
    /// the run while nothing has been spent. `delete_required`: whether a refused delete is an
    /// error (a member never deletes; a coordinator releases leases).
    pub async fn check_writable(&self, delete_required: bool) -> Result<(), RemoteError> {
        let key = format!("{SYSTEM_PREFIX}/probe/{}-{}-{:08x}", host_name(), std::process::id(), rand::random::<u32>());
        // A bad endpoint fails fast: two retries, not the full policy.
        let quick = Remote { policy: RetryPolicy::new(2, Duration::from_secs(60)), ..self.clone() };
        let path = self.path(&key);
        let payload = PutPayload::from_static(b"hivewatch checks it may write here; this object is deleted at once\n");
        match quick
            .retried("writing the probe object", &key, || self.store.put(&path, payload.clone()))
            .await
            .map_err(RemoteError::as_config)?
        {
            Ok(_) => {}
            Err(e) => return Err(self.explain("writing the probe object", &key, &e).as_config()),
        }
        match quick
            .retried("deleting the probe object", &key, || self.store.delete(&path))
            .await
            .map_err(RemoteError::as_config)?
        {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) if !delete_required => {
                tracing::warn!(
                    "{} (a member only adds objects: carrying on)",
                    self.explain("deleting the probe object", &key, &e)
                );
                Ok(())
            }
            Err(e) => Err(self.explain("deleting the probe object", &key, &e).as_config()),
        }
    }

    /// Every object under `dir` (a key prefix ending at a folder), from `start_after` on when
    /// given (a key: the listing skips everything up to it, so a night lists only the recent
    /// part of a long history).
    pub async fn list(&self, dir: &str, start_after: Option<&str>) -> Result<Vec<Listed>, RemoteError> {
        let prefix = self.path(dir);
        let offset = start_after.map(|k| self.path(k));
        let r = self
            .retried("listing", dir, || {
                let stream = match &offset {
                    Some(o) => self.store.list_with_offset(Some(&prefix), o),
                    None => self.store.list(Some(&prefix)),
                };
                stream.try_collect::<Vec<_>>()
            })
            .await?;
        let metas = match r {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) if self.cloud == Cloud::Folder => Vec::new(),
            Err(e) => return Err(self.explain("listing", dir, &e)),
        };
        let mut out: Vec<Listed> = metas
            .into_iter()
            .filter_map(|m| Some(Listed { key: self.key(&m.location)?, size: m.size, e_tag: m.e_tag }))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Downloads `key` into `dest` (a temporary sibling first, then renamed: the local file is
    /// whole or absent). Returns what was downloaded, or `None` if the object does not exist.
    pub async fn download(&self, key: &str, dest: &FsPath) -> Result<Option<Listed>, RemoteError> {
        let path = self.path(key);
        let tmp = crate::store::temporary_path(dest);
        let local = |e: std::io::Error| {
            RemoteError::new(&self.url, RemoteErrorKind::Failed, format!("writing {}: {e}", dest.display()), None)
        };
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(local)?;
        }
        let r = self
            .retried("downloading", key, || async {
                let got = self.store.get(&path).await?;
                let meta = got.meta.clone();
                let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| generic_io(e, &tmp))?;
                let mut stream = got.into_stream();
                let mut size = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    size += chunk.len() as u64;
                    tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(|e| generic_io(e, &tmp))?;
                }
                tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| generic_io(e, &tmp))?;
                file.sync_all().await.map_err(|e| generic_io(e, &tmp))?;
                Ok(Listed { key: key.to_owned(), size, e_tag: meta.e_tag })
            })
            .await;
        let r = match r {
            Ok(Ok(listed)) => listed,
            Ok(Err(object_store::Error::NotFound { .. })) => {
                let _ = std::fs::remove_file(&tmp);
                return Ok(None);
            }
            Ok(Err(e)) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(self.explain("downloading", key, &e));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, dest).map_err(local)?;
        Ok(Some(r))
    }

    /// Uploads a local file as `key`, whole: one PUT up to [`MULTIPART_THRESHOLD`], else a
    /// multipart upload completed only when every part is in (aborted on failure, retried whole).
    pub async fn upload(&self, src: &FsPath, key: &str) -> Result<Listed, RemoteError> {
        let local = |e: std::io::Error| {
            RemoteError::new(&self.url, RemoteErrorKind::Failed, format!("reading {}: {e}", src.display()), None)
        };
        let size = std::fs::metadata(src).map_err(local)?.len();
        let path = self.path(key);
        let r = if size as usize <= MULTIPART_THRESHOLD {
            let bytes = PutPayload::from(std::fs::read(src).map_err(local)?);
            self.retried("uploading", key, || self.store.put(&path, bytes.clone())).await?
        } else {
            self.retried("uploading", key, || self.multipart(src, &path)).await?
        };
        match r {
            Ok(put) => Ok(Listed { key: key.to_owned(), size, e_tag: put.e_tag }),
            Err(e) => Err(self.explain("uploading", key, &e)),
        }
    }

    async fn multipart(&self, src: &FsPath, path: &Path) -> Result<PutResult, object_store::Error> {
        use tokio::io::AsyncReadExt;
        let upload = self.store.put_multipart(path).await?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let result: Result<(), object_store::Error> = async {
            let mut file = tokio::fs::File::open(src).await.map_err(|e| generic_io(e, src))?;
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = file.read(&mut buf).await.map_err(|e| generic_io(e, src))?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buf[..n]);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => writer.finish().await,
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Puts a small object with a precondition (creating, or replacing a known version).
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        mode: PutMode,
    ) -> Result<Result<PutResult, object_store::Error>, RemoteError> {
        let path = self.path(key);
        let payload = PutPayload::from(bytes);
        self.retried("writing", key, || {
            self.store.put_opts(&path, payload.clone(), PutOptions { mode: mode.clone(), ..Default::default() })
        })
        .await
    }

    /// A small object's bytes and version, or `None` if it does not exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<(Vec<u8>, UpdateVersion)>, RemoteError> {
        let path = self.path(key);
        let r = self
            .retried("reading", key, || async {
                let got = self.store.get(&path).await?;
                let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                Ok((got.bytes().await?.to_vec(), version))
            })
            .await?;
        match r {
            Ok(v) => Ok(Some(v)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.explain("reading", key, &e)),
        }
    }

    /// Deletes an object (absent already is fine).
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let path = self.path(key);
        match self.retried("deleting", key, || self.store.delete(&path)).await? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.explain("deleting", key, &e)),
        }
    }
}

/// Whether a store error is worth another attempt, and as what kind: broken connections,
/// timeouts, 5xx, 429 and 408. Everything else (not found, denied, precondition, bad request)
/// would fail the same way again.
fn transient(e: &object_store::Error) -> Option<ErrorKind> {
    use object_store::Error as E;
    match e {
        E::Generic { .. } => {}
        _ => return None,
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            return match h.kind() {
                K::Connect => Some(ErrorKind::Connect),
                K::Request | K::Interrupted | K::Decode => Some(ErrorKind::Connect),
                K::Timeout => Some(ErrorKind::Timeout),
                _ => None,
            };
        }
        cause = c.source();
    }
    // The status of a failed reply is only in the message ("...status code: 503 ...").
    let text = e.to_string();
    let status = text.split("status code: ").nth(1).and_then(|rest| rest.get(..3)).and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(429) => Some(ErrorKind::RateLimited),
        Some(408) => Some(ErrorKind::Timeout),
        Some(500..=599) => Some(ErrorKind::ServerError),
        _ => None,
    }
}

fn looks_like_missing_bucket(e: &object_store::Error) -> bool {
    let t = e.to_string();
    t.contains("NoSuchBucket") || t.contains("bucket does not exist") || t.contains("ContainerNotFound")
}

fn generic_io(e: std::io::Error, path: &FsPath) -> object_store::Error {
    object_store::Error::Generic { store: "local", source: format!("{}: {e}", path.display()).into() }
}

/// This machine's name, for lease holders and probe objects.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    let clean: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    if clean.is_empty() { "host".into() } else { clean }
}

/// Where the working state lives: `[run] state_dir` (`state_dir`) when set; beside a folder
/// output (`<output>/.hivewatch`, or `<output>/.hivewatch/<role>` for a consortium role); for an
/// object-store output, under the user's cache folder, one folder per (URL, role), so two
/// members on one machine never share a journal or a lock. `role` is empty for a plain run.
pub fn state_dir(output: &OutputLocation, state_dir: Option<&FsPath>, role: &str) -> PathBuf {
    if let Some(dir) = state_dir {
        return dir.to_owned();
    }
    match output {
        OutputLocation::Dir(dir) if role.is_empty() => dir.join(crate::store::STATE_DIR),
        // A consortium on a shared disk: each role its own journal and lock.
        OutputLocation::Dir(dir) => dir.join(crate::store::STATE_DIR).join(role),
        OutputLocation::Url(url) => {
            let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
            let cache = var("XDG_CACHE_HOME")
                .or_else(|| var("HOME").map(|h| h.join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            let tag = &crate::util::sha256_hex(format!("{url}\n{role}").as_bytes())[..16];
            cache.join("hivewatch").join("state").join(tag)
        }
    }
}

/// Where a run's files go and how they get there: the [`Output`] the stages write to (the
/// folder itself, or the local mirror of an object-store output), and the store behind it.
#[derive(Debug)]
pub struct Target {
    /// What the stages read and write.
    pub output: Output,
    /// The store, for listing, leases and publishing; `None` for a plain folder output.
    pub remote: Option<Arc<Remote>>,
    /// The local mirror of an object-store output (`None` when the output is a folder).
    pub mirror: Option<mirror::Mirror>,
}

impl Target {
    /// The target of a session: a folder output is written in place; an object-store output
    /// through a mirror in the state folder (`state_dir` overrides where that lives). `role`
    /// keeps the default state folders of roles sharing a URL apart. `with_store`: open the
    /// store for a folder output too (a consortium on a shared disk lists members and takes
    /// leases through it).
    pub fn open(
        location: &OutputLocation,
        state_dir: Option<&FsPath>,
        role: &str,
        with_store: bool,
    ) -> Result<Target, RemoteError> {
        let state = self::state_dir(location, state_dir, role);
        match location {
            OutputLocation::Dir(dir) => {
                let remote = if with_store { Some(Arc::new(Remote::open(location)?)) } else { None };
                Ok(Target { output: Output::with_state(dir, &state), remote, mirror: None })
            }
            OutputLocation::Url(_) => {
                let remote = Arc::new(Remote::open(location)?);
                let mirror =
                    mirror::Mirror::open(Arc::clone(&remote), state.join("mirror"), state.join("mirror-index.json"))
                        .map_err(|e| {
                            RemoteError::new(
                                remote.url(),
                                RemoteErrorKind::Config,
                                format!("cannot open the local mirror in {}: {e}", state.display()),
                                Some("check [run] state_dir".into()),
                            )
                        })?;
                Ok(Target {
                    output: Output::with_state(mirror.root(), &state),
                    remote: Some(remote),
                    mirror: Some(mirror),
                })
            }
        }
    }

    /// The same target, writing under `prefix` of its output (a consortium member's
    /// `members/member=<name>`), its state where it was.
    pub fn under(mut self, prefix: &str) -> Target {
        let state = self.output.state_dir().to_owned();
        self.output = Output::with_state(self.output.root().join(prefix), state);
        self
    }

    /// The output as people wrote it.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(r) => r.url().to_owned(),
            None => self.output.root().display().to_string(),
        }
    }

    /// Checks that the output can be written (a folder: created; a store: a probe object).
    pub async fn check_writable(&self, delete_required: bool) -> Result<(), RemoteError> {
        match &self.remote {
            Some(r) => r.check_writable(delete_required).await,
            None => {
                let root = self.output.root();
                let probe = root.join(format!(".hivewatch-probe-{}", std::process::id()));
                let r = std::fs::create_dir_all(root)
                    .and_then(|()| std::fs::write(&probe, b""))
                    .and_then(|()| std::fs::remove_file(&probe));
                r.map_err(|e| {
                    RemoteError::new(
                        &root.display().to_string(),
                        RemoteErrorKind::Config,
                        format!("cannot write to the output folder: {e}"),
                        Some(Cloud::Folder.credentials_hint().into()),
                    )
                })
            }
        }
    }

    /// Publishes files the stages wrote under [`Target::output`]'s root, in the order given
    /// (put the `runs` row last: its presence says the run is complete). A folder output has
    /// nothing to do: the files are in place.
    pub async fn push(&self, files: &[PathBuf]) -> Result<(), RemoteError> {
        match &self.mirror {
            Some(m) => m.push(files).await,
            None => Ok(()),
        }
    }

    /// How to name a file the stages wrote, for people: its URL for an object-store output (the
    /// mirror is an implementation detail), its path for a folder.
    pub fn published_name(&self, path: &FsPath) -> PathBuf {
        match (&self.mirror, &self.remote) {
            (Some(m), Some(r)) => m.key_of(path).map_or_else(|| path.to_owned(), |k| PathBuf::from(r.describe(&k))),
            _ => path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn memory() -> Remote {
        let mut r = Remote::from_store(Arc::new(InMemory::new()), "memory://test", Cloud::S3);
        r.prefix = Path::from("team/hw");
        r
    }

    #[tokio::test]
    async fn keys_are_relative_to_the_prefix_and_files_travel_whole() {
        let r = memory();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.parquet");
        std::fs::write(&src, b"hello").unwrap();
        let up = r.upload(&src, "runs/run_date=2026-01-01/a.parquet").await.unwrap();
        assert_eq!(up.size, 5);
        r.upload(&src, "runs/run_date=2026-01-02/b.parquet").await.unwrap();
        let listed = r.list("runs/", None).await.unwrap();
        assert_eq!(
            listed.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(),
            ["runs/run_date=2026-01-01/a.parquet", "runs/run_date=2026-01-02/b.parquet"]
        );
        assert_eq!(listed[0].e_tag, up.e_tag);
        let later = r.list("runs/", Some("runs/run_date=2026-01-02")).await.unwrap();
        assert_eq!(later.len(), 1, "{later:?}");
        let dest = dir.path().join("m/x.parquet");
        let got = r.download("runs/run_date=2026-01-01/a.parquet", &dest).await.unwrap().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        assert_eq!(got.e_tag, up.e_tag);
        assert!(r.download("runs/none.parquet", &dir.path().join("n")).await.unwrap().is_none());
        assert!(!dir.path().join("n").exists());
        r.check_writable(true).await.unwrap();
        assert!(r.list(SYSTEM_PREFIX, None).await.unwrap().is_empty(), "the probe is deleted");
    }

    #[tokio::test]
    async fn a_large_file_goes_up_in_parts_and_arrives_whole() {
        let r = memory();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big.parquet");
        let data: Vec<u8> = (0..MULTIPART_THRESHOLD + PART_SIZE + 123).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let up = r.upload(&src, "responses/big.parquet").await.unwrap();
        assert_eq!(up.size as usize, data.len());
        let dest = dir.path().join("back.parquet");
        r.download("responses/big.parquet", &dest).await.unwrap().unwrap();
        assert!(std::fs::read(&dest).unwrap() == data);
    }

    #[test]
    fn transient_errors_are_told_apart() {
        let generic = |m: &str| object_store::Error::Generic { store: "S3", source: m.to_owned().into() };
        assert_eq!(
            transient(&generic("Server returned non-2xx status code: 503 Service Unavailable: ")),
            Some(ErrorKind::ServerError)
        );
        assert_eq!(
            transient(&generic("Server returned non-2xx status code: 429 Too Many Requests")),
            Some(ErrorKind::RateLimited)
        );
        assert_eq!(transient(&generic("Server returned non-2xx status code: 400 Bad Request")), None);
        let denied = object_store::Error::PermissionDenied { path: "p".into(), source: "403".into() };
        assert_eq!(transient(&denied), None);
    }

    #[test]
    fn state_folders_of_roles_sharing_a_url_differ() {
        let mut cfg = crate::config::Config::parse(
            FsPath::new("/etc/hw/hivewatch.toml"),
            "[run]\nsuite = \"s\"\noutput = \"s3://b/p\"\n[consortium]\nmembers = [\"a\"]\n",
        )
        .unwrap();
        let a = state_dir(&cfg.output, None, "member=a");
        let b = state_dir(&cfg.output, None, "analysis");
        assert_ne!(a, b);
        assert!(a.to_string_lossy().contains("hivewatch/state/"), "{a:?}");
        assert_eq!(state_dir(&cfg.output, Some(FsPath::new("/var/lib/hw")), "x"), FsPath::new("/var/lib/hw"));
        cfg.output = OutputLocation::Dir("/data/out".into());
        assert_eq!(state_dir(&cfg.output, None, ""), FsPath::new("/data/out/.hivewatch"));
        assert_eq!(state_dir(&cfg.output, None, "member=a"), FsPath::new("/data/out/.hivewatch/member=a"));
    }
}
