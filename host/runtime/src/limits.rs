//! Every limit the sandbox enforces, in one place, with the defaults a plugin gets when the
//! operator says nothing.
//!
//! Each limit is on by default: Zed, Extism and Spin leave memory unlimited unless told, and
//! a limit that is parsed but never applied is a real bug class (see
//! `../shared/reference/plugin-hosts.md` §9.1). Every field here has a test that shows it biting.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Per-plugin sandbox limits. Deserialized from the operator's config (`[sandbox]`) or a
/// fixture scenario's `[limits]`; any field left out keeps its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// Linear memory per instance. GitFlic pages are small JSON and logs stream through in
    /// chunks, so 64 MiB is ample; a 200 MB log must fit under it.
    pub memory_bytes: u64,
    /// Wall-clock budget for one call: guest CPU (epoch interruption) and host waits alike.
    pub call_timeout_ms: u64,
    /// HTTP requests one call may make; stops a paging loop that never ends.
    pub requests_per_call: u32,
    /// HTTP requests one plugin may have open at once, summed over all its concurrent calls in
    /// this process (workers, webhook verification, the poller; a CLI command is another
    /// process with its own slots). A request holds its slot until its
    /// response is consumed: the buffered body read, or the body stream ended or dropped.
    pub http_concurrency: u32,
    /// How long a request waits for one of those slots before the guest gets
    /// `http-error.timeout` (never past the call's own deadline). 0: do not wait.
    pub http_wait_ms: u64,
    /// Request body cap (bytes).
    pub request_body_bytes: u64,
    /// Buffered response body cap (bytes) for `http.send`.
    pub response_body_bytes: u64,
    /// Total bytes one streamed response body may deliver (`http.send-streaming`).
    pub stream_body_bytes: u64,
    /// Largest single `body-stream.read`.
    pub stream_read_bytes: u32,
    /// stdout + stderr captured per call; the rest is dropped with a note.
    pub stdio_bytes: u64,
    /// Bytes of `log` import messages kept per call.
    pub log_bytes: u64,
    /// Text (the lines' bytes) one call may hand `log-sink.emit`: what the analysis of one job
    /// reads at most. Past it `emit` answers an error (the plugin stops reading) and the job's
    /// message says the log was read only in part. A plugin that makes up lines without reading
    /// anything cannot keep the analysis busy for its whole deadline.
    pub log_text_bytes: u64,
    /// Size of the `.wasm` file accepted at load.
    pub component_bytes: u64,
    /// Bytes of input (webhook body etc.) handed to one call.
    pub input_bytes: u64,
    /// Wasm tables' elements / instances / memories per store.
    pub table_elements: usize,
    pub instances: usize,
    pub memories: usize,
    /// Consecutive traps within `trap_window_secs` after which the plugin is disabled.
    pub max_consecutive_traps: u32,
    pub trap_window_secs: u64,
    /// Calls of one plugin that may run at once: the instances it may hold in the engine's
    /// pool, which every plugin shares (64). One plugin that loops cannot take the whole pool
    /// and starve the others; a plugin set shares the pool out (at most `pool / plugins`
    /// each, see `PluginSet::load`).
    pub concurrent_calls: u32,
    /// How long a call waits for one of those slots before it is refused as "host busy": not
    /// run, and not counted against the plugin (host capacity is never a plugin fault).
    pub call_slot_wait_ms: u64,
    /// Bytes the guest may hand the host in one host call (a request, a log chunk) or one
    /// export's result: wasmtime's per-call copy limit (`Store::set_hostcall_fuel`, 128 MiB
    /// when unset). Strings that all point into one guest buffer are copied once each, so
    /// without it 1 MiB of guest memory makes the host copy up to 128 MiB per call.
    pub host_copy_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_timeout_ms: 30_000,
            requests_per_call: 50,
            http_concurrency: 4,
            http_wait_ms: 5_000,
            request_body_bytes: 1 << 20,
            response_body_bytes: 16 << 20,
            stream_body_bytes: 1 << 30,
            stream_read_bytes: 256 << 10,
            stdio_bytes: 64 << 10,
            log_bytes: 64 << 10,
            log_text_bytes: 256 << 20,
            component_bytes: 10 << 20,
            input_bytes: 1 << 20,
            table_elements: 20_000,
            instances: 20,
            memories: 4,
            max_consecutive_traps: 5,
            trap_window_secs: 300,
            concurrent_calls: 16,
            call_slot_wait_ms: 2_000,
            host_copy_bytes: 4 << 20,
        }
    }
}

/// The largest memory any plugin may be granted; the pooling allocator reserves slots this big.
pub const MAX_MEMORY_BYTES: u64 = 256 << 20;
/// The longest call the operator may configure.
pub const MAX_CALL_TIMEOUT_MS: u64 = 300_000;
/// What `host_copy_bytes` must leave room for besides a full request body: its URL and headers.
pub const COPY_HEADROOM_BYTES: u64 = 64 << 10;

impl SandboxLimits {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    pub fn http_wait(&self) -> Duration {
        Duration::from_millis(self.http_wait_ms)
    }

    pub fn call_slot_wait(&self) -> Duration {
        Duration::from_millis(self.call_slot_wait_ms)
    }

    /// The limits a fault names, in the words and setting names the faults use, for
    /// `exlogare-host inspect`: an operator reading "ran past its deadline" sees which one.
    pub fn summary(&self) -> String {
        format!(
            "deadline {} ms a call (call_timeout_ms), memory {} (memory_bytes), {} requests a call (requests_per_call), {} calls at once (concurrent_calls), {} copied by the host a call (host_copy_bytes), {} of log text a job (log_text_bytes), switched off after {} faults in a row within {} s (max_consecutive_traps, trap_window_secs)",
            self.call_timeout_ms,
            size(self.memory_bytes),
            self.requests_per_call,
            self.concurrent_calls,
            size(self.host_copy_bytes),
            size(self.log_text_bytes),
            self.max_consecutive_traps,
            self.trap_window_secs,
        )
    }

    /// Refuses settings that would switch a limit off or exceed what the engine reserves.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero: [(&str, u64); 13] = [
            ("memory_bytes", self.memory_bytes),
            ("call_timeout_ms", self.call_timeout_ms),
            ("requests_per_call", self.requests_per_call as u64),
            ("http_concurrency", self.http_concurrency as u64),
            ("response_body_bytes", self.response_body_bytes),
            ("stream_body_bytes", self.stream_body_bytes),
            ("stream_read_bytes", self.stream_read_bytes as u64),
            ("component_bytes", self.component_bytes),
            ("input_bytes", self.input_bytes),
            ("max_consecutive_traps", self.max_consecutive_traps as u64),
            ("concurrent_calls", self.concurrent_calls as u64),
            ("host_copy_bytes", self.host_copy_bytes),
            ("log_text_bytes", self.log_text_bytes),
        ];
        for (name, value) in nonzero {
            if value == 0 {
                return Err(format!(
                    "sandbox limit `{name}` is 0; every limit must stay on (pick a small positive value instead)"
                ));
            }
        }
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(format!(
                "sandbox limit `memory_bytes` = {} exceeds the host maximum {MAX_MEMORY_BYTES}",
                self.memory_bytes
            ));
        }
        if self.call_timeout_ms > MAX_CALL_TIMEOUT_MS {
            return Err(format!(
                "sandbox limit `call_timeout_ms` = {} exceeds the host maximum {MAX_CALL_TIMEOUT_MS}",
                self.call_timeout_ms
            ));
        }
        let copy_floor = self.request_body_bytes.saturating_add(COPY_HEADROOM_BYTES);
        if self.host_copy_bytes < copy_floor {
            return Err(format!(
                "sandbox limit `host_copy_bytes` = {} is below `request_body_bytes` + 64 KiB ({copy_floor}): a plugin could not hand the host a full request body with its headers; raise it to at least {copy_floor}",
                self.host_copy_bytes
            ));
        }
        Ok(())
    }
}

/// Bytes as a person writes them: whole MiB or KiB when exact, else bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_each_limit_by_its_setting() {
        let l: SandboxLimits = toml::from_str(
            "memory_bytes = 1500000\nhost_copy_bytes = 5242880\nconcurrent_calls = 3",
        )
        .unwrap();
        let s = l.summary();
        for part in [
            "deadline 30000 ms a call (call_timeout_ms)",
            "memory 1500000 bytes (memory_bytes)",
            "3 calls at once (concurrent_calls)",
            "5 MiB copied by the host a call (host_copy_bytes)",
            "256 MiB of log text a job (log_text_bytes)",
            "after 5 faults in a row within 300 s",
        ] {
            assert!(s.contains(part), "{part:?} in {s}");
        }
        assert_eq!(size(64 << 10), "64 KiB");
    }

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let l = SandboxLimits::default();
        assert_eq!(l.validate(), Ok(()));
        assert_eq!(l.memory_bytes, 64 * 1024 * 1024);
        assert_eq!(l.call_timeout(), Duration::from_secs(30));
        assert_eq!(
            (l.http_concurrency, l.http_wait()),
            (4, Duration::from_secs(5)),
            "../shared/reference/plugin-hosts.md §9.1"
        );
    }

    #[test]
    fn http_concurrency_of_zero_is_refused_and_a_zero_wait_is_allowed() {
        let l = SandboxLimits {
            http_concurrency: 0,
            ..Default::default()
        };
        assert!(l.validate().unwrap_err().contains("http_concurrency"));
        let l = SandboxLimits {
            http_wait_ms: 0,
            ..Default::default()
        };
        assert_eq!(
            l.validate(),
            Ok(()),
            "no wait is a strict limit, not an absent one"
        );
        let l: SandboxLimits = toml::from_str("http_concurrency = 2\nhttp_wait_ms = 250").unwrap();
        assert_eq!((l.http_concurrency, l.http_wait_ms), (2, 250));
    }

    #[test]
    fn a_zero_limit_is_refused_by_name() {
        let l = SandboxLimits {
            requests_per_call: 0,
            ..Default::default()
        };
        let err = l.validate().unwrap_err();
        assert!(err.contains("requests_per_call"), "{err}");
    }

    #[test]
    fn memory_above_the_engine_reservation_is_refused() {
        let l = SandboxLimits {
            memory_bytes: MAX_MEMORY_BYTES + 1,
            ..Default::default()
        };
        assert!(l.validate().unwrap_err().contains("memory_bytes"));
    }

    #[test]
    fn host_capacity_limits_are_on_and_the_copy_limit_fits_a_request() {
        let l = SandboxLimits::default();
        assert_eq!(
            (l.concurrent_calls, l.host_copy_bytes),
            (16, 4 << 20),
            "the README's sandbox section states these"
        );
        for (field, bad) in [
            ("concurrent_calls", "concurrent_calls = 0"),
            ("host_copy_bytes", "host_copy_bytes = 0"),
            ("host_copy_bytes", "request_body_bytes = 4194304"),
        ] {
            let l: SandboxLimits = toml::from_str(bad).unwrap();
            let err = l.validate().unwrap_err();
            assert!(err.contains(field), "{bad}: {err}");
        }
    }

    #[test]
    fn partial_config_keeps_other_defaults() {
        let l: SandboxLimits = toml::from_str("memory_bytes = 1048576").unwrap();
        assert_eq!(l.memory_bytes, 1 << 20);
        assert_eq!(l.requests_per_call, 50);
        assert!(
            toml::from_str::<SandboxLimits>("memroy_bytes = 1").is_err(),
            "typos must not pass silently"
        );
    }
}
