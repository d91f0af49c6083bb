//! What `/metrics` exposes, in Prometheus text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Registry,
    deliveries: Family<Labels, Counter>,
    queue_depth: Gauge,
    plugin_calls: Family<Labels, Histogram>,
    plugin_faults: Family<Labels, Counter>,
    provider_requests: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
    analyses: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("exlogare");
        let deliveries = Family::<Labels, Counter>::default();
        registry.register("webhook_deliveries", "Webhook deliveries by provider and outcome", deliveries.clone());
        let queue_depth = Gauge::default();
        registry.register("queue_depth", "Deliveries queued or being analysed", queue_depth.clone());
        let plugin_calls = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0])
        });
        registry.register("plugin_call_seconds", "Plugin call latency by provider and operation", plugin_calls.clone());
        let plugin_faults = Family::<Labels, Counter>::default();
        registry.register("plugin_faults", "Plugin traps, timeouts and memory-limit faults", plugin_faults.clone());
        let provider_requests = Family::<Labels, Counter>::default();
        registry.register("provider_requests", "Provider API requests by provider and status", provider_requests.clone());
        let notifications = Family::<Labels, Counter>::default();
        registry.register("notifications", "Notifications by notifier and outcome", notifications.clone());
        let analyses = Family::<Labels, Counter>::default();
        registry.register("analyses", "Finished analyses by outcome", analyses.clone());
        Self { registry, deliveries, queue_depth, plugin_calls, plugin_faults, provider_requests, notifications, analyses }
    }

    pub fn delivery(&self, provider: &str, outcome: &str) {
        self.deliveries.get_or_create(&vec![("provider", provider.into()), ("outcome", outcome.into())]).inc();
    }

    pub fn plugin_call(&self, provider: &str, op: &str, took: Duration) {
        self.plugin_calls.get_or_create(&vec![("provider", provider.into()), ("op", op.into())]).observe(took.as_secs_f64());
    }

    pub fn plugin_fault(&self, provider: &str, fault: &str) {
        self.plugin_faults.get_or_create(&vec![("provider", provider.into()), ("fault", fault.into())]).inc();
    }

    pub fn provider_request(&self, provider: &str, status: &str) {
        self.provider_requests.get_or_create(&vec![("provider", provider.into()), ("status", status.into())]).inc();
    }

    pub fn notification(&self, notifier: &str, outcome: &str) {
        self.notifications.get_or_create(&vec![("notifier", notifier.into()), ("outcome", outcome.into())]).inc();
    }

    pub fn analysis(&self, outcome: &str) {
        self.analyses.get_or_create(&vec![("outcome", outcome.into())]).inc();
    }

    pub fn render(&self, queue_depth: u64) -> String {
        self.queue_depth.set(queue_depth as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
