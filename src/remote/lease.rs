//! A lease: one object, created only if absent (a conditional put: `If-None-Match: *` on S3,
//! which needs its conditional-put support, on by default), held by renewing it with an
//! ETag-conditional update, released by deleting it. Two analyses of one night cannot both
//! hold it: the second is refused. A holder that dies stops renewing; once its lease has
//! expired, the next analysis takes it over with a conditional update on the ETag it read, so
//! two newcomers cannot both take over.
//!
//! On a folder (a consortium on a shared disk) object_store offers no conditional update: a
//! renewal overwrites, and a takeover deletes and creates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::{Cloud, Remote, RemoteError, RemoteErrorKind};

/// What the lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseBody {
    pub holder: String,
    pub purpose: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A held lease; renewed in the background until [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    remote: Arc<Remote>,
    key: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

fn body(purpose: &str, acquired_at: DateTime<Utc>, ttl: Duration) -> LeaseBody {
    LeaseBody {
        holder: format!("{} pid {}", super::host_name(), std::process::id()),
        purpose: purpose.to_owned(),
        acquired_at,
        expires_at: Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10)),
    }
}

fn held(remote: &Remote, key: &str, current: Option<(&LeaseBody, DateTime<Utc>)>) -> RemoteError {
    let message = match current {
        Some((b, expires)) => format!(
            "{} is held by {} since {} (until {} unless renewed): another analysis of this night is running",
            remote.describe(key),
            b.holder,
            b.acquired_at.format("%Y-%m-%d %H:%M:%SZ"),
            expires.format("%Y-%m-%d %H:%M:%SZ")
        ),
        None => format!("{} was just taken by another analysis of this night", remote.describe(key)),
    };
    RemoteError::new(
        remote.url(),
        RemoteErrorKind::LeaseHeld,
        message,
        Some(format!(
            "wait for it to finish (its results are the same: an analysis of a night is idempotent); if its machine died, the lease lapses by itself one lease period after its last renewal, or delete {} now",
            remote.describe(key)
        )),
    )
}

/// When a lease found in the store lapses: its holder renews it every `ttl / 4`, each time to
/// `ttl` ahead, so a lease not written for `ttl` is dead whatever its body says, and an expiry
/// further than `ttl` past its last write (a far-future date, a clock gone wrong, a body
/// written by hand) counts only to `written + ttl`.
fn lapses(body: &LeaseBody, written: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10));
    body.expires_at.min(written + ttl)
}

/// Takes the lease at `key` for `ttl` (renewed every `ttl / 4` while held), or says who holds it.
pub async fn acquire(remote: &Arc<Remote>, key: &str, purpose: &str, ttl: Duration) -> Result<Lease, RemoteError> {
    let now = Utc::now();
    let json = |b: &LeaseBody| serde_json::to_vec_pretty(b).expect("lease serialises");
    let mine = body(purpose, now, ttl);
    let version = match remote.put_bytes(key, json(&mine), PutMode::Create).await? {
        Ok(put) => UpdateVersion { e_tag: put.e_tag, version: put.version },
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            let Some((bytes, found, written)) = remote.get_bytes(key).await? else {
                // Released between the two requests: try once more from the start.
                return Box::pin(acquire(remote, key, purpose, ttl)).await;
            };
            let current: Option<LeaseBody> = serde_json::from_slice(&bytes).ok();
            if let Some(c) = &current
                && lapses(c, written, ttl) > Utc::now()
            {
                return Err(held(remote, key, Some((c, lapses(c, written, ttl)))));
            }
            tracing::warn!(
                "taking over the expired lease {} (held by {})",
                remote.describe(key),
                current.as_ref().map_or("an unreadable holder", |c| c.holder.as_str())
            );
            take_over(remote, key, json(&mine), found).await?
        }
        Err(e) => return Err(remote.explain("taking the lease", key, &e)),
    };
    let lost = Arc::new(AtomicBool::new(false));
    let renewer = tokio::spawn(renew(
        Arc::clone(remote),
        key.to_owned(),
        purpose.to_owned(),
        now,
        ttl,
        version,
        Arc::clone(&lost),
    ));
    Ok(Lease { remote: Arc::clone(remote), key: key.to_owned(), lost, renewer })
}

async fn take_over(
    remote: &Remote,
    key: &str,
    bytes: Vec<u8>,
    found: UpdateVersion,
) -> Result<UpdateVersion, RemoteError> {
    match remote.put_bytes(key, bytes.clone(), PutMode::Update(found)).await? {
        Ok(put) => Ok(UpdateVersion { e_tag: put.e_tag, version: put.version }),
        Err(
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::NotFound { .. },
        ) => Err(held(remote, key, None)),
        Err(object_store::Error::NotImplemented { .. }) if remote.cloud() == Cloud::Folder => {
            remote.delete(key).await?;
            match remote.put_bytes(key, bytes, PutMode::Create).await? {
                Ok(put) => Ok(UpdateVersion { e_tag: put.e_tag, version: put.version }),
                Err(_) => Err(held(remote, key, None)),
            }
        }
        Err(e) => Err(remote.explain("taking over the lease", key, &e)),
    }
}

async fn renew(
    remote: Arc<Remote>,
    key: String,
    purpose: String,
    acquired_at: DateTime<Utc>,
    ttl: Duration,
    mut version: UpdateVersion,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(ttl / 4).await;
        let bytes = serde_json::to_vec_pretty(&body(&purpose, acquired_at, ttl)).expect("lease serialises");
        let mode = if remote.cloud() == Cloud::Folder { PutMode::Overwrite } else { PutMode::Update(version.clone()) };
        match remote.put_bytes(&key, bytes, mode).await {
            Ok(Ok(put)) => version = UpdateVersion { e_tag: put.e_tag, version: put.version },
            Ok(Err(e)) => {
                tracing::error!("lost the lease {}: {e}", remote.describe(&key));
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // Transient trouble after retries: the lease is still ours until it expires.
            Err(e) => tracing::warn!("could not renew the lease: {e}"),
        }
    }
}

impl Lease {
    /// Whether renewing found the lease taken by someone else: results must not be published.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The error to stop with when the lease was lost.
    pub fn lost_error(&self) -> RemoteError {
        RemoteError::new(
            self.remote.url(),
            RemoteErrorKind::Failed,
            format!(
                "the lease {} was taken over while this analysis ran (it could not be renewed in time)",
                self.remote.describe(&self.key)
            ),
            Some("nothing more was published; run the analysis again when the other one has finished".into()),
        )
    }

    /// Stops renewing and deletes the lease (unless it was lost to another holder).
    pub async fn release(self) -> Result<(), RemoteError> {
        let Lease { remote, key, lost, renewer } = self;
        renewer.abort();
        let _ = renewer.await;
        if lost.load(Ordering::SeqCst) { Ok(()) } else { remote.delete(&key).await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn one_holder_at_a_time_and_an_expired_lease_is_taken_over() {
        let remote = Arc::new(Remote::from_store(Arc::new(InMemory::new()), "memory://l", Cloud::S3));
        let ttl = Duration::from_secs(60);
        let first = acquire(&remote, "_hivewatch/lease/x.json", "test", ttl).await.unwrap();
        let second = acquire(&remote, "_hivewatch/lease/x.json", "test", ttl).await.unwrap_err();
        assert_eq!(second.kind, RemoteErrorKind::LeaseHeld);
        assert!(second.message.contains("pid"), "{second}");
        first.release().await.unwrap();
        let third = acquire(&remote, "_hivewatch/lease/x.json", "test", ttl).await.unwrap();
        third.renewer.abort();

        // A holder that died: its lease expired; the next one takes it over.
        let stale = LeaseBody {
            holder: "gone pid 1".into(),
            purpose: "test".into(),
            acquired_at: Utc::now() - chrono::Duration::hours(2),
            expires_at: Utc::now() - chrono::Duration::hours(1),
        };
        remote
            .put_bytes("_hivewatch/lease/y.json", serde_json::to_vec(&stale).unwrap(), PutMode::Overwrite)
            .await
            .unwrap()
            .unwrap();
        let taken = acquire(&remote, "_hivewatch/lease/y.json", "test", ttl).await.unwrap();
        let (bytes, _, _) = remote.get_bytes("_hivewatch/lease/y.json").await.unwrap().unwrap();
        let now: LeaseBody = serde_json::from_slice(&bytes).unwrap();
        assert!(now.holder.contains(&std::process::id().to_string()));
        taken.release().await.unwrap();
        assert!(remote.get_bytes("_hivewatch/lease/y.json").await.unwrap().is_none());
    }

    /// Issue 26, item 10: a lease whose body says it lasts until 2999 blocked every night.
    #[test]
    fn a_lease_lapses_one_period_after_its_last_write_whatever_its_body_says() {
        let ttl = Duration::from_secs(600);
        let now = Utc::now();
        let body = LeaseBody {
            holder: "h pid 1".into(),
            purpose: "test".into(),
            acquired_at: now,
            expires_at: "2999-01-01T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(lapses(&body, now, ttl), now + chrono::Duration::minutes(10));
        assert!(lapses(&body, now - chrono::Duration::hours(1), ttl) < now);
        let renewed = LeaseBody { expires_at: now + chrono::Duration::minutes(5), ..body };
        assert_eq!(lapses(&renewed, now, ttl), renewed.expires_at);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_taken_behind_the_holder_is_noticed() {
        let remote = Arc::new(Remote::from_store(Arc::new(InMemory::new()), "memory://l", Cloud::S3));
        let lease = acquire(&remote, "k.json", "test", Duration::from_secs(40)).await.unwrap();
        // Someone overwrites it (as after an expiry); the next renewal's precondition fails.
        remote.put_bytes("k.json", b"{}".to_vec(), PutMode::Overwrite).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_secs(11)).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(lease.lost());
        lease.release().await.unwrap();
        assert!(remote.get_bytes("k.json").await.unwrap().is_some(), "a lost lease is not deleted");
    }
}
