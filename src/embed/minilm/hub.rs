//! A MiniLM model named by its Hugging Face Hub id (`sentence-transformers/all-MiniLM-L6-v2`),
//! fetched once into a local cache, for users with internet; everything else reads a folder.
//!
//! Three files are fetched from `{HF_ENDPOINT or https://huggingface.co}/{repo}/resolve/{revision}/`
//! into `{cache}/{owner}--{name}/{revision}/`, each written to a part file and renamed when
//! whole and checked (the JSON files parse, the weights have a safetensors header that fits the
//! file), so an interrupted fetch or an HTML page (a login wall, a proxy) never leaves a file
//! that looks complete. Each file has a size cap ([`max_bytes`]): an endless mirror cannot
//! fill the disk. Once the three are there no request is made again (delete the folder to
//! fetch anew); a cached file that fails the same check is named, to be deleted. `HF_TOKEN`, when set, is
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

/// The most bytes a file may have: far above all-MiniLM-L6-v2's (about 0.6 KB, 0.5 MB and
/// 91 MB), so larger BERT models still fit, yet bounded.
pub fn max_bytes(file: &str) -> u64 {
    match file {
        "config.json" => 1 << 20,
        "tokenizer.json" => 64 << 20,
        _ => 2 << 30,
    }
}

/// Checks a model file's content as what it must be: JSON for the two JSON files, and for the
/// weights a safetensors header (8-byte length, a JSON table) whose tensors lie inside the file.
pub fn check_file(file: &str, path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if file != "model.safetensors" {
        let value: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(f))
            .map_err(|e| format!("not JSON ({e}): an HTML page (a login wall, a proxy's error) or a broken mirror?"))?;
        if !value.is_object() {
            return Err("JSON, but not an object".into());
        }
        // What the model's loader will read of it, checked before the file counts as fetched:
        // any JSON object from a mirror is not a configuration or a tokenizer.
        return match file {
            "config.json" => serde_json::from_value::<super::bert::BertConfig>(value)
                .map(|_| ())
                .map_err(|e| format!("a JSON object, but not a BERT configuration ({e}): a broken mirror?")),
            "tokenizer.json" => serde_json::to_string(&value)
                .map_err(|e| e.to_string())
                .and_then(|text| text.parse::<tokenizers::Tokenizer>().map(|_| ()).map_err(|e| e.to_string()))
                .map_err(|e| format!("a JSON object, but not a tokenizer ({e}): a broken mirror?")),
            _ => Ok(()),
        };
    }
    let mut word = [0u8; 8];
    f.read_exact(&mut word).map_err(|_| "shorter than a safetensors header".to_owned())?;
    let n = u64::from_le_bytes(word);
    if n == 0 || n > 100 << 20 || 8 + n > len {
        return Err(format!(
            "no safetensors header (it announces {n} bytes of header in a file of {len}): an HTML page or a cut download?"
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| e.to_string())?;
    let table: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("its safetensors header is not a JSON table: {e}"))?;
    let data = len - 8 - n;
    for (name, tensor) in table.iter().filter(|(name, _)| *name != "__metadata__") {
        let end = tensor.pointer("/data_offsets/1").and_then(serde_json::Value::as_u64);
        if end.is_none_or(|end| end > data) {
            return Err(format!("tensor {name} lies past the end of the file (a cut download?)"));
        }
    }
    Ok(())
}

/// The local folder holding `model`'s files, fetched first if any is missing.
pub fn fetch(model: &HubModel) -> Result<PathBuf, EmbedError> {
    let folder = folder(model, &cache_root());
    if FILES.iter().all(|f| folder.join(f).is_file()) {
        for file in FILES {
            let path = folder.join(file);
            check_file(file, &path).map_err(|problem| EmbedError::Model {
                path: path.clone(),
                problem: format!("{problem}; delete {} and hivewatch fetches it again on the next run", path.display()),
            })?;
        }
        return Ok(folder);
    }
    remove_dead_parts(&folder);
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
                    download(&client, &url, token.as_ref(), &folder.join(file), max_bytes(file))
                        .await
                        .map_err(problem)?;
                }
                Ok(folder.clone())
            })
        })
        .join()
        .expect("the download thread does not panic")
    })
}

/// Removes part files (`<file>.<pid>.part`) that processes no longer running left in `folder`.
fn remove_dead_parts(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_suffix(".part").and_then(|n| n.rsplit_once('.')).and_then(|(_, pid)| pid.parse().ok());
        if pid.is_some_and(|pid| !crate::store::process_alive(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// GETs `url` into `dest` (at most `cap` bytes), through a part file that is checked
/// ([`check_file`]) and renamed when whole; removed otherwise.
async fn download(
    client: &reqwest::Client,
    url: &str,
    token: Option<&SecretKey>,
    dest: &Path,
    cap: u64,
) -> Result<(), String> {
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
    let too_large =
        || format!("{url} sends more than {cap} bytes, more than any such file has: a broken mirror? nothing was kept");
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // This process's own part file: two processes fetching at once do not write into one file.
    let part = dest.with_file_name(format!("{name}.{}.part", std::process::id()));
    let result = async {
        let write_error = |e: std::io::Error| format!("cannot write {}: {e}", part.display());
        let mut file = std::fs::File::create(&part).map_err(write_error)?;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: the download broke off: {e}"))? {
            written += chunk.len() as u64;
            if written > cap {
                return Err(too_large());
            }
            file.write_all(&chunk).map_err(write_error)?;
        }
        file.sync_all().map_err(write_error)?;
        check_file(&name, &part)
            .map_err(|problem| format!("what {url} sent is not {name}: {problem}; nothing was kept"))?;
        std::fs::rename(&part, dest).map_err(|e| format!("cannot move {} into place: {e}", part.display()))
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
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

    /// Issue 16, item 15: an HTML login page saved as the model files counted as fetched.
    #[test]
    fn model_files_are_checked_for_what_they_must_be() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let html = b"<!doctype html><html><body>Sign in to continue</body></html>";
        std::fs::write(&path, html).unwrap();
        for file in FILES {
            assert!(check_file(file, &path).is_err(), "{file}");
        }
        // Issue 26, item 13: any JSON object passed as config.json.
        std::fs::write(&path, b"{\"hidden_size\": 384}").unwrap();
        assert!(check_file("config.json", &path).unwrap_err().contains("not a BERT configuration"));
        assert!(check_file("tokenizer.json", &path).unwrap_err().contains("not a tokenizer"));
        let config = br#"{"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512, "type_vocab_size": 2}"#;
        std::fs::write(&path, config).unwrap();
        assert!(check_file("config.json", &path).is_ok());
        let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut weights = (header.len() as u64).to_le_bytes().to_vec();
        weights.extend_from_slice(header);
        weights.extend_from_slice(&[0u8; 8]);
        std::fs::write(&path, &weights).unwrap();
        assert!(check_file("model.safetensors", &path).is_ok());
        std::fs::write(&path, &weights[..weights.len() - 4]).unwrap();
        assert!(check_file("model.safetensors", &path).unwrap_err().contains("past the end"));
    }
}
