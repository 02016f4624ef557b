//! Where the tables go (`[run] output`, `[run] state_dir`) and a consortium member's or
//! coordinator's role (`[consortium]`).
//!
//! `output` is a folder (a plain path, or a `file://` URL: the same thing) or an object-store
//! URL: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (also `abfs://`,
//! `abfss://`, `s3a://`). Credentials never go in the URL: each cloud's own environment
//! variables hold them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

use crate::input::InputError;
use crate::secrets::SecretKey;

/// Where a run writes its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLocation {
    /// A folder on a local (or mounted) disk.
    Dir(PathBuf),
    /// An object-store URL, normalised (no trailing slash).
    Url(String),
}

/// The object-store schemes an output URL may use.
pub const URL_SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss"];

impl OutputLocation {
    /// Parses what a person wrote: a URL with a known scheme, a `file://` URL, or a path
    /// (relative paths resolved with `resolve`). The error is (message, hint).
    pub fn parse(text: &str, resolve: &dyn Fn(&str) -> PathBuf) -> Result<Self, (String, String)> {
        let text = text.trim();
        if text.is_empty() {
            return Err((
                "output is empty".into(),
                "name a folder, e.g. \"reports\", or a URL such as \"s3://bucket/hivewatch\"".into(),
            ));
        }
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(OutputLocation::Dir(resolve(text)));
        };
        let scheme = scheme.to_ascii_lowercase();
        // Checked first, so no message below repeats a credential.
        if let Ok(url) = reqwest::Url::parse(text)
            && (!url.username().is_empty()
                || url.password().is_some()
                || url.query().is_some()
                || url.fragment().is_some())
        {
            return Err((
                "the output URL carries credentials, a query or a fragment".into(),
                "write only scheme://bucket/prefix: credentials come from the cloud's environment variables (README, \"Consortium\"), never from the file".into(),
            ));
        }
        if scheme == "file" {
            let url = reqwest::Url::parse(text).map_err(|e| {
                (format!("output {text:?} is not a URL: {e}"), "write file:///absolute/path, or the path alone".into())
            })?;
            let path = url.to_file_path().map_err(|_| {
                (
                    format!("output {text:?} is not a local file URL"),
                    "write file:///absolute/path, or the path alone".into(),
                )
            })?;
            return Ok(OutputLocation::Dir(path));
        }
        if !URL_SCHEMES.contains(&scheme.as_str()) {
            return Err((
                format!("output {text:?}: the scheme {scheme}:// is not one hivewatch can write to"),
                "use a folder, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix".into(),
            ));
        }
        let url = reqwest::Url::parse(text)
            .map_err(|e| (format!("output {text:?} is not a URL: {e}"), "write it as s3://bucket/prefix".into()))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err((format!("output {text:?} names no bucket"), "write it as s3://bucket/prefix".into()));
        }
        if text.split('/').skip(3).any(|s| s == "." || s == "..") {
            return Err((
                format!("output {text:?}: a prefix may not contain . or .. segments"),
                "write the prefix in full".into(),
            ));
        }
        Ok(OutputLocation::Url(text.trim_end_matches('/').to_owned()))
    }

    /// The local folder, if the output is one.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            OutputLocation::Dir(p) => Some(p),
            OutputLocation::Url(_) => None,
        }
    }

    /// The output as people write it (the path, or the URL).
    pub fn display(&self) -> String {
        match self {
            OutputLocation::Dir(p) => p.display().to_string(),
            OutputLocation::Url(u) => u.clone(),
        }
    }
}

impl std::fmt::Display for OutputLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Serialised as the path or URL alone, so the configuration's content hash of a folder output
/// is what it was when `output` was a plain path.
impl Serialize for OutputLocation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutputLocation::Dir(p) => p.serialize(s),
            OutputLocation::Url(u) => u.serialize(s),
        }
    }
}

/// `[output]`: what a night's tables keep beyond what the queries, the trends, the alerts and
/// the report read. Not part of the content hash: what is stored does not change what is
/// measured, so changing it never turns tonight's unfinished run into a new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputOptions {
    /// `pair_categories`: whether `pair_similarity` holds a row per model pair and category
    /// beside the pair's overall row.
    #[serde(default)]
    pub pair_categories: PairCategories,
    /// `lexical_embeddings`: whether a night embedded by `lexical` writes its `embeddings`.
    #[serde(default)]
    pub lexical_embeddings: LexicalEmbeddings,
}

/// `[output] lexical_embeddings`: the `embeddings` table of a night embedded by `lexical`. Its
/// vectors are a pure function of the text, fixed bit for bit, and computed at 60,000 texts a
/// second or more: the measure stage (the only stage that reads a lexical run's vectors; the
/// trend stage through it, measuring an earlier run on tonight's panel) computes them again
/// from `responses` when the file is not there, and measures exactly what it would have read.
/// They are most of a night's bytes (2,048 float32 a answer, 1.6 kB compressed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LexicalEmbeddings {
    /// Written, as for every other embedder.
    #[default]
    Stored,
    /// Not written; computed again from `responses` wherever they are read.
    Recomputed,
}

/// `[output] pair_categories`: the per-category rows of `pair_similarity`. Nothing in hivewatch
/// reads them (lineage, the report, the trends and the alerts read the overall rows); they are
/// for an analyst asking which topics two models agree on, and they grow as models squared
/// times categories: 1.5 million rows at 500 models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairCategories {
    /// Written for a night of at most [`PAIR_CATEGORIES_AUTO_MAX`] models.
    #[default]
    Auto,
    Always,
    Never,
}

/// The most models a night may have for `pair_categories = "auto"` to write the per-category
/// pair rows (4,950 pairs, about 60,000 rows with the core suite's 11 categories).
pub const PAIR_CATEGORIES_AUTO_MAX: usize = 100;

impl PairCategories {
    /// Whether a night of `models` models writes its per-category pair rows.
    pub fn keep(self, models: usize) -> bool {
        match self {
            PairCategories::Auto => models <= PAIR_CATEGORIES_AUTO_MAX,
            PairCategories::Always => true,
            PairCategories::Never => false,
        }
    }
}

/// `[consortium]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsortium {
    /// This machine's member name: `hivewatch run --collect-only` publishes under it.
    pub member: Option<Spanned<String>>,
    /// The members a coordinator's `hivewatch analyze --date` waits for.
    #[serde(default)]
    pub members: Vec<Spanned<String>>,
    /// A member's: the environment variable holding the secret it signs its publications with.
    pub secret_env: Option<Spanned<String>>,
    /// A coordinator's: each member's secret, by the variable holding it.
    #[serde(default)]
    pub secrets_env: std::collections::BTreeMap<String, Spanned<String>>,
    /// A member's: who embeds its answers and extracts their features, `"coordinator"` (the
    /// default) or `"member"` (it publishes `embeddings` and `features` beside its responses).
    pub embed: Option<Spanned<String>>,
}

/// Who embeds a member's answers and extracts their features (`[consortium] embed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedBy {
    /// The coordinator, over the union (as before the key existed).
    #[default]
    Coordinator,
    /// The member, after collecting, with the consortium's `[embed]`: it publishes `embeddings`
    /// and `features` beside its `responses`, and the coordinator checks and uses them.
    Member,
}

/// A consortium role: a member collecting with its own keys, a coordinator analysing the union,
/// or both. Empty outside a consortium.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Consortium {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// A member's `embed`. Left out of the content hash when it is the default, so a
    /// configuration without the key keeps its hash.
    #[serde(skip_serializing_if = "is_coordinator")]
    pub embed: EmbedBy,
    /// A member's `secret_env`. Secrets and their variables are not part of the content hash:
    /// renaming a variable must not turn tonight's unfinished run into a new one.
    #[serde(skip)]
    pub secret_env: Option<String>,
    /// A coordinator's `secrets_env`: (member, variable), one per member.
    #[serde(skip)]
    pub secrets_env: Vec<(String, String)>,
    /// The member's secret, filled by [`crate::config::Config::resolve_keys`].
    #[serde(skip)]
    pub secret: Option<SecretKey>,
    /// Each member's secret on the coordinator, filled by `resolve_keys`.
    #[serde(skip)]
    pub secrets: Vec<(String, SecretKey)>,
}

fn is_coordinator(e: &EmbedBy) -> bool {
    *e == EmbedBy::Coordinator
}

impl Consortium {
    pub fn is_empty(&self) -> bool {
        self.member.is_none() && self.members.is_empty()
    }

    /// The secret `member` signs with, as the coordinator holds it.
    pub fn secret_of(&self, member: &str) -> Option<&SecretKey> {
        self.secrets.iter().find(|(m, _)| m == member).map(|(_, s)| s)
    }
}

/// Looks up the consortium's secrets with `secret` (the configuration's lookup of any secret:
/// a missing variable is reported with the rest).
pub fn resolve_secrets(c: &mut Consortium, secret: &mut dyn FnMut(&str, String) -> Option<SecretKey>) {
    if let Some(var) = &c.secret_env {
        c.secret = secret(var, format!("{var} ([consortium] secret_env)"));
    }
    c.secrets = (c.secrets_env.iter())
        .filter_map(|(m, var)| Some((m.clone(), secret(var, format!("{var} ([consortium] secrets_env, {m})"))?)))
        .collect();
}

/// Refuses a member's secret too short to be secret (the variables are named, never the values).
pub fn check_secret_lengths(path: &Path, c: &Consortium) -> Result<(), InputError> {
    let var_of = |m: &str| c.secrets_env.iter().find(|(n, _)| n == m).map(|(_, v)| v.as_str());
    let mut short: Vec<&str> =
        (c.secrets.iter()).filter(|(_, s)| s.expose().len() < MIN_SECRET_LEN).filter_map(|(m, _)| var_of(m)).collect();
    if c.secret.as_ref().is_some_and(|s| s.expose().len() < MIN_SECRET_LEN) {
        short.extend(c.secret_env.as_deref());
    }
    if short.is_empty() {
        return Ok(());
    }
    Err(InputError::new(
        path,
        None,
        format!(
            "these variables hold a consortium member's secret of fewer than {MIN_SECRET_LEN} characters, which anyone could guess: {}",
            short.join(", ")
        ),
    )
    .hint("make one with `openssl rand -hex 32` and give the same to the member and the coordinator"))
}

/// Shortest secret a member may sign with: a guessable one would let anyone sign as it.
pub const MIN_SECRET_LEN: usize = 16;

/// Checks `[consortium]`'s secrets: a member names the variable of the secret it signs with, a
/// coordinator one variable per member (and none for anyone else). `line` is where
/// `[consortium]` starts.
pub fn parse_secrets(
    raw: &RawConsortium,
    consortium: &mut Consortium,
    path: &Path,
    line: Option<usize>,
    err: super::endpoint::ErrAt,
) -> Result<(), InputError> {
    let make = "make one with `openssl rand -hex 32`, give it to the coordinator, and export it in the variable; the secret never goes in a file";
    if consortium.member.is_some() {
        let Some(var) = &raw.secret_env else {
            return Err(InputError::new(path, line, "a consortium member signs what it publishes, and [consortium] names no secret_env")
                .hint(format!("add secret_env = \"HIVEWATCH_MEMBER_SECRET\" (the NAME of the variable holding the member's secret); {make}")));
        };
        consortium.secret_env = Some(super::endpoint::variable_name(var, "consortium.secret_env", err)?);
    }
    for (member, var) in &raw.secrets_env {
        if !consortium.members.contains(member) {
            return Err(err(var.span(), format!("consortium.secrets_env names {member:?}, which is not in members"))
                .hint("give one variable per member listed in members"));
        }
        let var = super::endpoint::variable_name(var, "consortium.secrets_env", err)?;
        consortium.secrets_env.push((member.clone(), var));
    }
    let unsigned: Vec<&str> =
        consortium.members.iter().filter(|m| !raw.secrets_env.contains_key(*m)).map(String::as_str).collect();
    if !unsigned.is_empty() {
        return Err(InputError::new(
            path,
            line,
            format!("the coordinator checks each member's signature, and secrets_env names no secret for {}", unsigned.join(", ")),
        )
        .hint(format!("add secrets_env = {{ {} = \"LAB_SECRET\" }}: the NAME of the variable holding each member's secret; {make}", unsigned[0])));
    }
    Ok(())
}

/// Longest member name: it is a path segment and a prefix of every endpoint name in the union.
pub const MAX_MEMBER_NAME: usize = 64;

/// Whether `name` may name a member: lower-case ASCII letters, digits, `_` and `-`.
pub fn valid_member_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MEMBER_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Validates `[consortium]`; `err` makes an error at a span.
pub fn parse_consortium<E>(
    raw: &RawConsortium,
    err: &dyn Fn(std::ops::Range<usize>, String) -> E,
    hint: &dyn Fn(E, &str) -> E,
) -> Result<Consortium, E> {
    let check = |name: &Spanned<String>, key: &str| -> Result<String, E> {
        let n = name.get_ref().trim();
        if valid_member_name(n) {
            Ok(n.to_owned())
        } else {
            Err(hint(
                err(name.span(), format!("consortium.{key} {n:?} is not a usable member name")),
                "use 1 to 64 lower-case letters, digits, '_' or '-' (it becomes a partition folder and a prefix of endpoint names)",
            ))
        }
    };
    let member = raw.member.as_ref().map(|m| check(m, "member")).transpose()?;
    let mut members: Vec<String> = Vec::with_capacity(raw.members.len());
    for m in &raw.members {
        let name = check(m, "members")?;
        if members.contains(&name) {
            return Err(hint(
                err(m.span(), format!("consortium.members lists {name:?} twice")),
                "list each member once",
            ));
        }
        members.push(name);
    }
    let embed = match raw.embed.as_ref().map(|e| (e, e.get_ref().trim())) {
        None | Some((_, "coordinator")) => EmbedBy::Coordinator,
        Some((e, "member")) if member.is_none() => {
            return Err(hint(
                err(
                    e.span(),
                    "consortium.embed = \"member\" is a member's setting, and this configuration names no member"
                        .into(),
                ),
                "set it in each member's configuration (with member = \"name\"); the coordinator uses what members publish by itself",
            ));
        }
        Some((_, "member")) => EmbedBy::Member,
        Some((e, other)) => {
            return Err(hint(
                err(e.span(), format!("consortium.embed is {other:?}: it is \"member\" or \"coordinator\"")),
                "embed = \"member\" makes the member embed its answers and extract their features; \"coordinator\" (the default) leaves it to the analysis",
            ));
        }
    };
    Ok(Consortium { member, members, embed, ..Consortium::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<OutputLocation, (String, String)> {
        OutputLocation::parse(t, &|p| Path::new("/etc/hw").join(p))
    }

    #[test]
    fn paths_file_urls_and_object_urls() {
        assert_eq!(parse("reports").unwrap(), OutputLocation::Dir("/etc/hw/reports".into()));
        assert_eq!(parse("file:///data/hw").unwrap(), OutputLocation::Dir("/data/hw".into()));
        assert_eq!(parse("s3://bucket/a/b/").unwrap(), OutputLocation::Url("s3://bucket/a/b".into()));
        assert_eq!(parse("gs://bucket").unwrap(), OutputLocation::Url("gs://bucket".into()));
        assert_eq!(parse("az://container/p").unwrap(), OutputLocation::Url("az://container/p".into()));
    }

    #[test]
    fn credentials_and_unknown_schemes_are_refused() {
        assert!(parse("s3://AKIA:secret@bucket/p").unwrap_err().0.contains("credentials"));
        assert!(parse("s3://bucket/p?X-Amz-Signature=1").unwrap_err().0.contains("credentials"));
        assert!(parse("ftp://host/p").unwrap_err().0.contains("ftp://"));
        assert!(parse("s3:///p").is_err());
        assert!(parse("s3://bucket/../p").is_err());
    }

    #[test]
    fn embed_is_member_or_coordinator_and_a_members_setting() {
        let parse = |t: &str| {
            let raw: RawConsortium = toml::from_str(t).unwrap();
            parse_consortium(&raw, &|_, m: String| m, &|e: String, h: &str| format!("{e} ({h})"))
        };
        assert_eq!(parse("member = \"lab-a\"").unwrap().embed, EmbedBy::Coordinator);
        assert_eq!(parse("member = \"lab-a\"\nembed = \"member\"").unwrap().embed, EmbedBy::Member);
        assert_eq!(parse("member = \"lab-a\"\nembed = \"coordinator\"").unwrap().embed, EmbedBy::Coordinator);
        let e = parse("member = \"lab-a\"\nembed = \"gpu\"").unwrap_err();
        assert!(e.contains("\"member\" or \"coordinator\""), "{e}");
        let e = parse("members = [\"lab-a\"]\nembed = \"member\"").unwrap_err();
        assert!(e.contains("a member's setting"), "{e}");
        // The default stays out of the content hash: a configuration without the key keeps it.
        let plain = serde_json::to_string(&parse("member = \"lab-a\"").unwrap()).unwrap();
        assert!(!plain.contains("embed"), "{plain}");
    }

    #[test]
    fn member_names() {
        assert!(valid_member_name("lab-a_2"));
        for bad in ["", "Lab", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(!valid_member_name(bad), "{bad}");
        }
    }

    #[test]
    fn pair_categories_auto_keeps_them_up_to_100_models() {
        assert!(PairCategories::Auto.keep(100));
        assert!(!PairCategories::Auto.keep(101));
        assert!(PairCategories::Always.keep(500));
        assert!(!PairCategories::Never.keep(2));
        assert_eq!(OutputOptions::default().pair_categories, PairCategories::Auto);
    }

    #[test]
    fn a_folder_serialises_as_its_path() {
        let j = serde_json::to_string(&OutputLocation::Dir("/x/reports".into())).unwrap();
        assert_eq!(j, serde_json::to_string(&PathBuf::from("/x/reports")).unwrap());
    }
}
