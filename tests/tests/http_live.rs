//! HTTP egress through the live backend against local servers (127.0.0.1 only, never the
//! internet): ../shared/reference/plugin-hosts.md §9.1 items 4-9, each driven by the misbehave plugin
//! so the outcome is what a guest sees, plus the record backend writing replayable fixtures.
//!
//! Names are aimed at the local servers with the live backend's static host table, which goes
//! through the same address check as real DNS answers.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_runtime::egress::CredentialKind;
use exlogare_runtime::http::gate::{
    Credentials, GateError, GateLimits, GateRequest, HttpGate, RequestedCredential,
};
use exlogare_runtime::http::record::RecordBackend;
use exlogare_runtime::http::replay::ReplayBackend;
use exlogare_runtime::http::{BackendError, HttpBackend, Method, OutboundRequest, Secret};
use exlogare_runtime::limits::SandboxLimits;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn limits() -> SandboxLimits {
    SandboxLimits::default()
}

#[test]
fn a_request_to_an_origin_not_allowed_is_denied_to_the_guest_not_trapped() {
    let server = Server::fixed(200, &[], b"secret data".to_vec());
    let allowed = format!("http://api.test:{}", server.port);
    let p = policy(&allowed, true);
    let plugin = misbehave(limits());
    let url = format!("http://elsewhere.test:{}/steal", server.port);
    let backend = live(
        &p,
        &[("api.test", "127.0.0.1"), ("elsewhere.test", "127.0.0.1")],
    );
    let text = report(
        &plugin,
        ctx(p, backend),
        &connection("fetch", &[("url", &url)]),
    );
    assert!(
        text.starts_with("http-error denied:")
            && text.contains("elsewhere.test")
            && text.contains("not allowed"),
        "observed: {text}"
    );
    assert_eq!(server.hits(), 0, "the refused request reached a server");
}

#[test]
fn a_redirect_comes_back_to_the_guest_and_following_it_elsewhere_is_denied() {
    let evil = Server::fixed(200, &[], b"metadata".to_vec());
    let target = format!("http://evil.test:{}/latest/meta-data", evil.port);
    let location: &'static str = Box::leak(target.clone().into_boxed_str());
    let api = Server::start(move |_, s| respond(s, 302, &[("location", location)], b""));
    let origin = format!("http://api.test:{}", api.port);
    let p = policy(&origin, true);
    let backend = live(&p, &[("api.test", "127.0.0.1"), ("evil.test", "127.0.0.1")]);
    let plugin = misbehave(limits());
    let text = report(
        &plugin,
        ctx(p.clone(), backend.clone()),
        &connection("fetch", &[("url", &format!("{origin}/project"))]),
    );
    assert_eq!(
        text,
        format!("response status=302 bytes=0 location={target}"),
        "observed: {text}"
    );
    assert_eq!(evil.hits(), 0, "the host followed the redirect");
    // A plugin that follows the Location itself makes a new request, which the gate judges.
    let text = report(
        &plugin,
        ctx(p, backend),
        &connection("fetch", &[("url", &target)]),
    );
    assert!(
        text.starts_with("http-error denied:") && text.contains("evil.test"),
        "following the redirect: {text}"
    );
    assert_eq!(evil.hits(), 0);
}

#[test]
fn a_name_resolving_to_loopback_or_metadata_is_denied_unless_private_is_allowed() {
    let server = Server::fixed(200, &[], b"{}".to_vec());
    let origin = format!("http://api.test:{}", server.port);
    let conn = connection("fetch", &[("url", &format!("{origin}/user/me"))]);
    let plugin = misbehave(limits());

    let strict = policy(&origin, false);
    let text = report(
        &plugin,
        ctx(strict.clone(), live(&strict, &[("api.test", "127.0.0.1")])),
        &conn,
    );
    assert!(
        text.starts_with("http-error denied:")
            && text.contains("127.0.0.1")
            && text.contains("loopback"),
        "127.0.0.1, strict: {text}"
    );

    let lan = policy(&origin, true);
    let text = report(
        &plugin,
        ctx(lan.clone(), live(&lan, &[("api.test", "169.254.169.254")])),
        &conn,
    );
    assert!(
        text.starts_with("http-error denied:")
            && text.contains("169.254.169.254")
            && text.contains("link-local"),
        "metadata, private allowed: {text}"
    );

    // One bad address in the answer refuses the name, even next to an allowed one.
    let text = report(
        &plugin,
        ctx(
            lan.clone(),
            live(
                &lan,
                &[("api.test", "127.0.0.1"), ("api.test", "169.254.169.254")],
            ),
        ),
        &conn,
    );
    assert!(
        text.starts_with("http-error denied:") && text.contains("169.254.169.254"),
        "mixed answer: {text}"
    );
    assert_eq!(server.hits(), 0, "a refused address was connected to");

    // The operator switch for a self-hosted instance lets loopback through.
    let text = report(
        &plugin,
        ctx(lan.clone(), live(&lan, &[("api.test", "127.0.0.1")])),
        &conn,
    );
    assert_eq!(
        text, "response status=200 bytes=2 location=",
        "127.0.0.1 with private allowed"
    );
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_response_one_byte_over_the_cap_is_too_large() {
    let cap = 1000u64;
    let over = Server::fixed(200, &[], vec![b'x'; cap as usize + 1]);
    let exact = Server::fixed(200, &[], vec![b'x'; cap as usize]);
    let plugin = misbehave(SandboxLimits {
        response_body_bytes: cap,
        stream_body_bytes: cap,
        ..limits()
    });
    for (server, want) in [
        (&over, format!("http-error too-large {cap}")),
        (&exact, format!("response status=200 bytes={cap} location=")),
    ] {
        let origin = format!("http://api.test:{}", server.port);
        let p = policy(&origin, true);
        let text = report(
            &plugin,
            ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
            &connection("fetch", &[("url", &format!("{origin}/x"))]),
        );
        assert_eq!(
            text,
            want,
            "buffered response from the server of {} bytes",
            if server.port == over.port {
                cap + 1
            } else {
                cap
            }
        );
    }
    // The streaming path has its own total cap.
    let origin = format!("http://api.test:{}", over.port);
    let p = policy(&origin, true);
    let text = report(
        &plugin,
        ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
        &connection("stream", &[("url", &format!("{origin}/log"))]),
    );
    assert!(
        text.starts_with("stream status=200")
            && text.ends_with(&format!("then http-error too-large {cap}")),
        "streamed: {text}"
    );
}

/// Sends the head and a first piece of the body, then goes quiet for longer than any test
/// deadline.
fn staller() -> Server {
    Server::start(|_, s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\nconnection: close\r\n\r\n0123456789",
        );
        let _ = s.flush();
        std::thread::sleep(Duration::from_secs(20));
    })
}

#[test]
fn a_server_that_stalls_between_bytes_times_out_within_the_deadline() {
    let server = staller();
    let origin = format!("http://api.test:{}", server.port);
    let p = policy(&origin, true);
    let timeout_ms = 800;
    let plugin = misbehave(SandboxLimits {
        call_timeout_ms: timeout_ms,
        ..limits()
    });
    for mode in ["fetch", "stream"] {
        let started = Instant::now();
        let result = plugin.current_user(
            ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
            &connection(mode, &[("url", &format!("{origin}/log"))]),
        );
        let elapsed = started.elapsed();
        let observed = match &result {
            Ok(out) => format!("{:?}", out.value),
            Err(fault) => format!("{fault:?}"),
        };
        // The HTTP wait ends a grace period before the call's deadline, so the guest sees
        // the timeout as a typed error and returns it, rather than being interrupted.
        assert!(
            observed.contains("http-error timeout"),
            "{mode}: observed {observed} after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_millis(timeout_ms + 1500),
            "{mode}: ended after {elapsed:?} for a {timeout_ms} ms deadline ({observed})"
        );
        eprintln!("stall/{mode}: {observed} after {elapsed:?}");
    }
}

#[test]
fn a_guest_setting_host_or_transfer_encoding_is_an_invalid_request() {
    let server = Server::fixed(200, &[], b"{}".to_vec());
    let origin = format!("http://api.test:{}", server.port);
    let p = policy(&origin, true);
    let plugin = misbehave(limits());
    for header in ["host", "Transfer-Encoding", "authorization"] {
        let text = report(
            &plugin,
            ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
            &connection(
                "fetch-header",
                &[("url", &format!("{origin}/x")), ("header", header)],
            ),
        );
        assert!(
            text.starts_with("http-error invalid-request:") && text.contains(header),
            "{header}: {text}"
        );
    }
    assert_eq!(server.hits(), 0);
}

// ---- The live backend on its own ------------------------------------------------------

fn outbound(url: &str, credential: Option<(CredentialKind, &str)>) -> OutboundRequest {
    OutboundRequest {
        method: Method::Get,
        url: url.parse().unwrap(),
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        credential: credential.map(|(k, v)| (k, Secret::new(v))),
    }
}

#[test]
fn the_live_backend_sends_the_credential_and_returns_any_status() {
    let server = Server::fixed(429, &[("retry-after", "7")], b"slow down".to_vec());
    let p = policy(&format!("http://api.test:{}", server.port), true);
    let backend = live(&p, &[("api.test", "127.0.0.1")]);
    let url = format!("http://api.test:{}/user/me", server.port);
    let mut resp = backend
        .send(
            &outbound(
                &url,
                Some((CredentialKind::AccessToken, "token tok-live-1")),
            ),
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
    let mut body = String::new();
    resp.body.read_to_string(&mut body).unwrap();
    assert_eq!((resp.status, body.as_str()), (429, "slow down"));
    assert!(
        resp.headers
            .iter()
            .any(|(k, v)| k == "retry-after" && v == "7"),
        "{:?}",
        resp.headers
    );
    let head = server.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains("authorization: token tok-live-1"),
        "request head: {head}"
    );
}

#[test]
fn a_refused_connection_is_a_transport_error_and_a_passed_deadline_a_timeout() {
    // Bind then drop: the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = policy(&format!("http://api.test:{port}"), true);
    let backend = live(&p, &[("api.test", "127.0.0.1")]);
    let url = format!("http://api.test:{port}/x");
    let err = backend
        .send(
            &outbound(&url, None),
            Instant::now() + Duration::from_secs(5),
        )
        .err()
        .expect("nothing listens");
    assert!(
        matches!(&err, BackendError::Transport(_)),
        "observed {err:?}"
    );
    let err = backend
        .send(&outbound(&url, None), Instant::now())
        .err()
        .expect("no time left");
    assert_eq!(err, BackendError::Timeout);
}

#[test]
fn names_from_the_system_resolver_are_checked_too() {
    // `localhost` comes from /etc/hosts, so this exercises the real lookup path with no network.
    let server = Server::fixed(200, &[], b"{}".to_vec());
    let origin = format!("http://localhost:{}", server.port);
    let backend = live(&policy(&origin, false), &[]);
    let err = backend
        .send(
            &outbound(&format!("{origin}/x"), None),
            Instant::now() + Duration::from_secs(5),
        )
        .err();
    assert!(
        matches!(&err, Some(BackendError::Denied(m)) if m.contains("localhost") && m.contains("loopback")),
        "observed {err:?}"
    );
    assert_eq!(server.hits(), 0);
}

// ---- Recording ---------------------------------------------------------------------------

const ACCESS: &str = "gf-at-live-secret-0001";
const CLIENT_SECRET: &str = "client-secret-live-42";

/// A provider double: OAuth token endpoint, an endpoint echoing a token in its body, and a log.
fn provider_double(log_bytes: usize) -> Server {
    Server::start(move |head, s| {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        match path.as_str() {
            p if p.starts_with("/api/token/refresh") => respond(
                s,
                200,
                &[("content-type", "application/json"), ("set-cookie", "session=abcdef123456")],
                br#"{"accessToken":"gf-at-new-000000001","refreshToken":"gf-rt-new-000000002","expires_in":2592000}"#,
            ),
            "/user/me" => respond(
                s,
                200,
                &[("content-type", "application/json;charset=UTF-8")],
                format!(r#"{{"id":"u1","username":"alice","debugEcho":"Authorization: token {ACCESS}"}}"#).as_bytes(),
            ),
            "/job/17/log" => {
                let mut body = Vec::with_capacity(log_bytes);
                let line = b"\x1b[32mCompiling\x1b[0m crate v1.0.0\r\n";
                while body.len() + line.len() <= log_bytes {
                    body.extend_from_slice(line);
                }
                body.resize(log_bytes, b'.');
                respond(s, 200, &[("content-type", "text/plain")], &body)
            }
            _ => respond(s, 404, &[("content-type", "application/json")], br#"{"message":"not found"}"#),
        }
    })
}

fn gate_for(origin: &str, backend: Arc<dyn HttpBackend>) -> HttpGate {
    let p = policy(origin, true);
    let creds = Credentials {
        access_token: Some(Secret::new(ACCESS)),
        client_id: Some("exlogare-test".into()),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
    };
    let l = SandboxLimits::default();
    let limits = GateLimits {
        requests: 10,
        request_body_bytes: l.request_body_bytes,
        response_body_bytes: l.response_body_bytes,
        stream_body_bytes: l.stream_body_bytes,
        stream_read_bytes: l.stream_read_bytes,
    };
    HttpGate::new(
        p,
        backend,
        creds,
        limits,
        Instant::now() + Duration::from_secs(20),
    )
}

fn get(url: String, credential: Option<RequestedCredential>) -> GateRequest {
    GateRequest {
        method: Method::Get,
        url,
        headers: vec![],
        body: None,
        credential,
    }
}

/// What the plugin would do in one session: refresh a token, read the user, stream a log.
fn session(gate: &mut HttpGate, origin: &str) -> Vec<(u16, Vec<u8>)> {
    let mut seen = Vec::new();
    let refresh = GateRequest {
        method: Method::Post,
        url: format!("{origin}/api/token/refresh"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(br#"{"refreshToken":"gf-rt-old-000000003"}"#.to_vec()),
        credential: Some(RequestedCredential::ClientBasic),
    };
    let (status, _, body) = gate.send(refresh).unwrap();
    seen.push((status, body));
    let (status, _, body) = gate
        .send(get(
            format!("{origin}/user/me"),
            Some(RequestedCredential::AccessToken {
                scheme: "token".into(),
            }),
        ))
        .unwrap();
    seen.push((status, body));
    let (status, _, mut stream) = gate
        .send_streaming(get(
            format!("{origin}/job/17/log"),
            Some(RequestedCredential::AccessToken {
                scheme: "token".into(),
            }),
        ))
        .unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = stream.read(64 << 10).unwrap() {
        body.extend_from_slice(&chunk);
    }
    seen.push((status, body));
    seen
}

fn all_text(dir: &std::path::Path) -> String {
    let mut text = std::fs::read_to_string(dir.join("exchanges.toml")).unwrap();
    for entry in std::fs::read_dir(dir.join("bodies")).unwrap() {
        text.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.unwrap().path()).unwrap(),
        ));
    }
    text
}

#[test]
fn recorded_traffic_is_redacted_and_replays_through_the_gate() {
    let log_bytes = 3 << 20;
    let server = provider_double(log_bytes);
    let origin = format!("http://api.test:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let live_backend = live(&policy(&origin, true), &[("api.test", "127.0.0.1")]);
    let recorder = Arc::new(RecordBackend::new(live_backend, dir.path()).unwrap());
    let live_seen = {
        let mut gate = gate_for(&origin, recorder.clone());
        session(&mut gate, &origin)
    };
    let summary = recorder.finish().unwrap();
    assert_eq!(
        (summary.exchanges, summary.truncated),
        (3, 0),
        "{summary:?}"
    );

    let text = all_text(dir.path());
    for secret in [
        ACCESS,
        CLIENT_SECRET,
        "gf-at-new-000000001",
        "gf-rt-new-000000002",
        "gf-rt-old-000000003",
        "session=abcdef123456",
    ] {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked into the recording"
        );
    }
    let toml_text = std::fs::read_to_string(dir.path().join("exchanges.toml")).unwrap();
    assert!(
        toml_text.contains(r#"auth = "client-basic""#)
            && toml_text.contains(r#"auth = "access-token""#),
        "{toml_text}"
    );
    assert!(
        toml_text.contains("REDACTED-refresh-token-1"),
        "the refresh request body keeps a placeholder: {toml_text}"
    );
    assert!(!toml_text.contains("set-cookie"), "{toml_text}");
    let user_body = std::fs::read_to_string(dir.path().join("bodies/002-user-me.json")).unwrap();
    assert!(
        user_body.contains("Authorization: token REDACTED-access-token-"),
        "the echoed token is scrubbed: {user_body}"
    );
    let log = std::fs::metadata(dir.path().join("bodies/003-job-17-log.log")).unwrap();
    assert_eq!(log.len(), log_bytes as u64, "the log is recorded whole");

    // The recording is a fixture: the replay backend reads it, and the same session through
    // the gate gets the same statuses and the (redacted) bodies.
    let replay = Arc::new(
        ReplayBackend::load(
            dir.path(),
            Some(format!("token {ACCESS}")),
            Some("Basic ZXhsb2dhcmUtdGVzdDpjbGllbnQtc2VjcmV0LWxpdmUtNDI=".into()),
        )
        .unwrap(),
    );
    let replayed = {
        let mut gate = gate_for(&origin, replay.clone());
        session(&mut gate, &origin)
    };
    let statuses = |s: &[(u16, Vec<u8>)]| s.iter().map(|(st, _)| *st).collect::<Vec<_>>();
    assert_eq!(statuses(&replayed), statuses(&live_seen));
    // The refresh request's recorded body holds a placeholder, so the live value differs: the
    // replay backend reports it, which is how a fixture author sees what to put in scenario.toml.
    let violations = replay.violations();
    assert!(
        violations.len() == 1 && violations[0].contains("request body differs"),
        "{violations:?}"
    );
    assert_eq!(replayed[2].1.len(), log_bytes, "the log replays whole");
    assert!(
        String::from_utf8_lossy(&replayed[0].1).contains("REDACTED-access-token-"),
        "{}",
        String::from_utf8_lossy(&replayed[0].1)
    );
}

#[test]
fn a_body_the_plugin_stopped_reading_is_marked_truncated() {
    let server = provider_double(1 << 20);
    let origin = format!("http://api.test:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(
        RecordBackend::new(
            live(&policy(&origin, true), &[("api.test", "127.0.0.1")]),
            dir.path(),
        )
        .unwrap(),
    );
    {
        let mut gate = gate_for(&origin, recorder.clone());
        let (_, _, mut stream) = gate
            .send_streaming(get(format!("{origin}/job/17/log"), None))
            .unwrap();
        stream.read(1000).unwrap();
        let refused = gate
            .send(get("http://elsewhere.test/x".into(), None))
            .unwrap_err();
        assert!(matches!(refused, GateError::Denied(_)));
    }
    let summary = recorder.finish().unwrap();
    assert_eq!(
        (summary.exchanges, summary.truncated),
        (1, 1),
        "{summary:?}"
    );
    let toml_text = std::fs::read_to_string(&summary.exchanges_file).unwrap();
    assert!(toml_text.contains("stopped reading after"), "{toml_text}");
}

// ---- TLS with an operator-supplied CA -----------------------------------------------------

/// A self-hosted instance's certificate, issued by a private CA: returns the CA's PEM and a
/// TLS server on 127.0.0.1 presenting a certificate for `git.internal.test`.
fn private_ca_server() -> (String, u16) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["git.internal.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nhello\r\n",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (ca.pem(), port)
}

#[test]
fn a_self_hosted_instance_with_a_private_ca_needs_the_operators_ca() {
    use exlogare_runtime::http::live::{LiveBackend, LiveOptions};
    let (ca_pem, port) = private_ca_server();
    let origin = format!("https://git.internal.test:{port}");
    let p = policy(&origin, true);
    let hosts: std::collections::HashMap<String, Vec<std::net::IpAddr>> = [(
        "git.internal.test".to_string(),
        vec!["127.0.0.1".parse().unwrap()],
    )]
    .into();
    let url = format!("{origin}/rest-api/user/me");
    let deadline = || Instant::now() + Duration::from_secs(5);

    let without = LiveBackend::new(
        p.clone(),
        LiveOptions {
            static_hosts: hosts.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let err = without
        .send(&outbound(&url, None), deadline())
        .err()
        .expect("an unknown issuer must fail");
    assert!(
        matches!(&err, BackendError::Transport(m) if m.to_lowercase().contains("certificate")),
        "without the CA: {err:?}"
    );

    let with = LiveBackend::new(
        p,
        LiveOptions {
            static_hosts: hosts,
            extra_ca_pem: Some(ca_pem.into_bytes()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut resp = with
        .send(&outbound(&url, None), deadline())
        .unwrap_or_else(|e| panic!("with the CA: {e:?}"));
    let mut body = String::new();
    resp.body.read_to_string(&mut body).unwrap();
    assert_eq!((resp.status, body.as_str()), (200, "hello\r\n"));
}
