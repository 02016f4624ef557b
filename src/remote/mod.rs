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
mod error;
pub mod history;
pub mod lease;
pub mod mirror;
mod target;

use error::transient;
pub use error::{Cloud, RemoteError, RemoteErrorKind};
pub use target::{Target, host_name, state_dir};

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3ConfigKey;
use object_store::path::Path;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutMode, PutOptions, PutPayload, PutResult,
    RetryConfig, UpdateVersion,
};

use crate::config::OutputLocation;
use crate::net::retry::{AttemptError, ErrorKind, RetryPolicy, with_retries};

/// Files up to this size go in one PUT; larger ones in a multipart upload.
pub const MULTIPART_THRESHOLD: usize = 32 * 1024 * 1024;
/// The part size of a multipart upload (S3's minimum is 5 MiB).
const PART_SIZE: usize = 16 * 1024 * 1024;
/// Parts in flight at once in a multipart upload.
const PARTS_IN_FLIGHT: usize = 4;
/// Where hivewatch keeps its own objects under the output prefix (the write probe, leases).
/// A leading underscore: Spark, Hive and Trino skip it, and no table glob reaches it.
pub const SYSTEM_PREFIX: &str = "_hivewatch";

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
                refuse_secrets_in_endpoint(env).map_err(|m| config(m, Some(Cloud::S3.credentials_hint().into())))?;
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
                let endpoint = b
                    .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
                    .or_else(|| b.get_config_value(&AmazonS3ConfigKey::Endpoint));
                let allow = b.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp));
                refuse_plain_http(endpoint.as_deref(), allow.as_deref()).map_err(|(m, h)| config(m, Some(h)))?;
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

    /// Checks, with one small object put and deleted, that the output can be written: run
    /// before any model request, so a bad bucket, missing credentials or a denied write stop
    /// the run while nothing has been spent. `delete_required`: whether a refused delete is an
    /// error (a member never deletes; a coordinator releases leases). `under`: the prefix the
    /// session writes under (a consortium member's), where the probe object goes.
    pub async fn check_writable(&self, under: Option<&str>, delete_required: bool) -> Result<(), RemoteError> {
        let name =
            format!("{SYSTEM_PREFIX}/probe/{}-{}-{:08x}", host_name(), std::process::id(), rand::random::<u32>());
        let key = under.map_or_else(|| name.clone(), |u| format!("{u}/{name}"));
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

    /// A small object's bytes, version and when it was last written, or `None` if it does not
    /// exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<(Vec<u8>, UpdateVersion, DateTime<Utc>)>, RemoteError> {
        let path = self.path(key);
        let r = self
            .retried("reading", key, || async {
                let got = self.store.get(&path).await?;
                let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                let written = got.meta.last_modified;
                Ok((got.bytes().await?.to_vec(), version, written))
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

/// An S3-compatible endpoint URL (`AWS_ENDPOINT`, or `AWS_ENDPOINT_URL`, both of which the
/// client reads) that carries credentials (`http://KEY:SECRET@host`), a query (`?token=...`)
/// or a fragment is refused, its value never repeated: the client would print it, whole, in
/// every error about the store (the cron log), as it would an output URL's.
fn refuse_secrets_in_endpoint(env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    for var in ["AWS_ENDPOINT", "AWS_ENDPOINT_URL"] {
        if env(var).is_some_and(|v| v.contains(['@', '?', '#'])) {
            return Err(format!(
                "{var} carries credentials, a query or a fragment (its value is not repeated here): write only scheme://host:port in it; keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ));
        }
    }
    Ok(())
}

/// An `http://` endpoint without `AWS_ALLOW_HTTP=true`: the client would refuse every request
/// with a bare "builder error" (issue 30, item 12). Refused here, saying what to set. `endpoint`
/// and `allow_http` are what the client was configured with (its value of `AWS_ALLOW_HTTP`
/// counts as true as object_store reads it: 1, true, on, yes, y). The endpoint's value is not
/// repeated (`AWS_ENDPOINT_URL_S3` is not checked for credentials).
fn refuse_plain_http(endpoint: Option<&str>, allow_http: Option<&str>) -> Result<(), (String, String)> {
    let plain = endpoint.is_some_and(|e| e.trim().get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")));
    let allowed =
        allow_http.is_some_and(|v| ["1", "true", "on", "yes", "y"].contains(&v.trim().to_ascii_lowercase().as_str()));
    if plain && !allowed {
        return Err((
            "the S3 endpoint (AWS_ENDPOINT, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3) is a plain http:// address, which the client refuses unless AWS_ALLOW_HTTP is true".into(),
            "set AWS_ALLOW_HTTP=true for an S3-compatible server without TLS (MinIO, Ceph, moto on a private network), or give its https:// address".into(),
        ));
    }
    Ok(())
}

fn generic_io(e: std::io::Error, path: &FsPath) -> object_store::Error {
    object_store::Error::Generic { store: "local", source: format!("{}: {e}", path.display()).into() }
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
        r.check_writable(None, true).await.unwrap();
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

    /// Issue 26, item 2: `http://KEY:SECRET@host` or `?token=` in AWS_ENDPOINT was printed.
    #[test]
    fn credentials_in_the_endpoint_are_refused_unrepeated() {
        let policy = RetryPolicy::new(1, Duration::from_secs(1));
        for endpoint in ["http://AKIA1:leaked-secret@127.0.0.1:9", "http://127.0.0.1:9/?token=leaked-secret"] {
            let env = |k: &str| (k == "AWS_ENDPOINT").then(|| endpoint.to_owned());
            let e = Remote::open_url("s3://bucket/p", policy, &env).unwrap_err();
            assert_eq!(e.kind, RemoteErrorKind::Config);
            assert!(e.to_string().contains("AWS_ENDPOINT carries credentials"), "{e}");
            assert!(!e.to_string().contains("leaked-secret"), "{e}");
        }
    }

    /// Issue 30, item 12: an http:// endpoint without AWS_ALLOW_HTTP failed with "builder error".
    #[test]
    fn a_plain_http_endpoint_needs_allow_http_and_says_so() {
        let (message, hint) = refuse_plain_http(Some("http://127.0.0.1:9000"), Some("false")).unwrap_err();
        assert!(message.contains("AWS_ALLOW_HTTP") && hint.contains("AWS_ALLOW_HTTP=true"), "{message} {hint}");
        assert!(!message.contains("127.0.0.1"), "the endpoint is not repeated: {message}");
        assert!(refuse_plain_http(Some("HTTP://minio:9000"), None).is_err());
        for allow in ["true", "TRUE", "1", "yes"] {
            assert!(refuse_plain_http(Some("http://minio:9000"), Some(allow)).is_ok(), "{allow}");
        }
        assert!(refuse_plain_http(Some("https://minio:9000"), Some("false")).is_ok());
        assert!(refuse_plain_http(None, None).is_ok());
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
            "[run]\nsuite = \"s\"\noutput = \"s3://b/p\"\n[consortium]\nmembers = [\"a\"]\nsecrets_env = { a = \"A_SECRET\" }\n",
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
