//! Notifier and routing configuration (the service's TOML), and secret resolution.
//!
//! ```toml
//! [[notifiers]]
//! name = "team-slack"
//! kind = "slack"
//! webhook_url_env = "EXLOGARE_SLACK_WEBHOOK"     # the webhook URL is the secret
//!
//! [[notifiers]]
//! name = "ops-telegram"
//! kind = "telegram"
//! chat_id = -1001234567890                       # or "@channelname"
//! bot_token_file = "/run/secrets/telegram-bot"
//! # api_base = "https://api.telegram.org"
//!
//! [[notifiers]]
//! name = "ci-room"
//! kind = "matrix"
//! homeserver = "https://matrix.example.org"
//! room_id = "!AbCdEf:example.org"
//! access_token_env = "EXLOGARE_MATRIX_TOKEN"
//!
//! [[notifiers]]
//! name = "console"
//! kind = "console"
//!
//! [[routes]]
//! connection = "gitflic"          # optional; any connection when absent
//! project = "acme/*"              # optional; `owner/name`, `owner/*` or `*`
//! notifiers = ["team-slack", "ci-room"]
//! language = "ru"                 # optional; "en" (default) or "ru": our words in its messages
//! ```
//!
//! Secrets are only ever named here (`*_env`: an environment variable, `*_file`: a file whose
//! trimmed content is the secret). An inline secret (`bot_token = "..."`) is refused by
//! [`NotifierConfig::build`] without its value being kept or shown. The config holds no secret,
//! so printing it (Debug, Serialize) is safe.

use super::console::ConsoleNotifier;
use super::matrix::MatrixNotifier;
use super::slack::SlackNotifier;
use super::telegram::{DEFAULT_API_BASE, TelegramNotifier};
use super::words::Language;
use super::{DEFAULT_TIMEOUT, Notifier};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierKind {
    Slack,
    Telegram,
    Matrix,
    Console,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Slack => "slack",
            NotifierKind::Telegram => "telegram",
            NotifierKind::Matrix => "matrix",
            NotifierKind::Console => "console",
        }
    }
}

/// A Telegram chat: a number or `@channelusername`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatId {
    Id(i64),
    Name(String),
}

/// A secret written inline: accepted by the parser (so its error cannot echo the line), never
/// stored, refused by `build`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineSecret;

impl std::fmt::Debug for InlineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<inline secret, refused>")
    }
}

impl<'de> Deserialize<'de> for InlineSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| InlineSecret)
    }
}

/// One `[[notifiers]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// Unique; routes and metrics use it.
    pub name: String,
    pub kind: NotifierKind,
    /// Per-request timeout in milliseconds (default 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,

    // Slack
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    pub webhook_url: Option<InlineSecret>,

    // Telegram
    /// Default `https://api.telegram.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<ChatId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    pub bot_token: Option<InlineSecret>,

    // Matrix
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homeserver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    pub access_token: Option<InlineSecret>,

    // Console
    /// `stdout` (default) or `stderr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A notifier configuration that cannot be built. Names the variable, file or field; never
/// contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "notifier `{notifier}`: environment variable `{var}` (named by `{field}`) is not set or is empty"
    )]
    MissingEnv {
        notifier: String,
        field: String,
        var: String,
    },
    #[error("notifier `{notifier}`: cannot read the secret file `{}` (named by `{field}`): {reason}", path.display())]
    SecretFile {
        notifier: String,
        field: String,
        path: PathBuf,
        reason: String,
    },
    #[error("notifier `{notifier}`: {message}")]
    Invalid { notifier: String, message: String },
    /// A `[[routes]]` entry that cannot be used; `route` says which (its place and what it
    /// matches).
    #[error("{route}: {message}")]
    Route { route: String, message: String },
}

impl NotifierConfig {
    /// A notifier with only a name and kind (set the other fields as needed).
    pub fn new(name: &str, kind: NotifierKind) -> NotifierConfig {
        NotifierConfig {
            name: name.to_owned(),
            kind,
            timeout_ms: None,
            webhook_url_env: None,
            webhook_url_file: None,
            webhook_url: None,
            api_base: None,
            chat_id: None,
            bot_token_env: None,
            bot_token_file: None,
            bot_token: None,
            homeserver: None,
            room_id: None,
            access_token_env: None,
            access_token_file: None,
            access_token: None,
            output: None,
        }
    }

    /// Resolves the secrets from the process environment and files, and builds the notifier.
    pub fn build(&self) -> Result<Box<dyn Notifier>, ConfigError> {
        self.build_with_env(&|var| std::env::var(var).ok())
    }

    /// As [`build`](Self::build), with environment lookups answered by `env`.
    pub fn build_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Notifier>, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            notifier: self.name.clone(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("the name is empty".into()));
        }
        self.check_fields()?;
        let timeout = self
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(invalid("timeout_ms must be above 0".into()));
        }
        Ok(match self.kind {
            NotifierKind::Slack => {
                let url = self.secret(
                    "webhook_url",
                    &self.webhook_url_env,
                    &self.webhook_url_file,
                    self.webhook_url,
                    env,
                )?;
                Box::new(SlackNotifier::new(&self.name, &url, timeout).map_err(invalid)?)
            }
            NotifierKind::Telegram => {
                let token = self.secret(
                    "bot_token",
                    &self.bot_token_env,
                    &self.bot_token_file,
                    self.bot_token,
                    env,
                )?;
                let chat = match &self.chat_id {
                    Some(ChatId::Id(n)) => serde_json::Value::from(*n),
                    Some(ChatId::Name(s)) => serde_json::Value::from(s.as_str()),
                    None => return Err(invalid("kind `telegram` needs `chat_id`".into())),
                };
                let base = self.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
                Box::new(
                    TelegramNotifier::new(&self.name, base, &token, chat, timeout)
                        .map_err(invalid)?,
                )
            }
            NotifierKind::Matrix => {
                let token = self.secret(
                    "access_token",
                    &self.access_token_env,
                    &self.access_token_file,
                    self.access_token,
                    env,
                )?;
                let hs = self
                    .homeserver
                    .as_deref()
                    .ok_or_else(|| invalid("kind `matrix` needs `homeserver`".into()))?;
                let room = self
                    .room_id
                    .as_deref()
                    .ok_or_else(|| invalid("kind `matrix` needs `room_id`".into()))?;
                Box::new(
                    MatrixNotifier::new(&self.name, hs, room, &token, timeout).map_err(invalid)?,
                )
            }
            NotifierKind::Console => match self.output.as_deref() {
                None | Some("stdout") => Box::new(ConsoleNotifier::stdout(&self.name)),
                Some("stderr") => Box::new(ConsoleNotifier::new(
                    &self.name,
                    Box::new(std::io::stderr()),
                )),
                Some(other) => {
                    return Err(invalid(format!(
                        "output `{other}` is neither `stdout` nor `stderr`"
                    )));
                }
            },
        })
    }

    /// Fields of another kind are a mistake (a Matrix room on a Slack notifier), not ignored.
    fn check_fields(&self) -> Result<(), ConfigError> {
        let set: [(&str, bool, NotifierKind); 14] = [
            (
                "webhook_url_env",
                self.webhook_url_env.is_some(),
                NotifierKind::Slack,
            ),
            (
                "webhook_url_file",
                self.webhook_url_file.is_some(),
                NotifierKind::Slack,
            ),
            (
                "webhook_url",
                self.webhook_url.is_some(),
                NotifierKind::Slack,
            ),
            ("api_base", self.api_base.is_some(), NotifierKind::Telegram),
            ("chat_id", self.chat_id.is_some(), NotifierKind::Telegram),
            (
                "bot_token_env",
                self.bot_token_env.is_some(),
                NotifierKind::Telegram,
            ),
            (
                "bot_token_file",
                self.bot_token_file.is_some(),
                NotifierKind::Telegram,
            ),
            (
                "bot_token",
                self.bot_token.is_some(),
                NotifierKind::Telegram,
            ),
            (
                "homeserver",
                self.homeserver.is_some(),
                NotifierKind::Matrix,
            ),
            ("room_id", self.room_id.is_some(), NotifierKind::Matrix),
            (
                "access_token_env",
                self.access_token_env.is_some(),
                NotifierKind::Matrix,
            ),
            (
                "access_token_file",
                self.access_token_file.is_some(),
                NotifierKind::Matrix,
            ),
            (
                "access_token",
                self.access_token.is_some(),
                NotifierKind::Matrix,
            ),
            ("output", self.output.is_some(), NotifierKind::Console),
        ];
        for (field, is_set, kind) in set {
            if is_set && kind != self.kind {
                return Err(ConfigError::Invalid {
                    notifier: self.name.clone(),
                    message: format!(
                        "`{field}` belongs to kind `{}`, not `{}`",
                        kind.as_str(),
                        self.kind.as_str()
                    ),
                });
            }
        }
        Ok(())
    }

    fn secret(
        &self,
        field: &str,
        env_var: &Option<String>,
        file: &Option<PathBuf>,
        inline: Option<InlineSecret>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            notifier: self.name.clone(),
            message,
        };
        if inline.is_some() {
            return Err(invalid(format!(
                "`{field}` must not be written in the config file: name an environment variable with `{field}_env` or a file with `{field}_file`"
            )));
        }
        match (env_var, file) {
            (Some(_), Some(_)) => Err(invalid(format!(
                "set one of `{field}_env` and `{field}_file`, not both"
            ))),
            (None, None) => Err(invalid(format!(
                "kind `{}` needs `{field}_env` or `{field}_file`",
                self.kind.as_str()
            ))),
            (Some(var), None) => match env(var).map(|v| v.trim().to_owned()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(ConfigError::MissingEnv {
                    notifier: self.name.clone(),
                    field: format!("{field}_env"),
                    var: var.clone(),
                }),
            },
            (None, Some(path)) => {
                read_secret_file(path).map_err(|reason| ConfigError::SecretFile {
                    notifier: self.name.clone(),
                    field: format!("{field}_file"),
                    path: path.clone(),
                    reason,
                })
            }
        }
    }
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > 64 * 1024 {
        return Err(format!("{} bytes is too large for a secret", meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(text.to_owned())
}

/// Builds every notifier; names must be unique.
pub fn build_all(configs: &[NotifierConfig]) -> Result<Vec<Box<dyn Notifier>>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        if !seen.insert(c.name.as_str()) {
            return Err(ConfigError::Invalid {
                notifier: c.name.clone(),
                message: "two notifiers have this name".into(),
            });
        }
        out.push(c.build()?);
    }
    Ok(out)
}

/// One `[[routes]]` entry: which notifiers get the failures of which connection and project,
/// and in which language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A connection id; any connection when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// `owner/name`, `owner/*` or `*` (case-insensitive); any project when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub notifiers: Vec<String>,
    /// The language of our words in its messages, as written: `en` (the default) or `ru`. Kept
    /// as text so that [`check_routes`] can refuse another value naming the route (a parse
    /// error could only point at a line); read it with [`RouteConfig::language`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl RouteConfig {
    pub fn matches(&self, connection: &str, project: &str) -> bool {
        let conn_ok = self.connection.as_deref().is_none_or(|c| c == connection);
        let proj_ok = match self.project.as_deref() {
            None | Some("*") => true,
            Some(p) => match p.strip_suffix("/*") {
                Some(owner) => project
                    .split_once('/')
                    .is_some_and(|(o, _)| o.eq_ignore_ascii_case(owner)),
                None => p.eq_ignore_ascii_case(project),
            },
        };
        conn_ok && proj_ok
    }

    /// The route's language (English when it names none), or the value it names that is not
    /// one: `Err("de")`.
    pub fn language(&self) -> Result<Language, &str> {
        match self.language.as_deref() {
            None => Ok(Language::En),
            Some(code) => Language::from_code(code).ok_or(code),
        }
    }

    /// How an error names this route: its place in the file (from 1) and what it matches.
    fn describe(&self, index: usize) -> String {
        format!(
            "route {} (connection `{}`, project `{}`, notifiers {})",
            index + 1,
            self.connection.as_deref().unwrap_or("*"),
            self.project.as_deref().unwrap_or("*"),
            self.notifiers.join(", ")
        )
    }
}

/// A notifier a message goes to, and the language of our words in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed<'a> {
    pub notifier: &'a str,
    pub language: Language,
}

/// Each notifier of `routes` once, in the order first routed, with the language of the route
/// that named it first: a room on two routes gets one message, and the earlier route in the
/// file decides its language (so an operator who wants a room in Russian lists that route
/// first). A language [`check_routes`] would refuse counts as English, so a route that was
/// never checked still delivers.
fn each_notifier_once<'a>(routes: impl Iterator<Item = &'a RouteConfig>) -> Vec<Routed<'a>> {
    let mut out: Vec<Routed<'a>> = Vec::new();
    for r in routes {
        let language = r.language().unwrap_or_default();
        for n in &r.notifiers {
            if !out.iter().any(|t| t.notifier == n) {
                out.push(Routed {
                    notifier: n,
                    language,
                });
            }
        }
    }
    out
}

/// The notifiers (each once, in the order first routed, with their language) for a
/// connection's project.
pub fn route<'a>(routes: &'a [RouteConfig], connection: &str, project: &str) -> Vec<Routed<'a>> {
    each_notifier_once(routes.iter().filter(|r| r.matches(connection, project)))
}

/// The notifiers (each once, in the order first routed, with their language) for an alert
/// about the connection itself (it needs reconnection): every route whose `connection` is this
/// one or is unset, whatever its `project`. A connection-level problem stops the reports of all
/// its projects, so every room that would get any of this connection's failures hears about it;
/// routes pinned to another connection do not.
pub fn route_connection<'a>(routes: &'a [RouteConfig], connection: &str) -> Vec<Routed<'a>> {
    each_notifier_once(
        routes
            .iter()
            .filter(|r| r.connection.as_deref().is_none_or(|c| c == connection)),
    )
}

/// Every route names configured notifiers and a language we write.
pub fn check_routes(
    routes: &[RouteConfig],
    notifiers: &[NotifierConfig],
) -> Result<(), ConfigError> {
    for (i, r) in routes.iter().enumerate() {
        if let Err(code) = r.language() {
            let allowed: Vec<String> = Language::ALL
                .iter()
                .map(|l| format!("\"{}\"", l.code()))
                .collect();
            return Err(ConfigError::Route {
                route: r.describe(i),
                message: format!(
                    "language = {code:?} is not a language messages are written in: use {} (English when left out)",
                    allowed.join(" or ")
                ),
            });
        }
        for n in &r.notifiers {
            if !notifiers.iter().any(|c| &c.name == n) {
                return Err(ConfigError::Invalid {
                    notifier: n.clone(),
                    message: "a route names this notifier, which is not configured".into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Routes as the config's tables would give them (serde reads TOML and JSON alike).
    fn routes(tables: serde_json::Value) -> Vec<RouteConfig> {
        serde_json::from_value(tables).unwrap()
    }

    fn notifiers(names: &[&str]) -> Vec<NotifierConfig> {
        names
            .iter()
            .map(|n| NotifierConfig::new(n, NotifierKind::Console))
            .collect()
    }

    #[test]
    fn a_language_we_do_not_write_is_refused_naming_the_route_and_the_choices() {
        let r = routes(json!([
            { "project": "acme/*", "notifiers": ["team-slack"], "language": "ru" },
            { "connection": "gitflic", "notifiers": ["ci-room", "team-slack"], "language": "de" },
        ]));
        let e = check_routes(&r, &notifiers(&["team-slack", "ci-room"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "route 2 (connection `gitflic`, project `*`, notifiers ci-room, team-slack): language = \"de\" is not a language messages are written in: use \"en\" or \"ru\" (English when left out)"
        );
        for code in ["RU", "russian", ""] {
            let r = routes(json!([{ "notifiers": ["a"], "language": code }]));
            assert!(
                matches!(
                    check_routes(&r, &notifiers(&["a"])),
                    Err(ConfigError::Route { .. })
                ),
                "{code:?}"
            );
        }
    }

    #[test]
    fn no_language_is_english_and_ru_is_russian() {
        let r = routes(json!([
            { "notifiers": ["a"] },
            { "notifiers": ["b"], "language": "ru" },
            { "notifiers": ["c"], "language": "en" },
        ]));
        check_routes(&r, &notifiers(&["a", "b", "c"])).unwrap();
        let got: Vec<(&str, Language)> = route(&r, "cloud", "acme/api")
            .into_iter()
            .map(|t| (t.notifier, t.language))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Language::En),
                ("b", Language::Ru),
                ("c", Language::En)
            ]
        );
        // Written back as it was read: nothing added to a route that named no language.
        assert_eq!(
            serde_json::to_value(&r[0]).unwrap(),
            json!({ "notifiers": ["a"] })
        );
    }

    #[test]
    fn a_notifier_on_two_routes_speaks_the_language_of_the_first() {
        let r = routes(json!([
            { "connection": "cloud", "notifiers": ["room"], "language": "ru" },
            { "project": "acme/*", "notifiers": ["room", "other"] },
        ]));
        let failure = route(&r, "cloud", "acme/api");
        assert_eq!(
            failure,
            [
                Routed {
                    notifier: "room",
                    language: Language::Ru
                },
                Routed {
                    notifier: "other",
                    language: Language::En
                },
            ]
        );
        // Another connection: only the second route matches, so the room is in English there.
        assert_eq!(
            route(&r, "self-hosted", "acme/api")[0],
            Routed {
                notifier: "room",
                language: Language::En
            }
        );
        // Alerts follow the same rule.
        assert_eq!(route_connection(&r, "cloud"), failure);
    }
}
