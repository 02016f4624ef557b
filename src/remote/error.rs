//! How an object-store operation failed, said for people: the kind that decides the exit code,
//! the URL and object, and what to check (credentials, permissions, the bucket, the network).

use super::Remote;
use crate::net::retry::ErrorKind;

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
    pub(super) fn new(url: &str, kind: RemoteErrorKind, message: impl Into<String>, hint: Option<String>) -> Self {
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
    pub(super) fn credentials_hint(self) -> &'static str {
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

impl Remote {
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
}

/// Whether a store error is worth another attempt, and as what kind: broken connections,
/// timeouts, 5xx, 429 and 408. Everything else (not found, denied, precondition, bad request)
/// would fail the same way again.
pub(super) fn transient(e: &object_store::Error) -> Option<ErrorKind> {
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

pub(super) fn looks_like_missing_bucket(e: &object_store::Error) -> bool {
    let t = e.to_string();
    t.contains("NoSuchBucket") || t.contains("bucket does not exist") || t.contains("ContainerNotFound")
}
