//! What `/metrics` exposes, in Prometheus text format.
//!
//! Label values are escaped here ([`LabelText`]): prometheus-client writes them verbatim, so a
//! value with a `"` or a newline (a provider name taken from a URL, say) would end the label
//! and forge a series or break the scrape. Which values may appear at all is the caller's
//! business: the webhook route labels deliveries with loaded plugin ids only (server.rs).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, LabelText)>;

/// A label value, escaped as the text format requires when it is encoded: `\` → `\\`,
/// `"` → `\"`, a line feed → `\n`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LabelText(String);

impl From<&str> for LabelText {
    fn from(s: &str) -> Self {
        LabelText(s.to_string())
    }
}

impl From<String> for LabelText {
    fn from(s: String) -> Self {
        LabelText(s)
    }
}

impl EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        let mut rest = self.0.as_str();
        while let Some(at) = rest.find(['\\', '"', '\n']) {
            encoder.write_str(&rest[..at])?;
            encoder.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[at + 1..];
        }
        encoder.write_str(rest)
    }
}

/// The provider label of a request for a provider no plugin provides: one fixed series, so
/// names made up by callers neither forge series nor grow memory.
pub const UNKNOWN_PROVIDER: &str = "unknown";
pub struct Metrics {
    registry: Registry,
    deliveries: Family<Labels, Counter>,
    queue_depth: Gauge,
    plugin_calls: Family<Labels, Histogram>,
    plugin_faults: Family<Labels, Counter>,
    provider_requests: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
    analyses: Family<Labels, Counter>,
    green_runs: Family<Labels, Counter>,
    plugin_reloads: Family<Labels, Counter>,
    delivery_steps: Family<Labels, Histogram>,
    plugin_files_refused: Gauge,
    token_refreshes: Family<Labels, Counter>,
    connection_state: Family<Labels, Gauge>,
    connection_calls: Family<Labels, Gauge>,
    plugin_breaker: Family<Labels, Gauge>,
    plugin_calls_running: Family<Labels, Gauge>,
    worker_panics: Counter,
    worker_restarts: Counter,
    workers_alive: Gauge,
    /// Scrape-time gauges are cleared and refilled per render: two scrapes at once must not
    /// encode each other's half-built series.
    render_lock: std::sync::Mutex<()>,
}

/// One connection as a scrape reports it (read from the service when `/metrics` is asked).
pub struct ConnectionSample<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    /// `connected`, `not_connected` or `needs_reconnection`.
    pub status: &'a str,
    pub calls_used: u32,
    pub calls_per_hour: u32,
}

/// One loaded plugin as a scrape reports it.
pub struct PluginSample<'a> {
    pub provider: &'a str,
    /// Whether the circuit breaker refuses calls now.
    pub disabled: bool,
    /// Calls running now, and the most that may.
    pub calls_running: u32,
    pub call_slots: u32,
}

/// Every state a connection can be in, so each gets a 0 or 1 series (a Prometheus state set):
/// an alert on `state="needs_reconnection" == 1` then works without absent-series tricks.
const CONNECTION_STATES: [&str; 4] = [
    "connected",
    "not_connected",
    "needs_reconnection",
    "unusable",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("exlogare");
        let deliveries = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by provider and outcome",
            deliveries.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Deliveries queued or being analysed",
            queue_depth.clone(),
        );
        let plugin_calls = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0])
        });
        registry.register(
            "plugin_call_seconds",
            "Plugin call latency by provider and operation",
            plugin_calls.clone(),
        );
        let plugin_faults = Family::<Labels, Counter>::default();
        registry.register(
            "plugin_faults",
            "Plugin traps, timeouts and memory-limit faults",
            plugin_faults.clone(),
        );
        let provider_requests = Family::<Labels, Counter>::default();
        registry.register(
            "provider_requests",
            "Provider API requests by provider and status",
            provider_requests.clone(),
        );
        let notifications = Family::<Labels, Counter>::default();
        registry.register(
            "notifications",
            "Notifications by notifier and outcome",
            notifications.clone(),
        );
        let analyses = Family::<Labels, Counter>::default();
        registry.register("analyses", "Finished analyses by outcome", analyses.clone());
        let green_runs = Family::<Labels, Counter>::default();
        registry.register(
            "green_runs",
            "Failed jobs by how their log was read against the job's last green run (compared, no_green_run, not_compared) and whether that took provider requests (lookup) or none (stored)",
            green_runs.clone(),
        );
        let delivery_steps = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
            ])
        });
        registry.register(
            "delivery_step_seconds",
            "Time per step of a delivery, from webhook to chat: verify, store, queue_wait, failure_details, green_run, extraction, analysis (on its own thread, overlapping extraction), settle, send",
            delivery_steps.clone(),
        );
        let plugin_reloads = Family::<Labels, Counter>::default();
        registry.register(
            "plugin_reloads",
            "Reloads of the plugins folder by outcome (clean, or with_refusals: a component did not load and its earlier version kept serving)",
            plugin_reloads.clone(),
        );
        let plugin_files_refused = Gauge::default();
        registry.register(
            "plugin_files_refused",
            "Component files the last reload refused (0 when all loaded)",
            plugin_files_refused.clone(),
        );
        let token_refreshes = Family::<Labels, Counter>::default();
        registry.register(
            "token_refreshes",
            "OAuth token refreshes by connection and outcome (refreshed, refused, unavailable)",
            token_refreshes.clone(),
        );
        let connection_state = Family::<Labels, Gauge>::default();
        registry.register(
            "connection_state",
            "1 for the state each connection is in, 0 for the others",
            connection_state.clone(),
        );
        let connection_calls = Family::<Labels, Gauge>::default();
        registry.register("connection_calls", "Provider calls of each connection in the last hour (kind=used) and its budget (kind=limit)", connection_calls.clone());
        let plugin_breaker = Family::<Labels, Gauge>::default();
        registry.register(
            "plugin_disabled",
            "1 while a plugin's circuit breaker refuses its calls (it re-enables itself after trap_window_secs), else 0",
            plugin_breaker.clone(),
        );
        let plugin_calls_running = Family::<Labels, Gauge>::default();
        registry.register(
            "plugin_calls_running",
            "Calls of each plugin running now (kind=running) and its call slots (kind=slots)",
            plugin_calls_running.clone(),
        );
        let worker_panics = Counter::default();
        registry.register(
            "worker_panics",
            "Panics caught while a worker processed a delivery (each parks that delivery)",
            worker_panics.clone(),
        );
        let worker_restarts = Counter::default();
        registry.register(
            "worker_restarts",
            "Worker threads that died and were started again",
            worker_restarts.clone(),
        );
        let workers_alive = Gauge::default();
        registry.register(
            "workers_alive",
            "Worker threads running now",
            workers_alive.clone(),
        );
        // Present from the start, so the first request for an unknown provider adds no series.
        deliveries
            .get_or_create(&vec![
                ("provider", UNKNOWN_PROVIDER.into()),
                ("outcome", "http_404".into()),
            ])
            .inc_by(0);
        Self {
            registry,
            deliveries,
            queue_depth,
            plugin_calls,
            plugin_faults,
            provider_requests,
            notifications,
            analyses,
            green_runs,
            plugin_reloads,
            delivery_steps,
            plugin_files_refused,
            token_refreshes,
            connection_state,
            connection_calls,
            plugin_breaker,
            plugin_calls_running,
            worker_panics,
            worker_restarts,
            workers_alive,
            render_lock: std::sync::Mutex::new(()),
        }
    }

    pub fn delivery(&self, provider: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&vec![
                ("provider", provider.into()),
                ("outcome", outcome.into()),
            ])
            .inc();
    }

    pub fn plugin_call(&self, provider: &str, op: &str, took: Duration) {
        self.plugin_calls
            .get_or_create(&vec![("provider", provider.into()), ("op", op.into())])
            .observe(took.as_secs_f64());
    }

    pub fn plugin_fault(&self, provider: &str, fault: &str) {
        self.plugin_faults
            .get_or_create(&vec![
                ("provider", provider.into()),
                ("fault", fault.into()),
            ])
            .inc();
    }

    pub fn provider_request(&self, provider: &str, status: &str) {
        self.provider_requests
            .get_or_create(&vec![
                ("provider", provider.into()),
                ("status", status.into()),
            ])
            .inc();
    }

    pub fn notification(&self, notifier: &str, outcome: &str) {
        self.notifications
            .get_or_create(&vec![
                ("notifier", notifier.into()),
                ("outcome", outcome.into()),
            ])
            .inc();
    }

    pub fn analysis(&self, outcome: &str) {
        self.analyses
            .get_or_create(&vec![("outcome", outcome.into())])
            .inc();
    }

    /// One failed job's comparison with its last green run: `outcome` as
    /// `green_run::Mode::kind` says it, `source` `lookup` (it asked the provider) or `stored`.
    pub fn green_run(&self, outcome: &str, source: &str) {
        self.green_runs
            .get_or_create(&vec![
                ("outcome", outcome.into()),
                ("source", source.into()),
            ])
            .inc();
    }

    /// One step of a delivery's way from webhook to chat (see `delivery_step_seconds`).
    pub fn step(&self, step: &str, took: Duration) {
        self.delivery_steps
            .get_or_create(&vec![("step", step.into())])
            .observe(took.as_secs_f64());
    }

    /// One reload of the plugins folder (plugin_reload.rs).
    pub fn plugin_reload(&self, report: &exlogare_runtime::live_plugins::ReloadReport) {
        let outcome = if report.has_refusals() {
            "with_refusals"
        } else {
            "clean"
        };
        self.plugin_reloads
            .get_or_create(&vec![("outcome", outcome.into())])
            .inc();
        self.plugin_files_refused.set(report.refused.len() as i64);
    }

    pub fn worker_panic(&self) {
        self.worker_panics.inc();
    }

    pub fn worker_restart(&self) {
        self.worker_restarts.inc();
    }

    /// A worker thread started (+1) or ended (-1).
    pub fn workers_alive_add(&self, n: i64) {
        self.workers_alive.inc_by(n);
    }

    pub fn token_refresh(&self, connection: &str, outcome: &str) {
        self.token_refreshes
            .get_or_create(&vec![
                ("connection", connection.into()),
                ("outcome", outcome.into()),
            ])
            .inc();
    }

    /// Renders everything; the gauges read at scrape time are passed in.
    pub fn render(
        &self,
        queue_depth: u64,
        connections: &[ConnectionSample<'_>],
        plugins: &[PluginSample<'_>],
    ) -> String {
        let _one_scrape_at_a_time = self.render_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.queue_depth.set(queue_depth as i64);
        // A removed connection must not linger as a stale series.
        self.connection_state.clear();
        self.connection_calls.clear();
        self.plugin_breaker.clear();
        self.plugin_calls_running.clear();
        for p in plugins {
            self.plugin_breaker
                .get_or_create(&vec![("provider", p.provider.into())])
                .set(i64::from(p.disabled));
            for (kind, value) in [("running", p.calls_running), ("slots", p.call_slots)] {
                self.plugin_calls_running
                    .get_or_create(&vec![
                        ("provider", p.provider.into()),
                        ("kind", kind.into()),
                    ])
                    .set(i64::from(value));
            }
        }
        for c in connections {
            for state in CONNECTION_STATES {
                let labels = vec![
                    ("connection", c.id.into()),
                    ("provider", c.provider.into()),
                    ("state", state.into()),
                ];
                self.connection_state
                    .get_or_create(&labels)
                    .set(i64::from(c.status == state));
            }
            for (kind, value) in [("used", c.calls_used), ("limit", c.calls_per_hour)] {
                self.connection_calls
                    .get_or_create(&vec![("connection", c.id.into()), ("kind", kind.into())])
                    .set(i64::from(value));
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_a_state_set_and_removed_ones_disappear() {
        let m = Metrics::new();
        let cloud = ConnectionSample {
            id: "cloud",
            provider: "gitflic",
            status: "needs_reconnection",
            calls_used: 7,
            calls_per_hour: 250,
        };
        let text = m.render(0, &[cloud], &[]);
        assert!(text.contains(r#"exlogare_connection_state{connection="cloud",provider="gitflic",state="needs_reconnection"} 1"#), "{text}");
        assert!(text.contains(r#"exlogare_connection_state{connection="cloud",provider="gitflic",state="connected"} 0"#), "{text}");
        assert!(
            text.contains(r#"exlogare_connection_calls{connection="cloud",kind="used"} 7"#),
            "{text}"
        );
        assert!(
            text.contains(r#"exlogare_connection_calls{connection="cloud",kind="limit"} 250"#),
            "{text}"
        );
        m.token_refresh("cloud", "refused");
        let text = m.render(0, &[], &[]);
        assert!(
            !text.contains(r#"connection_state{connection="cloud""#),
            "a removed connection leaves no series: {text}"
        );
        assert!(
            text.contains(
                r#"exlogare_token_refreshes_total{connection="cloud",outcome="refused"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped_so_a_value_cannot_forge_a_series() {
        let m = Metrics::new();
        m.delivery("a\"} 1\nexlogare_forged{x=\"1\\", "http_404");
        let text = m.render(0, &[], &[]);
        assert!(
            text.contains(
                r#"exlogare_webhook_deliveries_total{provider="a\"} 1\nexlogare_forged{x=\"1\\",outcome="http_404"} 1"#
            ),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("exlogare_forged")),
            "{text}"
        );
    }

    #[test]
    fn plugins_report_their_breaker_and_slots() {
        let m = Metrics::new();
        let text = m.render(
            0,
            &[],
            &[PluginSample {
                provider: "gitflic",
                disabled: true,
                calls_running: 3,
                call_slots: 16,
            }],
        );
        assert!(
            text.contains(r#"exlogare_plugin_disabled{provider="gitflic"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"exlogare_plugin_calls_running{provider="gitflic",kind="slots"} 16"#),
            "{text}"
        );
    }
}
