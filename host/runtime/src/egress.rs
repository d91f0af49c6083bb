//! The egress policy: which requests a plugin may make, decided as plain data.
//!
//! One policy serves every backend (live, record, replay), and it runs before any of them, so
//! replayed fixtures test the same allow/deny decisions production makes (the lesson of Spin's
//! `factor-outbound-networking`, where an interceptor once ran before the policy). Nothing
//! here does I/O: the live backend calls [`EgressPolicy::check_ip`] for every address its
//! resolver returns, the rest is checked from the URL alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Url;

/// `scheme://host:port`, the unit the allowlist is written in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &Url) -> Result<Self, String> {
        let scheme = url.scheme().to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(format!("scheme `{scheme}` is not http or https"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| "URL has no host".to_string())?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "URL has no port".to_string())?;
        Ok(Self {
            scheme,
            host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
            port,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("`{text}` is not an absolute URL: {e}"))?;
        Self::of(&url)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{}:{}", self.scheme, host, self.port)
    }
}

/// Which credential a request asked the host to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    AccessToken,
    ClientBasic,
}

/// The decision for one request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub url: Url,
    pub origin: Origin,
}

/// A connection's egress policy.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// The provider's REST origin: the only one that receives the access token.
    pub api: Origin,
    /// The OAuth origin: the only one that receives client credentials.
    pub oauth: Origin,
    /// Further origins the operator granted (an artifact CDN, say). They get no credentials.
    pub extra: Vec<Origin>,
    /// Loopback and private (RFC 1918, ULA, CGNAT) addresses, for self-hosted instances on a LAN.
    /// Link-local (cloud metadata), multicast and unspecified addresses are refused regardless.
    pub allow_private: bool,
}

/// Headers a plugin may never set: the host owns framing, routing and credentials.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "proxy-authorization",
    "cookie",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

impl EgressPolicy {
    /// Checks that `url` may be requested. Literal IP hosts are checked here too, since
    /// replay never resolves names.
    pub fn check_url(&self, url: &str) -> Result<Allowed, String> {
        let parsed =
            Url::parse(url).map_err(|e| format!("`{}` is not an absolute URL: {e}", clip(url)))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "URLs with embedded credentials are refused; the host adds credentials itself"
                    .into(),
            );
        }
        let origin = Origin::of(&parsed)?;
        if origin != self.api && origin != self.oauth && !self.extra.contains(&origin) {
            return Err(format!(
                "origin {origin} is not allowed for this connection (allowed: {}); an operator can grant it with `extra_origins`",
                self.allowed_list()
            ));
        }
        if let Some(ip) = literal_ip(&parsed) {
            self.check_ip(ip)?;
        }
        Ok(Allowed {
            url: parsed,
            origin,
        })
    }

    /// Checks one resolved (or literal) address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        match classify(ip) {
            AddrClass::Public => Ok(()),
            AddrClass::Private | AddrClass::Loopback if self.allow_private => Ok(()),
            AddrClass::Private | AddrClass::Loopback => Err(format!(
                "address {ip} is loopback or private; allow private addresses for this connection if it is a self-hosted instance on your network"
            )),
            AddrClass::Forbidden(why) => Err(format!("address {ip} is {why} and never allowed")),
        }
    }

    /// Where a requested credential may go.
    pub fn check_credential(&self, kind: CredentialKind, origin: &Origin) -> Result<(), String> {
        let (expected, what) = match kind {
            CredentialKind::AccessToken => (&self.api, "the access token"),
            CredentialKind::ClientBasic => (&self.oauth, "client credentials"),
        };
        if origin == expected {
            Ok(())
        } else {
            Err(format!(
                "{what} may only be sent to {expected}, not to {origin}"
            ))
        }
    }

    fn allowed_list(&self) -> String {
        let mut all = vec![self.api.to_string(), self.oauth.to_string()];
        all.extend(self.extra.iter().map(|o| o.to_string()));
        all.dedup();
        all.join(", ")
    }
}

/// Refuses headers the host owns; names are compared case-insensitively.
pub fn check_headers(headers: &[(String, String)]) -> Result<(), String> {
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "header `{name}` may not be set by a plugin; the host sets it"
            ));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(format!("header name `{}` is not a valid token", clip(name)));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!(
                "header `{name}` has a control character in its value"
            ));
        }
    }
    Ok(())
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum AddrClass {
    Public,
    Private,
    Loopback,
    Forbidden(&'static str),
}

/// An IPv6 address that carries an IPv4 one must be judged as that IPv4: IPv4-mapped
/// (`::ffff:127.0.0.1`), IPv4-compatible (`::127.0.0.1`, deprecated but still routed by some
/// stacks), NAT64 (`64:ff9b::/96` and the local-use `64:ff9b:1::/48`, whose translator reaches
/// the embedded address) and 6to4 (`2002:AABB:CCDD::/48`, whose relay reaches AA.BB.CC.DD).
/// Otherwise `http://[64:ff9b::a9fe:a9fe]/` would reach the cloud metadata service.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let seg = v6.segments();
    let o = v6.octets();
    let tail = || Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    // IPv4-compatible: 96 zero bits; `::` and `::1` are IPv6's own.
    if seg[..6] == [0; 6] && !(seg[6] == 0 && seg[7] <= 1) {
        return IpAddr::V4(tail());
    }
    if seg[0] == 0x0064 && seg[1] == 0xff9b && (seg[2..6] == [0; 4] || seg[2] == 0x0001) {
        return IpAddr::V4(tail());
    }
    if seg[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    ip
}

fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        AddrClass::Forbidden("unspecified")
    } else if ip.is_link_local() {
        AddrClass::Forbidden("link-local (cloud metadata lives here)")
    } else if ip.is_multicast() || ip.is_broadcast() {
        AddrClass::Forbidden("multicast or broadcast")
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_private()
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
    {
        // RFC 1918, CGNAT 100.64/10, benchmarking 198.18/15
        AddrClass::Private
    } else if o[0] >= 240 {
        AddrClass::Forbidden("reserved")
    } else {
        AddrClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let seg = ip.segments();
    if ip.is_unspecified() {
        AddrClass::Forbidden("unspecified")
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if (seg[0] & 0xffc0) == 0xfe80 {
        AddrClass::Forbidden("link-local")
    } else if ip.is_multicast() {
        AddrClass::Forbidden("multicast")
    } else if seg[0] == 0xfd00 && seg[1] == 0x0ec2 {
        // AWS's IPv6 instance metadata endpoint fd00:ec2::254 sits inside the ULA range.
        AddrClass::Forbidden("a cloud metadata endpoint")
    } else if (seg[0] & 0xfe00) == 0xfc00 || (seg[0] & 0xffc0) == 0xfec0 {
        // Unique local fc00::/7, and the deprecated site-local fec0::/10 still honoured by
        // some networks: private, not public.
        AddrClass::Private
    } else {
        AddrClass::Public
    }
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_that_carry_an_ipv4_one_are_judged_as_it() {
        let class = |s: &str| classify(canonical(s.parse().unwrap()));
        for (addr, expected) in [
            ("::ffff:127.0.0.1", AddrClass::Loopback),
            ("::127.0.0.1", AddrClass::Loopback),
            ("::10.0.0.1", AddrClass::Private),
            (
                "64:ff9b::a9fe:a9fe",
                AddrClass::Forbidden("link-local (cloud metadata lives here)"),
            ),
            ("64:ff9b::7f00:1", AddrClass::Loopback),
            ("64:ff9b:1::c0a8:101", AddrClass::Private),
            (
                "2002:a9fe:a9fe::1",
                AddrClass::Forbidden("link-local (cloud metadata lives here)"),
            ),
            ("2002:c0a8:0101::1", AddrClass::Private),
            ("fec0::1", AddrClass::Private),
            ("::1", AddrClass::Loopback),
            ("::", AddrClass::Forbidden("unspecified")),
            ("64:ff9b::5db8:d822", AddrClass::Public),
            ("2a00:1450:4001:80b::200e", AddrClass::Public),
        ] {
            assert_eq!(class(addr), expected, "{addr}");
        }
    }

    fn policy(allow_private: bool) -> EgressPolicy {
        EgressPolicy {
            api: Origin::parse("https://api.gitflic.ru").unwrap(),
            oauth: Origin::parse("https://oauth.gitflic.ru").unwrap(),
            extra: vec![],
            allow_private,
        }
    }

    #[test]
    fn the_connection_origins_are_allowed_and_nothing_else() {
        let p = policy(false);
        assert!(p.check_url("https://api.gitflic.ru/user/me").is_ok());
        assert!(
            p.check_url("https://oauth.gitflic.ru/api/token/access?code=x")
                .is_ok()
        );
        let err = p.check_url("https://evil.example/steal").unwrap_err();
        assert!(
            err.contains("evil.example") && err.contains("extra_origins"),
            "{err}"
        );
        // Same host, other scheme or port: a different origin.
        assert!(p.check_url("http://api.gitflic.ru/user/me").is_err());
        assert!(p.check_url("https://api.gitflic.ru:8443/user/me").is_err());
    }

    #[test]
    fn granted_extra_origins_are_allowed() {
        let mut p = policy(false);
        p.extra
            .push(Origin::parse("https://cdn.gitflic.ru").unwrap());
        assert!(p.check_url("https://cdn.gitflic.ru/a/b.log").is_ok());
    }

    #[test]
    fn non_http_schemes_and_embedded_credentials_are_refused() {
        let p = policy(false);
        assert!(
            p.check_url("file:///etc/passwd")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(
            p.check_url("https://user:pw@api.gitflic.ru/")
                .unwrap_err()
                .contains("credentials")
        );
        assert!(p.check_url("not a url").is_err());
    }

    #[test]
    fn loopback_and_private_need_the_operator_switch() {
        let strict = policy(false);
        let lan = policy(true);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.5",
            "172.16.9.9",
            "100.64.0.1",
            "::1",
            "fd12::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(
                strict.check_ip(ip).is_err(),
                "{ip} must be refused by default"
            );
            assert!(
                lan.check_ip(ip).is_ok(),
                "{ip} must be allowed for a self-hosted LAN instance"
            );
        }
    }

    #[test]
    fn metadata_link_local_and_multicast_are_never_allowed() {
        let lan = policy(true);
        for ip in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "fd00:ec2::254",
            "::",
            "ff02::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(
                lan.check_ip(ip).is_err(),
                "{ip} must be refused even with private allowed"
            );
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_judged_as_ipv4() {
        let p = policy(false);
        assert!(p.check_ip("::ffff:127.0.0.1".parse().unwrap()).is_err());
        assert!(
            p.check_ip("::ffff:169.254.169.254".parse().unwrap())
                .unwrap_err()
                .contains("link-local")
        );
        assert!(p.check_ip("::ffff:8.8.8.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn public_addresses_pass() {
        let p = policy(false);
        assert!(p.check_ip("95.163.250.10".parse().unwrap()).is_ok());
        assert!(p.check_ip("2a00:1450::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_literal_ip_url_is_checked_without_resolving() {
        let mut p = policy(false);
        p.extra
            .push(Origin::parse("http://127.0.0.1:8080").unwrap());
        assert!(
            p.check_url("http://127.0.0.1:8080/x")
                .unwrap_err()
                .contains("loopback")
        );
        p.allow_private = true;
        assert!(p.check_url("http://127.0.0.1:8080/x").is_ok());
    }

    #[test]
    fn credentials_only_go_to_their_origin() {
        let p = policy(false);
        let api = Origin::parse("https://api.gitflic.ru").unwrap();
        let oauth = Origin::parse("https://oauth.gitflic.ru").unwrap();
        assert!(
            p.check_credential(CredentialKind::AccessToken, &api)
                .is_ok()
        );
        assert!(
            p.check_credential(CredentialKind::AccessToken, &oauth)
                .is_err()
        );
        assert!(
            p.check_credential(CredentialKind::ClientBasic, &oauth)
                .is_ok()
        );
        assert!(
            p.check_credential(CredentialKind::ClientBasic, &api)
                .is_err()
        );
    }

    #[test]
    fn host_owned_and_malformed_headers_are_refused() {
        let h = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        for name in [
            "Host",
            "authorization",
            "Cookie",
            "Transfer-Encoding",
            "connection",
        ] {
            assert!(check_headers(&h(name, "x")).is_err(), "{name}");
        }
        assert!(check_headers(&h("x-ok", "a\r\nInjected: 1")).is_err());
        assert!(check_headers(&h("bad name", "x")).is_err());
        assert!(check_headers(&h("accept", "application/json")).is_ok());
    }
}
