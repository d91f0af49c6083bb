//! Bindings for the `exlogare:ci@0.1.x` line and the host side of its imports.
//!
//! A later breaking line (`0.2`) gets a sibling file with its own `bindgen!` and an adapter
//! into these types, as Zed's `wasm_host/wit/since_vX.rs` does; patch releases (`0.1.y`) need
//! nothing for what they keep, since wasmtime's linker and export lookup match them
//! semver-compatibly (`provider@0.1.0` answers a lookup of `provider@0.1.1`).
//!
//! Optional exports a patch adds (0.1.1: `endpoints`) are bound separately, from their own world,
//! and only their per-interface indices are used: the host probes each at load
//! ([`ENDPOINTS_EXPORT`]) and plugins without it load as before.

use crate::call_state::CallState;
use crate::http::gate::{GateError, GateRequest, RequestedCredential, StreamBody};
use wasmtime::component::Resource;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "ci-provider",
    with: { "exlogare:ci/http.body-stream": crate::http::gate::StreamBody },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exlogare::ci::http as http_types;
pub use exlogare::ci::log_sink as sink_types;
pub use exlogare::ci::types;
pub use exports::exlogare::ci::provider;
pub use optional::exports::exlogare::ci::endpoints;

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// The optional `endpoints` export (since 0.1.1), as the host looks it up.
pub const ENDPOINTS_EXPORT: &str = "exlogare:ci/endpoints@0.1.1";

/// Bindings of `ci-provider-with-endpoints`, for its `endpoints` export only. Every import and
/// shared type is the one above (`with`), so `endpoints.defaults` returns [`types::Connection`].
/// The world-level `CiProviderWithEndpoints` is not used: it would require the optional export.
mod optional {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "ci-provider-with-endpoints",
        with: {
            "exlogare:ci/types": crate::wit::v0_1::exlogare::ci::types,
            "exlogare:ci/http": crate::wit::v0_1::exlogare::ci::http,
            "exlogare:ci/log": crate::wit::v0_1::exlogare::ci::log,
            "exlogare:ci/clock": crate::wit::v0_1::exlogare::ci::clock,
            "exlogare:ci/log-sink": crate::wit::v0_1::exlogare::ci::log_sink,
        },
    });
}

impl From<GateError> for http_types::HttpError {
    fn from(e: GateError) -> Self {
        use http_types::HttpError as H;
        match e {
            GateError::Denied(m) => H::Denied(m),
            GateError::Timeout => H::Timeout,
            GateError::TooLarge(n) => H::TooLarge(n),
            GateError::Transport(m) => H::Transport(m),
            GateError::InvalidRequest(m) => H::InvalidRequest(m),
        }
    }
}

fn gate_request(req: http_types::Request) -> GateRequest {
    use crate::http::Method as M;
    use http_types::Method as W;
    GateRequest {
        method: match req.method {
            W::Get => M::Get,
            W::Head => M::Head,
            W::Post => M::Post,
            W::Put => M::Put,
            W::Patch => M::Patch,
            W::Delete => M::Delete,
        },
        url: req.url,
        headers: req.headers,
        body: req.body,
        credential: req.credential.map(|c| match c {
            http_types::Credential::AccessToken(scheme) => {
                RequestedCredential::AccessToken { scheme }
            }
            http_types::Credential::ClientBasic => RequestedCredential::ClientBasic,
        }),
    }
}

impl http_types::Host for CallState {
    fn send(
        &mut self,
        req: http_types::Request,
    ) -> Result<http_types::Response, http_types::HttpError> {
        let (status, headers, body) = self.http.send(gate_request(req))?;
        Ok(http_types::Response {
            status,
            headers,
            body,
        })
    }

    fn send_streaming(
        &mut self,
        req: http_types::Request,
    ) -> Result<(http_types::ResponseHead, Resource<StreamBody>), http_types::HttpError> {
        let (status, headers, body) = self.http.send_streaming(gate_request(req))?;
        let handle = self
            .table
            .push(body)
            .map_err(|e| http_types::HttpError::Transport(format!("host resource table: {e}")))?;
        Ok((http_types::ResponseHead { status, headers }, handle))
    }
}

impl http_types::HostBodyStream for CallState {
    fn read(
        &mut self,
        stream: Resource<StreamBody>,
        max: u32,
    ) -> Result<Option<Vec<u8>>, http_types::HttpError> {
        let body = self
            .table
            .get_mut(&stream)
            .map_err(|e| http_types::HttpError::Transport(format!("unknown body stream: {e}")))?;
        Ok(body.read(max)?)
    }

    fn drop(&mut self, stream: Resource<StreamBody>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

impl exlogare::ci::log::Host for CallState {
    fn log(&mut self, level: exlogare::ci::log::Level, message: String) {
        use exlogare::ci::log::Level as L;
        let level = match level {
            L::Trace => tracing::Level::TRACE,
            L::Debug => tracing::Level::DEBUG,
            L::Info => tracing::Level::INFO,
            L::Warn => tracing::Level::WARN,
            L::Error => tracing::Level::ERROR,
        };
        self.plugin_log(level, &message);
    }
}

impl exlogare::ci::clock::Host for CallState {
    fn now(&mut self) -> i64 {
        self.clock.now_ms()
    }
}

impl sink_types::Host for CallState {
    fn emit(&mut self, chunk: sink_types::LogChunk) -> Result<(), String> {
        match self.sink.as_mut() {
            Some(sink) => sink.emit(chunk),
            None => Err("this call has no log sink; extract-job-log must be called through the host's extract API".into()),
        }
    }
}

impl exlogare::ci::types::Host for CallState {}

/// Adds this line's imports to a linker.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<CallState>) -> wasmtime::Result<()> {
    CiProvider::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(linker, |s| s)
}
