//! Replays recorded exchanges (`exchanges.toml`, see `fixtures/README.md`) instead of the
//! network. The gate has already applied the egress policy and added credentials, so replay
//! checks that the right credential was added and answers from the recording.

use super::{BackendError, BackendResponse, HttpBackend, Method, OutboundRequest};
use crate::egress::CredentialKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use url::Url;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExchangeFile {
    #[serde(default)]
    pub exchange: Vec<ExchangeSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeSpec {
    pub method: Method,
    pub url: String,
    #[serde(default)]
    pub auth: AuthExpectation,
    pub body_json: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub body_file: Option<String>,
    pub generate: Option<Generate>,
    pub times: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AuthExpectation {
    #[default]
    None,
    AccessToken,
    ClientBasic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub log_bytes: u64,
}

struct Slot {
    spec: ExchangeSpec,
    remaining: u32,
}

/// Serves recorded exchanges in file order; each can be used `times` times.
pub struct ReplayBackend {
    dir: PathBuf,
    slots: Mutex<Vec<Slot>>,
    /// The `Authorization` values the gate must have added, from the scenario's secrets.
    expected_access: Option<String>,
    expected_basic: Option<String>,
    violations: Mutex<Vec<String>>,
}

impl ReplayBackend {
    /// `dir` resolves `body_file` paths. `expected_*` are the full `Authorization` values.
    pub fn new(
        dir: &Path,
        file: ExchangeFile,
        expected_access: Option<String>,
        expected_basic: Option<String>,
    ) -> Self {
        let slots = file
            .exchange
            .into_iter()
            .map(|spec| {
                let remaining = spec.times.unwrap_or(1);
                Slot { spec, remaining }
            })
            .collect();
        Self {
            dir: dir.to_path_buf(),
            slots: Mutex::new(slots),
            expected_access,
            expected_basic,
            violations: Mutex::new(vec![]),
        }
    }

    pub fn load(
        dir: &Path,
        expected_access: Option<String>,
        expected_basic: Option<String>,
    ) -> anyhow::Result<Self> {
        let path = dir.join("exchanges.toml");
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ExchangeFile::default(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        Ok(Self::new(dir, file, expected_access, expected_basic))
    }

    /// Requests that were answered but broke an expectation (wrong credential, body).
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn violation(&self, text: String) {
        self.violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text);
    }

    fn check_auth(&self, req: &OutboundRequest, want: AuthExpectation) {
        let got = req.credential.as_ref();
        let ok = match (want, got) {
            (AuthExpectation::None, None) => true,
            (AuthExpectation::AccessToken, Some((CredentialKind::AccessToken, v))) => {
                Some(v.expose()) == self.expected_access.as_deref()
            }
            (AuthExpectation::ClientBasic, Some((CredentialKind::ClientBasic, v))) => {
                Some(v.expose()) == self.expected_basic.as_deref()
            }
            _ => false,
        };
        if !ok {
            let got = got
                .map(|(k, _)| format!("{k:?}"))
                .unwrap_or_else(|| "none".into());
            self.violation(format!(
                "{} {}: expected credential {want:?}, the host added {got}",
                req.method.as_str(),
                req.url
            ));
        }
    }

    fn body_for(&self, spec: &ExchangeSpec) -> Result<Box<dyn Read + Send>, BackendError> {
        if let Some(g) = &spec.generate {
            return Ok(Box::new(GeneratedLog::new(g.log_bytes)));
        }
        if let Some(file) = &spec.body_file {
            let path = self.dir.join(file);
            let f = std::fs::File::open(&path).map_err(|e| {
                BackendError::Transport(format!("fixture body {} is missing: {e}", path.display()))
            })?;
            return Ok(Box::new(f));
        }
        Ok(Box::new(std::io::Cursor::new(
            spec.body.clone().unwrap_or_default().into_bytes(),
        )))
    }
}

/// Same method, same scheme/host/port/path, same query pairs in any order.
fn url_matches(recorded: &str, actual: &Url) -> bool {
    let Ok(rec) = Url::parse(recorded) else {
        return false;
    };
    if rec.scheme() != actual.scheme()
        || rec.host_str() != actual.host_str()
        || rec.port_or_known_default() != actual.port_or_known_default()
    {
        return false;
    }
    if rec.path().trim_end_matches('/') != actual.path().trim_end_matches('/') {
        return false;
    }
    let mut a: Vec<(String, String)> = rec.query_pairs().into_owned().collect();
    let mut b: Vec<(String, String)> = actual.query_pairs().into_owned().collect();
    a.sort();
    b.sort();
    a == b
}

impl HttpBackend for ReplayBackend {
    fn send(
        &self,
        req: &OutboundRequest,
        _deadline: Instant,
    ) -> Result<BackendResponse, BackendError> {
        let spec = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let found = slots.iter_mut().find(|s| {
                s.remaining > 0 && s.spec.method == req.method && url_matches(&s.spec.url, &req.url)
            });
            match found {
                Some(slot) => {
                    slot.remaining -= 1;
                    slot.spec.clone()
                }
                None => {
                    return Ok(BackendResponse {
                        status: 599,
                        headers: vec![("content-type".into(), "text/plain".into())],
                        body: Box::new(std::io::Cursor::new(
                            format!(
                                "no recorded exchange matches {} {}",
                                req.method.as_str(),
                                req.url
                            )
                            .into_bytes(),
                        )),
                    });
                }
            }
        };
        self.check_auth(req, spec.auth);
        if let Some(want) = &spec.body_json {
            let want: Result<serde_json::Value, _> = serde_json::from_str(want);
            let got: Option<serde_json::Value> = req
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok());
            if want.ok() != got {
                self.violation(format!(
                    "{} {}: request body differs from the recording: {}",
                    req.method.as_str(),
                    req.url,
                    String::from_utf8_lossy(req.body.as_deref().unwrap_or_default())
                ));
            }
        }
        Ok(BackendResponse {
            status: spec.status,
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: self.body_for(&spec)?,
        })
    }
}

/// For calls that must not make requests (`describe`): any request is a transport error.
pub struct Unreachable;

impl HttpBackend for Unreachable {
    fn send(
        &self,
        req: &OutboundRequest,
        _deadline: Instant,
    ) -> Result<BackendResponse, BackendError> {
        Err(BackendError::Transport(format!(
            "this call has no network ({} {})",
            req.method.as_str(),
            req.url
        )))
    }
}

/// A synthetic CI log of an exact size, produced on the fly so huge logs are tested without
/// being committed: GitLab-style sections, ANSI colours, `\r` progress bars, and a compiler
/// error with its exit line at the end, where a real failure sits.
pub struct GeneratedLog {
    total: u64,
    produced: u64,
    block: Vec<u8>,
    tail: Vec<u8>,
}

impl GeneratedLog {
    pub fn new(total: u64) -> Self {
        let mut block = Vec::new();
        for i in 0..200 {
            if i % 50 == 0 {
                block.extend_from_slice(format!("section_start:1700000000:step_{i}\r\x1b[0K\x1b[36;1mRunning step {i}\x1b[0;m\n").as_bytes());
            }
            block.extend_from_slice(
                format!("\x1b[32m   Compiling\x1b[0m crate-{i} v0.{i}.0 (/builds/app/crate-{i})\n")
                    .as_bytes(),
            );
            if i % 20 == 0 {
                block.extend_from_slice(b"Downloading  12%\rDownloading  57%\rDownloading 100%\n");
            }
            if i % 50 == 49 {
                block.extend_from_slice(
                    format!("section_end:1700000001:step_{}\r\x1b[0K\n", i - 49).as_bytes(),
                );
            }
        }
        let tail = b"\n\x1b[31;1merror[E0308]\x1b[0m: mismatched types\n  --> src/main.rs:42:17\n   |\n42 |     let x: u32 = \"text\";\n   |                  ^^^^^^ expected `u32`, found `&str`\n\nerror: could not compile `app` (bin \"app\") due to 1 previous error\n\x1b[31;1mERROR: Job failed: exit code 101\x1b[0m\n".to_vec();
        Self {
            total,
            produced: 0,
            block,
            tail,
        }
    }
}

impl Read for GeneratedLog {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.produced >= self.total || buf.is_empty() {
            return Ok(0);
        }
        let tail_len = (self.tail.len() as u64).min(self.total);
        let body_len = self.total - tail_len;
        let n = if self.produced < body_len {
            let offset = (self.produced % self.block.len() as u64) as usize;
            let from_block = (self.block.len() - offset)
                .min(buf.len())
                .min((body_len - self.produced) as usize);
            buf[..from_block].copy_from_slice(&self.block[offset..offset + from_block]);
            from_block
        } else {
            let offset =
                (self.produced - body_len) as usize + (self.tail.len() - tail_len as usize);
            let n = (self.tail.len() - offset).min(buf.len());
            buf[..n].copy_from_slice(&self.tail[offset..offset + n]);
            n
        };
        self.produced += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_logs_have_the_exact_size_and_end_with_the_failure() {
        for size in [0u64, 10, 1_000, 1_234_567] {
            let mut out = Vec::new();
            GeneratedLog::new(size).read_to_end(&mut out).unwrap();
            assert_eq!(out.len() as u64, size);
        }
        let mut out = Vec::new();
        GeneratedLog::new(300_000).read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.ends_with("exit code 101\x1b[0m\n"));
        assert!(text.contains("section_start:") && text.contains('\r'));
    }

    #[test]
    fn query_order_does_not_matter_but_values_do() {
        let u = Url::parse("https://api.gitflic.ru/project/my?size=50&page=0").unwrap();
        assert!(url_matches(
            "https://api.gitflic.ru/project/my?page=0&size=50",
            &u
        ));
        assert!(!url_matches(
            "https://api.gitflic.ru/project/my?page=1&size=50",
            &u
        ));
        assert!(!url_matches(
            "https://api.gitflic.ru/project/shared?page=0&size=50",
            &u
        ));
    }
}
