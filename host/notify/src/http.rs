//! The HTTP exchange every platform notifier shares: one blocking client per notifier (no
//! redirects, a timeout), status classification and error text that never carries a secret.

use super::NotifyError;
use reqwest::blocking::{Client, RequestBuilder};
use std::io::Read;
use std::time::Duration;

/// Largest response body read (platforms answer with a few hundred bytes).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// Longest Retry-After honoured; anything longer is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

pub(crate) struct Http {
    client: Client,
    pub notifier: String,
    pub kind: &'static str,
    timeout: Duration,
    /// Strings that must never appear in an error (tokens, secret webhook URLs and their paths).
    secrets: Vec<String>,
}

pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Http {
    pub fn new(
        notifier: &str,
        kind: &'static str,
        timeout: Duration,
        secrets: Vec<String>,
    ) -> Result<Http, String> {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .user_agent(concat!("exlogare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        let secrets = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        Ok(Http {
            client,
            notifier: notifier.to_owned(),
            kind,
            timeout,
            secrets,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Replaces every secret in `s` with `***`.
    pub fn redact(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    pub fn transient(&self, status: Option<u16>, message: impl AsRef<str>) -> NotifyError {
        NotifyError::Transient {
            notifier: self.notifier.clone(),
            kind: self.kind,
            status,
            message: self.redact(message.as_ref()),
        }
    }

    pub fn permanent(&self, status: Option<u16>, message: impl AsRef<str>) -> NotifyError {
        NotifyError::Permanent {
            notifier: self.notifier.clone(),
            kind: self.kind,
            status,
            message: self.redact(message.as_ref()),
        }
    }

    pub fn rate_limited(
        &self,
        retry_after: Option<Duration>,
        message: impl AsRef<str>,
    ) -> NotifyError {
        NotifyError::RateLimited {
            notifier: self.notifier.clone(),
            kind: self.kind,
            retry_after: retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
            message: self.redact(message.as_ref()),
        }
    }

    /// Sends `body` as JSON and reads the answer (any status). Network failures and timeouts
    /// are transient.
    pub fn exchange(
        &self,
        req: RequestBuilder,
        body: &serde_json::Value,
    ) -> Result<Answer, NotifyError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| self.permanent(None, format!("could not encode the message: {e}")))?;
        let req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        let resp = req.send().map_err(|e| self.request_error(e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        resp.take(MAX_ANSWER_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| {
                if is_timeout(&e) {
                    self.transient(
                        Some(status),
                        format!(
                            "timed out after {} s reading the answer",
                            self.timeout.as_secs_f64()
                        ),
                    )
                } else {
                    self.transient(Some(status), format!("the answer broke off: {e}"))
                }
            })?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// Classifies a non-2xx answer. `detail` is the platform's own error text, when its body had
    /// one; `body_retry_after` a wait the body asked for (Telegram, Matrix).
    pub fn check(
        &self,
        answer: Answer,
        detail: Option<String>,
        body_retry_after: Option<Duration>,
    ) -> Result<Answer, NotifyError> {
        let status = answer.status;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let detail = detail.unwrap_or_else(|| snippet(&answer.body));
        let what = if detail.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {detail}")
        };
        Err(match status {
            429 => self.rate_limited(answer.retry_after.or(body_retry_after), what),
            408 | 500..=599 => self.transient(Some(status), what),
            300..=399 => self.permanent(
                Some(status),
                format!("{what} (a redirect, which is not followed: check the configured URL)"),
            ),
            _ => self.permanent(Some(status), what),
        })
    }

    fn request_error(&self, e: reqwest::Error) -> NotifyError {
        let timeout = e.is_timeout();
        let connect = e.is_connect();
        let builder = e.is_builder();
        // The URL can hold the secret (a Slack webhook, a Telegram bot token): never print it.
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if builder {
            self.permanent(None, format!("the request could not be built: {text}"))
        } else if timeout {
            self.transient(
                None,
                format!("timed out after {} s", self.timeout.as_secs_f64()),
            )
        } else if connect {
            self.transient(None, format!("could not connect: {text}"))
        } else {
            self.transient(None, format!("the request failed: {text}"))
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut source = e.get_ref().map(|r| r as &(dyn std::error::Error + 'static));
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<reqwest::Error>() {
            return r.is_timeout();
        }
        source = s.source();
    }
    false
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(
            secs.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The start of an answer body, on one line, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    super::text::one_line(&String::from_utf8_lossy(body), 200)
}

/// An http(s) URL; plain http only to a loopback host (tokens would otherwise cross the
/// network in clear). No user:password part.
pub(crate) fn check_url(s: &str, what: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("the {what} is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "the {what} must not contain a user name or password"
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("the {what} has no host")),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "the {what} must use https (plain http is allowed only to localhost)"
        )),
        other => Err(format!("the {what} must be an https URL, not `{other}:`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
