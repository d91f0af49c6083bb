//! Live HTTP (reqwest + rustls, blocking).
//!
//! The gate has already checked the URL against the egress policy; what it cannot see is where
//! a name resolves. So this backend resolves names itself ([`PolicyResolver`]) and checks every
//! address with [`EgressPolicy::check_ip`] before a socket is opened: a GitFlic hostname that
//! resolves to 127.0.0.1 or 169.254.169.254 (DNS rebinding, a hostile self-hosted DNS) is
//! refused, not connected to. Any refused address refuses the name, rather than connecting to
//! the remaining ones, since a mixed answer is itself a sign of rebinding.
//!
//! One `LiveBackend` serves one connection: it holds that connection's policy, so the resolver
//! (which reqwest calls with only a hostname) judges addresses by the right `allow_private`.
//! The policy module stays pure; this is the only place it meets the network.
//!
//! Redirects are never followed: a 3xx goes back to the plugin as a response, and following it
//! is a new request that passes the gate (allowlist, credentials) again. System proxy settings
//! are ignored, since a proxy would resolve the name for us and skip the address check.

use super::{BackendError, BackendResponse, HttpBackend, Method, OutboundRequest};
use crate::egress::EgressPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Operator settings for a connection's live client.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Extra trust anchors (PEM, one or more certificates) for a self-hosted instance whose
    /// certificate is issued by a private CA. Added to the built-in roots, not replacing them.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Fixed answers for names (hostname -> addresses), checked like any resolved address.
    /// Operators use it for split-horizon setups; tests use it to aim a name at a local server.
    pub static_hosts: HashMap<String, Vec<IpAddr>>,
    /// Overrides the connect timeout (default [`CONNECT_TIMEOUT`]).
    pub connect_timeout: Option<Duration>,
}

/// A resolver refusal, recognisable again after reqwest and hyper have wrapped it.
#[derive(Debug)]
struct EgressRefused(String);

impl std::fmt::Display for EgressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EgressRefused {}

/// Resolves (or looks up in the static table) and refuses forbidden addresses.
struct PolicyResolver {
    policy: Arc<EgressPolicy>,
    static_hosts: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl PolicyResolver {
    fn vet(
        policy: &EgressPolicy,
        host: &str,
        ips: Vec<IpAddr>,
    ) -> Result<Vec<IpAddr>, EgressRefused> {
        if ips.is_empty() {
            return Err(EgressRefused(format!("`{host}` resolved to no address")));
        }
        for ip in &ips {
            policy.check_ip(*ip).map_err(|why| {
                EgressRefused(format!("`{host}` resolved to a refused address: {why}"))
            })?;
        }
        Ok(ips)
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let policy = self.policy.clone();
        let fixed = self.static_hosts.get(&host).cloned();
        Box::pin(async move {
            let ips = match fixed {
                Some(ips) => ips,
                None => tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                    .map(|sa| sa.ip())
                    .collect(),
            };
            let ips = Self::vet(&policy, &host, ips)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            // The connector puts the URL's port on these; 0 is a placeholder.
            let addrs: Addrs = Box::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

pub struct LiveBackend {
    client: reqwest::blocking::Client,
    policy: Arc<EgressPolicy>,
}

impl LiveBackend {
    /// Builds the client for one connection. Fails on an unreadable CA bundle, so a typo in
    /// the operator's config shows at startup, not as TLS errors later.
    pub fn new(policy: EgressPolicy, options: LiveOptions) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let resolver = PolicyResolver {
            policy: policy.clone(),
            static_hosts: Arc::new(lowercase_keys(options.static_hosts)),
        };
        let mut builder = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(options.connect_timeout.unwrap_or(CONNECT_TIMEOUT))
            // Per request we set the time left until the call's deadline; no client-wide cap.
            .timeout(None::<Duration>)
            .user_agent(concat!("exlogare-host/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(resolver));
        if let Some(pem) = &options.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the extra CA certificate is not valid PEM: {e}"))?;
            if certs.is_empty() {
                return Err("the extra CA file holds no certificate".into());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }
}

fn lowercase_keys(map: HashMap<String, Vec<IpAddr>>) -> HashMap<String, Vec<IpAddr>> {
    map.into_iter()
        .map(|(k, v)| (k.trim_end_matches('.').to_ascii_lowercase(), v))
        .collect()
}

impl HttpBackend for LiveBackend {
    fn send(
        &self,
        req: &OutboundRequest,
        deadline: Instant,
    ) -> Result<BackendResponse, BackendError> {
        // A literal IP never reaches the resolver, so it is checked here (the gate checks it
        // too; this backend does not rely on being behind the gate for the address rule).
        if let Some(host) = req.url.host() {
            let literal = match host {
                url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
                url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
                url::Host::Domain(_) => None,
            };
            if let Some(ip) = literal {
                self.policy.check_ip(ip).map_err(BackendError::Denied)?;
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(BackendError::Timeout);
        }
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &req.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                BackendError::Transport(format!("header name `{name}` is not valid: {e}"))
            })?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|e| {
                BackendError::Transport(format!("header `{name}` has an invalid value: {e}"))
            })?;
            headers.append(name, value);
        }
        if let Some((_, secret)) = &req.credential {
            // The value is not echoed in the error: it is the secret.
            let mut value =
                reqwest::header::HeaderValue::from_str(secret.expose()).map_err(|_| {
                    BackendError::Transport(
                        "the stored credential is not a valid header value".into(),
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = self
            .client
            .request(method, req.url.clone())
            .headers(headers)
            .timeout(remaining);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().map_err(|e| classify(&e, deadline))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(BackendResponse {
            status,
            headers,
            body: Box::new(DeadlineBody {
                inner: response,
                deadline,
            }),
        })
    }
}

/// Sorts a reqwest failure into the gate's terms. The resolver's refusal travels inside
/// reqwest's connect error, so the source chain is searched for it.
fn classify(e: &reqwest::Error, deadline: Instant) -> BackendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<EgressRefused>() {
            return BackendError::Denied(refused.0.clone());
        }
        source = err.source();
    }
    if e.is_timeout() || Instant::now() >= deadline {
        return BackendError::Timeout;
    }
    // reqwest names the URL in its message; its query may carry an OAuth code, so only the
    // origin and path go into an error that can reach logs and API answers.
    let mut text = chain(e);
    if let Some(url) = e.url() {
        text = text.replace(
            url.as_str(),
            &format!("{}{}", url.origin().ascii_serialization(), url.path()),
        );
    }
    BackendError::Transport(text)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        let next = err.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = err.source();
    }
    text
}

/// The response body, stopped at the call's deadline. reqwest's own request timeout (set to
/// the time left at send) already covers the body; this wrapper makes the error kind
/// `TimedOut` whatever reqwest wrapped it in, and refuses reads once the deadline has passed.
struct DeadlineBody {
    inner: reqwest::blocking::Response,
    deadline: Instant,
}

impl Read for DeadlineBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the call's deadline passed while reading the response body",
            ));
        }
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::TimedOut
                    || Instant::now() >= self.deadline
                    || mentions_timeout(&e)
                {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the call's deadline passed while reading the response body",
                    ))
                } else {
                    Err(std::io::Error::new(
                        e.kind(),
                        format!("reading the response body failed: {}", chain(&e)),
                    ))
                }
            }
        }
    }
}

fn mentions_timeout(e: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|inner| inner as _);
    while let Some(err) = source {
        if err
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_timeout())
        {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::Origin;

    fn policy(allow_private: bool) -> EgressPolicy {
        EgressPolicy {
            api: Origin::parse("https://api.example.test").unwrap(),
            oauth: Origin::parse("https://oauth.example.test").unwrap(),
            extra: vec![],
            allow_private,
        }
    }

    #[test]
    fn every_resolved_address_must_pass() {
        let p = policy(false);
        assert!(PolicyResolver::vet(&p, "h", vec!["93.184.216.34".parse().unwrap()]).is_ok());
        let mixed = vec![
            "93.184.216.34".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ];
        let err = PolicyResolver::vet(&p, "h", mixed).unwrap_err();
        assert!(err.0.contains("127.0.0.1"), "{err}");
        assert!(PolicyResolver::vet(&p, "h", vec![]).is_err());
        let lan = policy(true);
        assert!(PolicyResolver::vet(&lan, "h", vec!["127.0.0.1".parse().unwrap()]).is_ok());
        assert!(PolicyResolver::vet(&lan, "h", vec!["169.254.169.254".parse().unwrap()]).is_err());
    }

    #[test]
    fn a_bad_ca_file_fails_at_construction() {
        let opts = LiveOptions {
            extra_ca_pem: Some(b"not a certificate".to_vec()),
            ..Default::default()
        };
        assert!(LiveBackend::new(policy(false), opts).is_err());
    }
}
