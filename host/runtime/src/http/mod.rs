//! Outbound HTTP for plugins: one gate (policy, budget, caps, credentials) in front of
//! interchangeable backends.
//!
//! The gate ([`gate::HttpGate`]) is the single choke point: it checks the egress policy,
//! counts the request against the call's budget, adds credentials and clamps timeouts, and only
//! then hands the request to a [`HttpBackend`]. Backends only move bytes: [`live`] over the
//! network, [`replay`] from fixtures, [`record`] live traffic into fixtures.

pub mod gate;
pub mod live;
pub mod record;
pub mod replay;

use crate::egress::CredentialKind;
use std::io::Read;
use std::time::Instant;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request that passed the gate: policy-checked, budgeted, credentials resolved.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: Method,
    pub url: Url,
    /// The plugin's headers (host-owned ones were refused by the gate).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Which credential the host added, and the `Authorization` value it stands for. Backends
    /// send the value; recorders write only the kind.
    pub credential: Option<(CredentialKind, Secret)>,
}

/// A secret string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A response whose body has not been read yet.
pub struct BackendResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
}

/// Why a backend could not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The deadline passed.
    Timeout,
    /// DNS, TCP, TLS.
    Transport(String),
    /// The backend's own policy step refused (a name resolved to a forbidden address).
    Denied(String),
    /// The host's request budget for the connection has no room: nothing was sent. The plugin
    /// sees a transport error (the contract has no word for it); the host reads this from the
    /// call's output ([`gate::HttpGate::over_budget`]) instead of asking the budget again.
    OverBudget {
        message: String,
        /// When the budget has room again.
        retry_after_ms: u64,
    },
}

/// Moves bytes for the gate. Implementations must respect `deadline` for everything they
/// wait on, including later body reads.
pub trait HttpBackend: Send + Sync {
    fn send(
        &self,
        req: &OutboundRequest,
        deadline: Instant,
    ) -> Result<BackendResponse, BackendError>;
}
