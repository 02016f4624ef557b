//! A member's signed manifest: how the coordinator tells a member's publication from an
//! impostor's, and from files changed or cut after they were published.
//!
//! Each member holds a secret shared with the coordinator only (`[consortium] secret_env` names
//! the variable on the member's machine, `secrets_env` one per member on the coordinator's; the
//! secret is never written anywhere). When a member publishes a night it writes, beside its
//! files, `members/member=<name>/manifests/run_date=D/<run_id>.json`: the member's name, the
//! run id and date, the SHA-256 of every file it publishes (its `responses`, `probes` and `runs`
//! row) and an HMAC-SHA256 of all of that under its secret. The manifest is published before
//! the `runs` row, so a listed run always has one. Before the union the coordinator checks it
//! with that member's secret: the MAC, that it names this member, run and date, and that every
//! file it reads hashes as signed. A member failing any of it is `excluded` with the reason.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::plan::runs::{RunRow, RunsTable};
use crate::secrets::SecretKey;
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};

/// What the manifest's `format` says (a change of what is signed changes it).
pub const FORMAT: &str = "hivewatch-member-manifest/1";

/// The manifest of a member's run, under the member's folder.
pub fn key(date: NaiveDate, run_id: &str) -> String {
    format!("manifests/run_date={}/{run_id}.json", date.format("%Y-%m-%d"))
}

/// A member's signed account of one published night.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub member: String,
    pub run_id: String,
    pub run_date: NaiveDate,
    /// Each published file, by its key under the member's folder, with the SHA-256 of its bytes.
    pub files: BTreeMap<String, String>,
    /// Hex HMAC-SHA256 of everything above under the member's secret.
    pub mac: String,
}

impl Manifest {
    /// Signs `files` (key under the member's folder, local path) as `member`'s run.
    pub fn sign(
        member: &str,
        secret: &SecretKey,
        run_id: &str,
        run_date: NaiveDate,
        files: &[(String, PathBuf)],
    ) -> std::io::Result<Manifest> {
        let mut hashed = BTreeMap::new();
        for (key, path) in files {
            hashed.insert(key.clone(), sha256_file(path)?);
        }
        let mut m = Manifest {
            format: FORMAT.into(),
            member: member.into(),
            run_id: run_id.into(),
            run_date,
            files: hashed,
            mac: String::new(),
        };
        m.mac = hex::encode(secret.sign(&m.signed_bytes()));
        Ok(m)
    }

    /// The bytes the MAC covers: one field a line, then one `key sha256` line per file.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut s = format!("{}\n{}\n{}\n{}\n", self.format, self.member, self.run_id, self.run_date);
        for (key, hash) in &self.files {
            s.push_str(&format!("{key} {hash}\n"));
        }
        s.into_bytes()
    }
}

/// SHA-256 of a file's bytes, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// A file's key under `root` (`/`-separated).
pub fn key_under(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Seals a member's night under `output` (the member's folder, or its mirror): writes the `runs`
/// row under a temporary name, signs it with `files` (the night's `responses` and `probes`,
/// already written), writes the manifest, then renames the row into place. Returns the
/// manifest and the `runs` row, in the order to publish them (the row last).
pub fn seal(
    output: &Output,
    member: &str,
    secret: &SecretKey,
    run: &RunRef,
    row: &RunRow,
    files: &[PathBuf],
) -> Result<Vec<PathBuf>, StoreError> {
    let runs_path = table::path::<RunsTable>(output, run);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    let staged = crate::store::temporary_path(&runs_path).with_extension("staged");
    table::write_file::<RunsTable>(&staged, run, std::slice::from_ref(row))?;
    let mut signed: Vec<(String, PathBuf)> = files.iter().map(|p| (key_under(output.root(), p), p.clone())).collect();
    signed.push((key_under(output.root(), &runs_path), staged.clone()));
    let manifest = Manifest::sign(member, secret, &run.id, run.date, &signed).map_err(io(&staged))?;
    let manifest_path = output.root().join(key(run.date, &run.id));
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    crate::store::write_atomic(&manifest_path, |f| std::io::Write::write_all(f, &json)).map_err(io(&manifest_path))?;
    std::fs::rename(&staged, &runs_path).map_err(io(&runs_path))?;
    Ok(vec![manifest_path, runs_path])
}

/// Checks a member's publication of `run_id` on `date` against its manifest (`manifest`: the
/// local copy, `None` when none was published) under the member's `secret`: the MAC, that it
/// names this member, run and date, and that each of `files` (key under the member's folder,
/// local path) hashes as signed. The error says why, for `member_runs.note`.
pub fn verify(
    member: &str,
    secret: Option<&SecretKey>,
    date: NaiveDate,
    run_id: &str,
    manifest: Option<&Path>,
    files: &[(String, PathBuf)],
) -> Result<Manifest, String> {
    let key = key(date, run_id);
    let Some(secret) = secret else {
        return Err(format!("the coordinator holds no secret for {member} (secrets_env)"));
    };
    let Some(path) = manifest else {
        return Err(format!("it published run {run_id} with no signed manifest ({key})"));
    };
    let m: Manifest = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("its manifest {key} cannot be read: {e}"))?;
    if m.format != FORMAT {
        return Err(format!("its manifest {key} is of format {:?}, not {FORMAT:?}", m.format));
    }
    let mac = hex::decode(&m.mac).unwrap_or_default();
    if !secret.verify(&m.signed_bytes(), &mac) {
        return Err(format!(
            "its manifest {key} is not signed with {member}'s secret: published by someone else, or the member's secret differs from the coordinator's"
        ));
    }
    if (m.member.as_str(), m.run_id.as_str(), m.run_date) != (member, run_id, date) {
        return Err(format!("its manifest {key} is {}'s run {} of {}, copied here", m.member, m.run_id, m.run_date));
    }
    for (key, path) in files {
        m.check_file(key, path)?;
    }
    Ok(m)
}

impl Manifest {
    /// Whether it signs `key` (a key under the member's folder).
    pub fn signs(&self, key: &str) -> bool {
        self.files.contains_key(key)
    }

    /// Checks that the file published as `key` (local copy `path`) hashes as signed.
    pub fn check_file(&self, key: &str, path: &Path) -> Result<(), String> {
        let Some(signed) = self.files.get(key) else {
            return Err(format!("its manifest does not sign {key}"));
        };
        let hash = sha256_file(path).map_err(|e| format!("{key} cannot be read: {e}"))?;
        if &hash != signed {
            return Err(format!("{key} is not the file it signed (changed or cut after it was published)"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_checks_out_only_for_its_member_secret_run_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.parquet");
        std::fs::write(&file, b"rows").unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let secret = SecretKey::new("a-secret-of-lab-a-0123456789".into());
        let files = vec![("responses/run_date=2026-01-05/r1.parquet".to_owned(), file.clone())];
        let m = Manifest::sign("lab-a", &secret, "r1", date, &files).unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(verify("lab-a", Some(&secret), date, "r1", Some(&path), &files).is_ok());
        let other = SecretKey::new("a-secret-of-lab-b-0123456789".into());
        let e = verify("lab-a", Some(&other), date, "r1", Some(&path), &files).unwrap_err();
        assert!(e.contains("not signed with lab-a's secret"), "{e}");
        let e = verify("lab-b", Some(&secret), date, "r1", Some(&path), &files).unwrap_err();
        assert!(e.contains("lab-a's run r1"), "{e}");
        let e = verify("lab-a", Some(&secret), date, "r2", Some(&path), &files).unwrap_err();
        assert!(e.contains("copied"), "{e}");
        assert!(verify("lab-a", Some(&secret), date, "r1", None, &files).unwrap_err().contains("no signed manifest"));
        std::fs::write(&file, b"row").unwrap();
        let e = verify("lab-a", Some(&secret), date, "r1", Some(&path), &files).unwrap_err();
        assert!(e.contains("not the file it signed"), "{e}");
        assert!(!std::fs::read_to_string(&path).unwrap().contains(secret.expose()));
    }
}
