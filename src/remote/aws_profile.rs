//! Static keys of an AWS shared profile (`~/.aws/credentials`, `AWS_PROFILE`), which
//! object_store does not read itself. Only what an INI file of static keys holds:
//! `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, and the region from
//! `~/.aws/config`. SSO, assumed-role and process profiles are not resolved here: the error says
//! to export their keys with `aws configure export-credentials`.
//!
//! The keys are held in memory for the client and never written anywhere.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::secrets::SecretKey;

/// A profile's static keys.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: SecretKey,
    pub session_token: Option<SecretKey>,
    /// From the profile (credentials or config file), used when neither `AWS_REGION` nor
    /// `AWS_DEFAULT_REGION` is set.
    pub region: Option<String>,
}

/// The profile to use, if keys are not in the environment already. `None`: no profile applies
/// (object_store's own chain goes on: web identity, container and instance credentials). An
/// error (its message) when `AWS_PROFILE` names a profile with no static keys.
pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Profile>, String> {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    if set("AWS_ACCESS_KEY_ID")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        return Ok(None);
    }
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        env(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let explicit = env("AWS_PROFILE").filter(|p| !p.trim().is_empty());
    let name = explicit.clone().unwrap_or_else(|| "default".into());
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let config = file("AWS_CONFIG_FILE", "config").and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let creds = sections(&credentials);
    let confs = sections(&config);
    let in_creds = creds.get(name.as_str());
    // ~/.aws/config names sections "profile NAME" (but "default" as is).
    let conf_name = if name == "default" { "default".to_owned() } else { format!("profile {name}") };
    let in_conf = confs.get(conf_name.as_str());
    let get = |key: &str| in_creds.and_then(|s| s.get(key)).or_else(|| in_conf.and_then(|s| s.get(key))).cloned();
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some(Profile {
            name,
            access_key_id: id,
            secret_access_key: SecretKey::new(secret),
            session_token: get("aws_session_token").map(SecretKey::new),
            region: if set("AWS_REGION") || set("AWS_DEFAULT_REGION") { None } else { get("region") },
        })),
        _ if explicit.is_some() => Err(format!(
            "AWS_PROFILE={name}: no static keys (aws_access_key_id, aws_secret_access_key) for that profile in ~/.aws/credentials or ~/.aws/config; for SSO, role or process profiles export the keys first: eval \"$(aws configure export-credentials --profile {name} --format env)\""
        )),
        _ => Ok(None),
    }
}

/// `[section]` -> key -> value of an INI file (comments `#` and `;`, keys lower-cased).
fn sections(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone()).or_default().insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(dir: &std::path::Path, vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        map.insert("HOME".into(), dir.display().to_string());
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_named_profile_gives_its_keys_and_region() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s0\n\n[lab]\n# comment\naws_access_key_id=AKLAB\naws_secret_access_key = s1\naws_session_token = t1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".aws/config"),
            "[profile lab]\nregion = eu-west-3\n[profile sso]\nsso_start_url = x\n",
        )
        .unwrap();

        let p = load(&env_with(dir.path(), &[("AWS_PROFILE", "lab")])).unwrap().unwrap();
        assert_eq!((p.access_key_id.as_str(), p.secret_access_key.expose()), ("AKLAB", "s1"));
        assert_eq!(p.session_token.unwrap().expose(), "t1");
        assert_eq!(p.region.as_deref(), Some("eu-west-3"));
        assert!(
            !format!("{:?}", load(&env_with(dir.path(), &[("AWS_PROFILE", "lab")]))).contains("s1"),
            "never printed"
        );

        let d = load(&env_with(dir.path(), &[])).unwrap().unwrap();
        assert_eq!(d.access_key_id, "AKDEFAULT");
        // Keys in the environment win: no profile is read.
        assert!(load(&env_with(dir.path(), &[("AWS_ACCESS_KEY_ID", "AKENV")])).unwrap().is_none());
        // A region in the environment wins over the profile's.
        let p = load(&env_with(dir.path(), &[("AWS_PROFILE", "lab"), ("AWS_REGION", "us-east-2")])).unwrap().unwrap();
        assert_eq!(p.region, None);

        let e = load(&env_with(dir.path(), &[("AWS_PROFILE", "sso")])).unwrap_err();
        assert!(e.contains("export-credentials --profile sso"), "{e}");
        assert!(load(&env_with(tempfile::tempdir().unwrap().path(), &[])).unwrap().is_none());
    }
}
