//! The choke point every plugin request passes, whatever the backend.
//!
//! Order matters and is fixed: header rules, egress policy, credential placement, budget,
//! body cap, a slot under the plugin's HTTP concurrency limit ([`permits`]), then the backend.
//! A refusal is a typed, guest-visible error (the plugin maps it to `provider-error.denied`),
//! never a trap: the plugin did nothing wrong by asking.

use super::{BackendError, BackendResponse, HttpBackend, Method, OutboundRequest, Secret};
use crate::egress::{CredentialKind, EgressPolicy, check_headers};
use base64::Engine as _;
use serde::Serialize;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod permits;
pub use permits::{HttpPermit, HttpPermits};

/// Response headers as the guest gets them: lower-case names, in the order received.
pub type Headers = Vec<(String, String)>;

/// What the host holds for a connection and adds to requests on the plugin's behalf.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub access_token: Option<Secret>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
}

/// The credential a plugin asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedCredential {
    /// `Authorization: <scheme> <token>`.
    AccessToken {
        scheme: String,
    },
    ClientBasic,
}

#[derive(Debug, Clone)]
pub struct GateRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub credential: Option<RequestedCredential>,
}

/// Mirrors the WIT `http-error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateError {
    Denied(String),
    Timeout,
    TooLarge(u64),
    Transport(String),
    InvalidRequest(String),
}

/// Caps the gate enforces for one call.
#[derive(Debug, Clone)]
pub struct GateLimits {
    pub requests: u32,
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    pub stream_body_bytes: u64,
    pub stream_read_bytes: u32,
}

/// One line of the call's HTTP transcript: what the plugin asked and what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExchangeRecord {
    pub method: Method,
    pub url: String,
    /// `access-token`, `client-basic` or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<&'static str>,
    /// The response status, or the refusal.
    pub outcome: String,
}

pub struct HttpGate {
    policy: EgressPolicy,
    backend: Arc<dyn HttpBackend>,
    credentials: Credentials,
    limits: GateLimits,
    deadline: Instant,
    /// The plugin's open-request slots (shared with its other calls) and how long to wait
    /// for one.
    permits: HttpPermits,
    permit_wait: Duration,
    used: u32,
    transcript: Vec<ExchangeRecord>,
    /// The longest wait of any request the connection's budget refused in this call.
    over_budget: Option<u64>,
}

impl HttpGate {
    /// A gate with its own slots at the default concurrency limit; a plugin's calls share the
    /// plugin's instead ([`HttpGate::with_permits`]).
    pub fn new(
        policy: EgressPolicy,
        backend: Arc<dyn HttpBackend>,
        credentials: Credentials,
        limits: GateLimits,
        deadline: Instant,
    ) -> Self {
        let defaults = crate::limits::SandboxLimits::default();
        Self {
            policy,
            backend,
            credentials,
            limits,
            deadline,
            permits: HttpPermits::new(defaults.http_concurrency),
            permit_wait: defaults.http_wait(),
            used: 0,
            transcript: Vec::new(),
            over_budget: None,
        }
    }

    /// Draw request slots from `permits` (shared across calls), waiting up to `wait` for one.
    pub fn with_permits(mut self, permits: HttpPermits, wait: Duration) -> Self {
        self.permits = permits;
        self.permit_wait = wait;
        self
    }

    pub fn transcript(&self) -> &[ExchangeRecord] {
        &self.transcript
    }

    /// When a request of this call was refused by the connection's request budget: how long
    /// until it has room (the longest such wait), for the caller to wait it out.
    pub fn over_budget(&self) -> Option<Duration> {
        self.over_budget.map(Duration::from_millis)
    }

    pub fn take_transcript(&mut self) -> Vec<ExchangeRecord> {
        std::mem::take(&mut self.transcript)
    }

    pub fn requests_used(&self) -> u32 {
        self.used
    }

    /// Sends and buffers the body up to the response cap. The request's slot is held until
    /// the body is read (or the read fails), and released on return.
    pub fn send(&mut self, req: GateRequest) -> Result<(u16, Headers, Vec<u8>), GateError> {
        let (resp, _permit) = self.dispatch(req)?;
        let cap = self.limits.response_body_bytes;
        let mut body = Vec::new();
        let mut limited = resp.body.take(cap + 1);
        limited
            .read_to_end(&mut body)
            .map_err(|e| self.read_error(e))?;
        if body.len() as u64 > cap {
            return Err(GateError::TooLarge(cap));
        }
        Ok((resp.status, resp.headers, body))
    }

    /// Sends and returns the body as a capped stream. The stream holds the request's slot
    /// until it ends, fails or is dropped.
    pub fn send_streaming(
        &mut self,
        req: GateRequest,
    ) -> Result<(u16, Headers, StreamBody), GateError> {
        let (resp, permit) = self.dispatch(req)?;
        let body = StreamBody {
            reader: resp.body,
            delivered: 0,
            cap: self.limits.stream_body_bytes,
            max_read: self.limits.stream_read_bytes,
            deadline: self.deadline,
            state: StreamState::Open { _permit: permit },
        };
        Ok((resp.status, resp.headers, body))
    }

    fn dispatch(&mut self, req: GateRequest) -> Result<(BackendResponse, HttpPermit), GateError> {
        let credential_name = req.credential.as_ref().map(|c| match c {
            RequestedCredential::AccessToken { .. } => "access-token",
            RequestedCredential::ClientBasic => "client-basic",
        });
        let mut record = ExchangeRecord {
            method: req.method,
            url: req.url.clone(),
            credential: credential_name,
            outcome: String::new(),
        };
        let result = self.dispatch_inner(req);
        record.outcome = match &result {
            Ok((resp, _)) => resp.status.to_string(),
            Err(Refused {
                error,
                note: Some(note),
            }) => format!("{error:?}: {note}"),
            Err(Refused { error, note: None }) => format!("{error:?}"),
        };
        self.transcript.push(record);
        result.map_err(|r| r.error)
    }

    fn dispatch_inner(
        &mut self,
        req: GateRequest,
    ) -> Result<(BackendResponse, HttpPermit), Refused> {
        check_headers(&req.headers).map_err(GateError::InvalidRequest)?;
        let allowed = self.policy.check_url(&req.url).map_err(GateError::Denied)?;
        if let Some(body) = &req.body
            && body.len() as u64 > self.limits.request_body_bytes
        {
            return Err(GateError::InvalidRequest(format!(
                "request body of {} bytes exceeds the cap of {}",
                body.len(),
                self.limits.request_body_bytes
            ))
            .into());
        }
        let credential = match req.credential {
            None => None,
            Some(RequestedCredential::AccessToken { scheme }) => {
                self.policy
                    .check_credential(CredentialKind::AccessToken, &allowed.origin)
                    .map_err(GateError::Denied)?;
                if scheme.is_empty()
                    || !scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err(GateError::InvalidRequest(format!(
                        "credential scheme `{scheme}` is not a token"
                    ))
                    .into());
                }
                let token = self.credentials.access_token.as_ref().ok_or_else(|| {
                    GateError::Denied(
                        "this connection has no access token yet; connect it (OAuth) first".into(),
                    )
                })?;
                Some((
                    CredentialKind::AccessToken,
                    Secret::new(format!("{scheme} {}", token.expose())),
                ))
            }
            Some(RequestedCredential::ClientBasic) => {
                self.policy
                    .check_credential(CredentialKind::ClientBasic, &allowed.origin)
                    .map_err(GateError::Denied)?;
                let (Some(id), Some(secret)) =
                    (&self.credentials.client_id, &self.credentials.client_secret)
                else {
                    return Err(GateError::Denied(
                        "this connection has no OAuth client id and secret configured".into(),
                    )
                    .into());
                };
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{id}:{}", secret.expose()));
                Some((
                    CredentialKind::ClientBasic,
                    Secret::new(format!("Basic {basic}")),
                ))
            }
        };
        if self.used >= self.limits.requests {
            return Err(GateError::Denied(format!(
                "request budget of {} per call is used up",
                self.limits.requests
            ))
            .into());
        }
        self.used += 1;
        let started = Instant::now();
        if started >= self.deadline {
            return Err(GateError::Timeout.into());
        }
        let permit = match self.permits.try_acquire() {
            Some(permit) => permit,
            None => {
                let (until, by_call_deadline) =
                    permits::wait_until(started, self.permit_wait, self.deadline);
                self.permits.acquire_until(until).ok_or_else(|| {
                    let note = permits::saturated_message(
                        self.permits.limit(),
                        started.elapsed(),
                        self.permit_wait,
                        by_call_deadline,
                    );
                    // Origin and path only: a query may hold an OAuth code or a secret.
                    tracing::warn!(
                        url = %format!("{}{}", allowed.origin, allowed.url.path()),
                        "plugin request refused: {note}"
                    );
                    Refused {
                        error: GateError::Timeout,
                        note: Some(note),
                    }
                })?
            }
        };
        if Instant::now() >= self.deadline {
            return Err(GateError::Timeout.into());
        }
        let outbound = OutboundRequest {
            method: req.method,
            url: allowed.url,
            headers: req.headers,
            body: req.body,
            credential,
        };
        // On a backend error the permit drops here; on success it travels with the response.
        let resp = self
            .backend
            .send(&outbound, self.deadline)
            .map_err(|e| match e {
                BackendError::Timeout => GateError::Timeout,
                BackendError::Transport(m) => GateError::Transport(m),
                BackendError::Denied(m) => GateError::Denied(m),
                BackendError::OverBudget {
                    message,
                    retry_after_ms,
                } => {
                    self.over_budget = Some(self.over_budget.unwrap_or(0).max(retry_after_ms));
                    GateError::Transport(message)
                }
            })?;
        Ok((resp, permit))
    }

    fn read_error(&self, e: std::io::Error) -> GateError {
        read_error(e, self.deadline)
    }
}

/// A refusal, with a host-side note for the transcript when the guest-visible error carries no
/// text (`timeout` for a request that got no slot).
struct Refused {
    error: GateError,
    note: Option<String>,
}

impl From<GateError> for Refused {
    fn from(error: GateError) -> Self {
        Refused { error, note: None }
    }
}

fn read_error(e: std::io::Error, deadline: Instant) -> GateError {
    if e.kind() == std::io::ErrorKind::TimedOut || Instant::now() >= deadline || is_timeout(&e) {
        GateError::Timeout
    } else {
        GateError::Transport(format!("reading the response body failed: {e}"))
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|inner| inner as _);
    while let Some(err) = source {
        if err.to_string().contains("timed out") {
            return true;
        }
        source = err.source();
    }
    false
}

/// A streamed response body with the per-call caps applied. While open it holds its
/// request's slot under the plugin's HTTP concurrency limit; the slot and the connection are
/// released when the body ends or fails, or when the stream is dropped (by the guest, or with
/// the call's store when the instance is torn down, a trap included).
pub struct StreamBody {
    reader: Box<dyn Read + Send>,
    delivered: u64,
    cap: u64,
    max_read: u32,
    deadline: Instant,
    state: StreamState,
}

enum StreamState {
    /// Held, never read: dropping it (with the state) frees the slot.
    Open {
        _permit: HttpPermit,
    },
    Finished,
    /// Every later read repeats the error.
    Failed(GateError),
}

impl StreamBody {
    /// Up to `max` bytes (clamped to the host's read cap); `None` at the end.
    pub fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, GateError> {
        match &self.state {
            StreamState::Open { .. } => {}
            StreamState::Finished => return Ok(None),
            StreamState::Failed(e) => return Err(e.clone()),
        }
        match self.read_open(max) {
            Ok(Some(chunk)) => Ok(Some(chunk)),
            Ok(None) => {
                self.end(StreamState::Finished);
                Ok(None)
            }
            Err(e) => {
                self.end(StreamState::Failed(e.clone()));
                Err(e)
            }
        }
    }

    /// Whether the stream still holds its slot.
    pub fn holds_permit(&self) -> bool {
        matches!(self.state, StreamState::Open { .. })
    }

    fn read_open(&mut self, max: u32) -> Result<Option<Vec<u8>>, GateError> {
        if Instant::now() >= self.deadline {
            return Err(GateError::Timeout);
        }
        let want = max.clamp(1, self.max_read) as usize;
        let mut buf = vec![0u8; want];
        let n = loop {
            match self.reader.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e, self.deadline)),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        self.delivered += n as u64;
        if self.delivered > self.cap {
            return Err(GateError::TooLarge(self.cap));
        }
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// Closes the connection, then frees the slot (dropping the old state's permit).
    fn end(&mut self, state: StreamState) {
        self.reader = Box::new(std::io::empty());
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::Origin;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Answers every request with a fixed body and remembers what it was sent.
    struct Echo {
        body: Vec<u8>,
        seen: Mutex<Vec<OutboundRequest>>,
    }

    impl HttpBackend for Echo {
        fn send(
            &self,
            req: &OutboundRequest,
            _deadline: Instant,
        ) -> Result<BackendResponse, BackendError> {
            self.seen.lock().unwrap().push(req.clone());
            Ok(BackendResponse {
                status: 200,
                headers: vec![],
                body: Box::new(std::io::Cursor::new(self.body.clone())),
            })
        }
    }

    fn gate(body: &[u8], limits: GateLimits) -> (HttpGate, Arc<Echo>) {
        let echo = Arc::new(Echo {
            body: body.to_vec(),
            seen: Mutex::new(vec![]),
        });
        let policy = EgressPolicy {
            api: Origin::parse("https://api.gitflic.ru").unwrap(),
            oauth: Origin::parse("https://oauth.gitflic.ru").unwrap(),
            extra: vec![],
            allow_private: false,
        };
        let creds = Credentials {
            access_token: Some(Secret::new("tok-123")),
            client_id: Some("cid".into()),
            client_secret: Some(Secret::new("csecret")),
        };
        (
            HttpGate::new(
                policy,
                echo.clone(),
                creds,
                limits,
                Instant::now() + Duration::from_secs(30),
            ),
            echo,
        )
    }

    fn limits() -> GateLimits {
        GateLimits {
            requests: 3,
            request_body_bytes: 10,
            response_body_bytes: 8,
            stream_body_bytes: 20,
            stream_read_bytes: 4,
        }
    }

    fn get(url: &str) -> GateRequest {
        GateRequest {
            method: Method::Get,
            url: url.into(),
            headers: vec![],
            body: None,
            credential: None,
        }
    }

    #[test]
    fn the_budget_bites_after_n_requests() {
        let (mut g, _) = gate(b"ok", limits());
        for _ in 0..3 {
            g.send(get("https://api.gitflic.ru/user/me")).unwrap();
        }
        let err = g.send(get("https://api.gitflic.ru/user/me")).unwrap_err();
        assert!(
            matches!(&err, GateError::Denied(m) if m.contains("budget")),
            "{err:?}"
        );
        assert_eq!(
            g.transcript().len(),
            4,
            "a refused request is still in the transcript"
        );
    }

    #[test]
    fn a_response_one_byte_over_the_cap_is_too_large() {
        let (mut g, _) = gate(b"123456789", limits());
        assert_eq!(
            g.send(get("https://api.gitflic.ru/x")).unwrap_err(),
            GateError::TooLarge(8)
        );
        let (mut g, _) = gate(b"12345678", limits());
        assert_eq!(
            g.send(get("https://api.gitflic.ru/x")).unwrap().2,
            b"12345678"
        );
    }

    #[test]
    fn a_request_body_over_the_cap_is_invalid() {
        let (mut g, echo) = gate(b"", limits());
        let mut req = get("https://api.gitflic.ru/x");
        req.method = Method::Post;
        req.body = Some(vec![0; 11]);
        assert!(matches!(
            g.send(req).unwrap_err(),
            GateError::InvalidRequest(_)
        ));
        assert!(
            echo.seen.lock().unwrap().is_empty(),
            "nothing reached the backend"
        );
    }

    #[test]
    fn policy_refusals_never_reach_the_backend() {
        let (mut g, echo) = gate(b"", limits());
        assert!(matches!(
            g.send(get("https://elsewhere.example/")).unwrap_err(),
            GateError::Denied(_)
        ));
        let mut req = get("https://api.gitflic.ru/x");
        req.headers
            .push(("Authorization".into(), "token stolen".into()));
        assert!(matches!(
            g.send(req).unwrap_err(),
            GateError::InvalidRequest(_)
        ));
        assert!(echo.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn the_access_token_is_added_by_the_host_only_for_the_api_origin() {
        let (mut g, echo) = gate(b"", limits());
        let mut req = get("https://api.gitflic.ru/user/me");
        req.credential = Some(RequestedCredential::AccessToken {
            scheme: "token".into(),
        });
        g.send(req).unwrap();
        let seen = echo.seen.lock().unwrap();
        let (kind, value) = seen[0].credential.clone().unwrap();
        assert_eq!(kind, CredentialKind::AccessToken);
        assert_eq!(value.expose(), "token tok-123");
        drop(seen);
        let mut req = get("https://oauth.gitflic.ru/api/token/access");
        req.credential = Some(RequestedCredential::AccessToken {
            scheme: "token".into(),
        });
        assert!(
            matches!(g.send(req).unwrap_err(), GateError::Denied(m) if m.contains("access token"))
        );
    }

    #[test]
    fn client_basic_goes_to_the_oauth_origin() {
        let (mut g, echo) = gate(b"", limits());
        let mut req = get("https://oauth.gitflic.ru/api/token/access?code=1");
        req.credential = Some(RequestedCredential::ClientBasic);
        g.send(req).unwrap();
        let (_, value) = echo.seen.lock().unwrap()[0].credential.clone().unwrap();
        assert_eq!(value.expose(), "Basic Y2lkOmNzZWNyZXQ="); // cid:csecret
    }

    #[test]
    fn a_stream_is_read_in_capped_pieces_and_stops_at_its_total_cap() {
        let (mut g, _) = gate(&[7u8; 25], limits());
        let (_, _, mut body) = g.send_streaming(get("https://api.gitflic.ru/log")).unwrap();
        let mut total = 0;
        let err = loop {
            match body.read(1000) {
                Ok(Some(chunk)) => {
                    assert!(chunk.len() <= 4, "read cap");
                    total += chunk.len();
                }
                Ok(None) => panic!("the cap must bite before the end"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, GateError::TooLarge(20));
        assert!(total <= 20);
    }

    /// A gate drawing from `permits`, waiting up to `wait_ms` for one.
    fn gate_sharing(body: &[u8], permits: &HttpPermits, wait_ms: u64) -> (HttpGate, Arc<Echo>) {
        let (g, echo) = gate(body, limits());
        (
            g.with_permits(permits.clone(), Duration::from_millis(wait_ms)),
            echo,
        )
    }

    #[test]
    fn a_request_with_no_free_slot_times_out_naming_the_limit_and_never_reaches_the_backend() {
        let permits = HttpPermits::new(1);
        let held = permits.try_acquire().unwrap();
        let (mut g, echo) = gate_sharing(b"ok", &permits, 20);
        assert_eq!(
            g.send(get("https://api.gitflic.ru/x")).unwrap_err(),
            GateError::Timeout
        );
        assert!(echo.seen.lock().unwrap().is_empty(), "sent without a slot");
        let outcome = &g.transcript()[0].outcome;
        assert!(
            outcome.starts_with("Timeout: ")
                && outcome.contains("`http_concurrency` = 1")
                && outcome.contains("`http_wait_ms` = 20"),
            "{outcome}"
        );
        drop(held);
        assert_eq!(
            g.send(get("https://api.gitflic.ru/x")).unwrap().2,
            b"ok",
            "the freed slot is used"
        );
        assert_eq!(permits.open(), 0, "the buffered send released its slot");
    }

    #[test]
    fn the_wait_for_a_slot_stops_at_the_call_deadline() {
        let permits = HttpPermits::new(1);
        let _held = permits.try_acquire().unwrap();
        let (mut g, _) = gate_sharing(b"", &permits, 10_000);
        g.deadline = Instant::now() + Duration::from_millis(50);
        let started = Instant::now();
        assert_eq!(
            g.send(get("https://api.gitflic.ru/x")).unwrap_err(),
            GateError::Timeout
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited {:?} with a 50 ms deadline and a 10 s wait",
            started.elapsed()
        );
        let outcome = &g.transcript()[0].outcome;
        assert!(
            outcome.contains("deadline") && outcome.contains("`http_concurrency` = 1"),
            "{outcome}"
        );
    }

    #[test]
    fn a_stream_holds_its_slot_until_it_ends_or_is_dropped() {
        let permits = HttpPermits::new(1);
        let (mut g, _) = gate_sharing(&[7u8; 6], &permits, 0);
        let (mut other, _) = gate_sharing(b"", &permits, 0);
        let (_, _, mut body) = g.send_streaming(get("https://api.gitflic.ru/log")).unwrap();
        assert_eq!(permits.open(), 1);
        assert_eq!(
            other.send(get("https://api.gitflic.ru/x")).unwrap_err(),
            GateError::Timeout,
            "another call while the stream is open"
        );
        while body.read(100).unwrap().is_some() {}
        assert!(!body.holds_permit());
        assert_eq!(
            permits.open(),
            0,
            "read to the end: released though the guest still holds the stream"
        );
        assert_eq!(body.read(100), Ok(None));

        let (_, _, body) = g.send_streaming(get("https://api.gitflic.ru/log")).unwrap();
        assert_eq!(permits.open(), 1);
        drop(body);
        assert_eq!(permits.open(), 0, "dropped unread");
    }

    #[test]
    fn a_failed_stream_releases_its_slot_and_keeps_failing() {
        let permits = HttpPermits::new(1);
        let (mut g, _) = gate_sharing(&[7u8; 25], &permits, 0);
        let (_, _, mut body) = g.send_streaming(get("https://api.gitflic.ru/log")).unwrap();
        let err = loop {
            if let Err(e) = body.read(1000) {
                break e;
            }
        };
        assert_eq!(err, GateError::TooLarge(20));
        assert_eq!(permits.open(), 0);
        assert_eq!(
            body.read(1000),
            Err(GateError::TooLarge(20)),
            "a failed stream does not turn into a clean end"
        );
    }

    struct Failing;

    impl HttpBackend for Failing {
        fn send(
            &self,
            _req: &OutboundRequest,
            _deadline: Instant,
        ) -> Result<BackendResponse, BackendError> {
            Err(BackendError::Transport("connection refused".into()))
        }
    }

    #[test]
    fn a_backend_error_releases_the_slot() {
        let permits = HttpPermits::new(1);
        let (g, _) = gate_sharing(b"", &permits, 0);
        let mut g = HttpGate {
            backend: Arc::new(Failing),
            ..g
        };
        assert!(matches!(
            g.send(get("https://api.gitflic.ru/x")),
            Err(GateError::Transport(_))
        ));
        assert!(matches!(
            g.send_streaming(get("https://api.gitflic.ru/x"))
                .map(|_| ()),
            Err(GateError::Transport(_))
        ));
        assert_eq!(permits.open(), 0);
    }

    #[test]
    fn a_passed_deadline_is_a_timeout() {
        let (mut g, _) = gate(b"", limits());
        g.deadline = Instant::now() - Duration::from_millis(1);
        assert_eq!(
            g.send(get("https://api.gitflic.ru/x")).unwrap_err(),
            GateError::Timeout
        );
    }
}
