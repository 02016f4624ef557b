//! A MiniLM model named by its Hugging Face Hub id (`sentence-transformers/all-MiniLM-L6-v2`),
//! fetched once into a local cache, for users with internet; everything else reads a folder.
//!
//! Three files are fetched from `{HF_ENDPOINT or https://huggingface.co}/{repo}/resolve/{revision}/`
//! into `{cache}/{owner}--{name}/{revision}/`, each written to a part file and renamed when
//! whole, so an interrupted fetch never leaves a file that looks complete. Once the three are
//! there no request is made again (delete the folder to fetch anew). `HF_TOKEN`, when set, is
//! sent for gated or private models and never written anywhere. The cache is
//! `$HIVEWATCH_MODEL_CACHE`, else `$XDG_CACHE_HOME/hivewatch/models`, else
//! `~/.cache/hivewatch/models`.
//!
//! Written here rather than with the `hf-hub` crate: its 0.4 line brings reqwest 0.12 and
//! indicatif 0.17 beside this project's 0.13 and 0.18, a second HTTP stack for three GETs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};

pub use crate::config::HubModel;
use crate::embed::EmbedError;
use crate::secrets::SecretKey;

/// The files MiniLM reads from its folder.
pub const FILES: [&str; 3] = [super::FILES[0].0, super::FILES[1].0, super::FILES[2].0];

/// Where a model's files are kept under `cache`: `<owner>--<name>/<revision>`.
pub fn folder(model: &HubModel, cache: &Path) -> PathBuf {
    cache.join(model.repo.replace('/', "--")).join(&model.revision)
}

/// The cache folder for fetched models (see the module documentation).
pub fn cache_root() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HIVEWATCH_MODEL_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("hivewatch/models")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/hivewatch/models")))
        .unwrap_or_else(|| PathBuf::from(".hivewatch-models"))
}

/// The local folder holding `model`'s files, fetched first if any is missing.
pub fn fetch(model: &HubModel) -> Result<PathBuf, EmbedError> {
    let folder = folder(model, &cache_root());
    if FILES.iter().all(|f| folder.join(f).is_file()) {
        return Ok(folder);
    }
    let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()).map(SecretKey::new);
    let problem = |problem: String| EmbedError::Model { path: folder.clone(), problem };
    std::fs::create_dir_all(&folder).map_err(|e| problem(format!("cannot create the model cache folder: {e}")))?;
    // Its own runtime on its own thread: callers may or may not be inside one.
    std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| problem(format!("cannot start the download: {e}")))?;
            runtime.block_on(async {
                let client = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(30))
                    .read_timeout(Duration::from_secs(120))
                    .build()
                    .map_err(|e| problem(format!("cannot build an HTTP client: {e}")))?;
                for file in FILES.iter().filter(|f| !folder.join(f).is_file()) {
                    let url =
                        format!("{}/{}/resolve/{}/{file}", endpoint.trim_end_matches('/'), model.repo, model.revision);
                    tracing::info!(%url, "fetching a model file");
                    download(&client, &url, token.as_ref(), &folder.join(file)).await.map_err(problem)?;
                }
                Ok(folder.clone())
            })
        })
        .join()
        .expect("the download thread does not panic")
    })
}

/// GETs `url` into `dest`, through a part file renamed when whole.
async fn download(client: &reqwest::Client, url: &str, token: Option<&SecretKey>, dest: &Path) -> Result<(), String> {
    let mut request = client.get(url);
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| "HF_TOKEN holds characters a header cannot carry".to_owned())?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    let mut response = request.send().await.map_err(|e| {
        format!(
            "cannot reach {url}: {e}; without internet, download the model elsewhere and set model_dir to its folder"
        )
    })?;
    let status = response.status();
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => "the model may be gated or private: set HF_TOKEN to a token that can read it",
            404 => "check the model id and revision, and that the model has this file",
            _ => "try again later, or set model_dir to a folder with the files",
        };
        return Err(format!("{url} answered {status}: {hint}"));
    }
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // This process's own part file: two processes fetching at once do not write into one file.
    let part = dest.with_file_name(format!("{name}.{}.part", std::process::id()));
    let write_error = |e: std::io::Error| format!("cannot write {}: {e}", part.display());
    let mut file = std::fs::File::create(&part).map_err(write_error)?;
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: the download broke off: {e}"))? {
        file.write_all(&chunk).map_err(write_error)?;
    }
    file.sync_all().map_err(write_error)?;
    std::fs::rename(&part, dest).map_err(|e| format!("cannot move {} into place: {e}", part.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_revisions_are_checked() {
        let m = HubModel::new("sentence-transformers/all-MiniLM-L6-v2", "main").unwrap();
        assert_eq!(folder(&m, Path::new("/c")), Path::new("/c/sentence-transformers--all-MiniLM-L6-v2/main"));
        for bad in ["all-MiniLM-L6-v2", "a/b/c", "../x", "a/..", "a b/c", "/x", ""] {
            assert!(HubModel::new(bad, "main").is_err(), "{bad}");
        }
        assert!(HubModel::new("a/b", "refs/pr/1").is_err());
        assert!(HubModel::new("a/b", "5e2b1b3").is_ok());
    }
}
