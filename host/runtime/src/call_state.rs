//! The state one plugin call runs with, and the lockdown that makes it a sandbox.
//!
//! A fresh [`CallState`] (and a fresh `Store`) is built for every call, so nothing (tokens,
//! parsed pages, a poisoned instance after a trap) crosses from one call, or one tenant, to
//! the next.

use crate::http::gate::HttpGate;
use crate::log_sink::LogSink;
use std::sync::{Arc, Mutex};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::limits::SandboxLimits;

/// The plugin's notion of "now".
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// Replayed fixtures run at a fixed instant so their goldens do not drift.
    Fixed(i64),
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            Clock::Fixed(ms) => *ms,
        }
    }
}

pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: MeteredLimits,
    pub(crate) http: HttpGate,
    pub(crate) sink: Option<Box<dyn LogSink>>,
    pub(crate) clock: Clock,
    plugin_id: String,
    log_used: u64,
    log_cap: u64,
    log_dropped: u64,
    /// The log text this call's `extract-job-log` may still emit (`log_text_bytes`).
    pub(crate) sink_text: TextAllowance,
    /// Secrets kept out of what the plugin logs or prints (`CallContext::redact`).
    redact: Vec<String>,
    /// stdout and stderr share one capture and one cap.
    pub(crate) stdout: CapturedOutput,
}

impl CallState {
    pub fn new(
        plugin_id: &str,
        limits: &SandboxLimits,
        http: HttpGate,
        sink: Option<Box<dyn LogSink>>,
        clock: Clock,
        redact: Vec<String>,
    ) -> Self {
        let stdout = CapturedOutput::new(limits.stdio_bytes as usize);
        // No preopens, no environment, no arguments, no sockets, no name lookup: the only way
        // out of the sandbox is the `exlogare:ci/http` import, which the gate polices.
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stdout.stderr())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false);
        if let Clock::Fixed(_) = clock {
            wasi.insecure_random_seed(0);
        }
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes as usize)
            .table_elements(limits.table_elements)
            .instances(limits.instances)
            .memories(limits.memories)
            .tables(limits.memories)
            // A failed grow surfaces as a trap naming memory, not as the guest's own
            // `unreachable` after its allocator gives up.
            .trap_on_grow_failure(true)
            .build();
        Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: MeteredLimits {
                inner: store_limits,
                peak_memory: 0,
            },
            http,
            sink,
            clock,
            plugin_id: plugin_id.to_string(),
            log_used: 0,
            log_cap: limits.log_bytes,
            log_dropped: 0,
            sink_text: TextAllowance::new(limits.log_text_bytes),
            redact,
            stdout,
        }
    }

    /// Forwards a plugin's log line to tracing, within the per-call byte cap.
    pub(crate) fn plugin_log(&mut self, level: tracing::Level, message: &str) {
        let len = message.len() as u64;
        if self.log_used + len > self.log_cap {
            self.log_dropped += len;
            return;
        }
        self.log_used += len;
        let message = self.without_secrets(message);
        let plugin = self.plugin_id.as_str();
        match level {
            tracing::Level::ERROR => tracing::error!(plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{message}"),
            tracing::Level::TRACE => tracing::trace!(plugin, "{message}"),
        }
    }

    fn redacted(&self) -> Vec<&str> {
        self.redact.iter().map(String::as_str).collect()
    }

    fn without_secrets(&self, text: &str) -> String {
        crate::secret_text::without_secrets(text, &self.redacted())
    }

    /// The end of what the guest wrote to stderr (a panic message), secrets replaced: it is
    /// quoted in the fault, which the host logs.
    pub(crate) fn stderr_tail_redacted(&self) -> Vec<u8> {
        crate::secret_text::bytes_without_secrets(&self.stdout.stderr_tail(), &self.redacted())
            .into_bytes()
    }

    /// Bytes of plugin log messages dropped over the cap.
    pub fn log_dropped(&self) -> u64 {
        self.log_dropped
    }

    pub fn take_sink(&mut self) -> Option<Box<dyn LogSink>> {
        self.sink.take()
    }
}

/// The per-job cap on emitted log text (`log_text_bytes`), counted as chunks arrive.
#[derive(Debug)]
pub(crate) struct TextAllowance {
    used: u64,
    cap: u64,
    /// A chunk was refused; every later one is too.
    pub(crate) cut: bool,
}

impl TextAllowance {
    fn new(cap: u64) -> Self {
        Self {
            used: 0,
            cap,
            cut: false,
        }
    }

    /// Counts `bytes` of extracted text; past the cap the chunk is refused whole, in words the
    /// plugin can pass on, and so is every later chunk: the analysis read the log up to the
    /// cut, and a smaller chunk after it would leave a gap nobody is told about.
    pub(crate) fn admit(&mut self, bytes: u64) -> Result<(), String> {
        if self.cut || self.used.saturating_add(bytes) > self.cap {
            self.cut = true;
            return Err(format!(
                "this host analyses at most {} bytes of text per job log (sandbox `log_text_bytes`); stop reading",
                self.cap
            ));
        }
        self.used += bytes;
        Ok(())
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// wasmtime's `StoreLimits` plus a record of the largest memory granted, so tests and the
/// replay report can show how far below the cap a call stayed.
pub struct MeteredLimits {
    inner: StoreLimits,
    peak_memory: usize,
}

impl MeteredLimits {
    pub fn peak_memory_bytes(&self) -> u64 {
        self.peak_memory as u64
    }
}

impl wasmtime::ResourceLimiter for MeteredLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let granted = self.inner.memory_growing(current, desired, maximum)?;
        if granted {
            self.peak_memory = self.peak_memory.max(desired);
        }
        Ok(granted)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The last bytes of stderr kept for a fault's explanation, whatever the stdio cap dropped: a
/// Rust guest prints its panic message there just before it aborts.
pub const STDERR_TAIL_BYTES: usize = 2048;

/// stdout and stderr of one call, kept up to a cap; the rest is counted and dropped rather
/// than failing the write, so a chatty plugin is truncated, not killed. The stderr handle
/// also keeps the last [`STDERR_TAIL_BYTES`] written to it.
#[derive(Clone)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Capture>>,
    is_stderr: bool,
}

struct Capture {
    data: Vec<u8>,
    cap: usize,
    dropped: u64,
    stderr_tail: std::collections::VecDeque<u8>,
}

impl CapturedOutput {
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Capture {
                data: Vec::new(),
                cap,
                dropped: 0,
                stderr_tail: std::collections::VecDeque::new(),
            })),
            is_stderr: false,
        }
    }

    /// The same capture, written as stderr (its tail is kept too).
    pub fn stderr(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            is_stderr: true,
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = c.cap.saturating_sub(c.data.len());
        let take = room.min(bytes.len());
        c.data.extend_from_slice(&bytes[..take]);
        c.dropped += (bytes.len() - take) as u64;
        if self.is_stderr {
            let keep = &bytes[bytes.len().saturating_sub(STDERR_TAIL_BYTES)..];
            c.stderr_tail.extend(keep);
            let excess = c.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
            c.stderr_tail.drain(..excess);
        }
    }

    /// What was kept, and how many bytes were dropped.
    pub fn contents(&self) -> (Vec<u8>, u64) {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (c.data.clone(), c.dropped)
    }

    /// The last [`STDERR_TAIL_BYTES`] the guest wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<u8> {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.stderr_tail.iter().copied().collect()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_past_the_cap_is_refused_and_so_is_everything_after() {
        let mut allowance = TextAllowance::new(100);
        assert!(allowance.admit(60).is_ok());
        let refused = allowance.admit(60).unwrap_err();
        assert!(
            refused.contains("100 bytes") && refused.contains("log_text_bytes"),
            "{refused}"
        );
        assert!(allowance.admit(1).is_err(), "a smaller chunk after the cut");
        assert!(allowance.cut);
    }

    #[test]
    fn output_over_the_cap_is_dropped_and_counted() {
        let out = CapturedOutput::new(10);
        out.append(b"0123456");
        out.append(b"789abcdef");
        let (kept, dropped) = out.contents();
        assert_eq!(kept, b"0123456789");
        assert_eq!(dropped, 6);
    }

    #[test]
    fn the_stderr_tail_survives_the_cap_and_stdout_does_not_enter_it() {
        let out = CapturedOutput::new(4);
        let err = out.stderr();
        out.append(b"stdout line\n");
        err.append(&vec![b'x'; 3 * STDERR_TAIL_BYTES]);
        err.append(b"\nthe last words");
        let tail = err.stderr_tail();
        assert_eq!(tail.len(), STDERR_TAIL_BYTES);
        assert!(tail.ends_with(b"\nthe last words"));
        assert!(!tail.windows(6).any(|w| w == b"stdout"));
        assert_eq!(out.contents().0, b"stdo", "the shared cap still applies");
    }
}
