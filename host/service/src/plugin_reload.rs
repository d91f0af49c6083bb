//! Reloading the plugins folder while `serve` runs (on `SIGHUP` or `POST /api/plugins/reload`):
//! what changed is swapped in (host/runtime/src/live_plugins.rs decides), and every outcome is
//! logged, counted in `/metrics` and kept for `GET /api/plugins`.

use crate::service::Service;
use exlogare_runtime::live_plugins::ReloadReport;

impl Service {
    /// Loads the plugins folder and files again. Calls in flight finish on the version they
    /// started with; a component that does not load leaves the earlier version serving.
    pub fn reload_plugins(&self) -> ReloadReport {
        let started = std::time::Instant::now();
        let report = self.plugins.reload();
        for id in &report.added {
            tracing::info!(plugin = %id, digest = self.plugins.digest(id).as_deref().unwrap_or("?"), "plugin added by a reload");
        }
        for id in &report.replaced {
            tracing::info!(plugin = %id, digest = self.plugins.digest(id).as_deref().unwrap_or("?"), "plugin replaced by a reload; calls in flight finish on the previous version");
        }
        for refused in &report.refused {
            tracing::error!(path = %refused.path, "plugin refused by a reload: {}", refused.reason);
        }
        for kept in &report.kept {
            tracing::warn!(plugin = %kept.id, "{}", kept.reason);
        }
        self.metrics.plugin_reload(&report);
        tracing::info!(
            added = report.added.len(),
            replaced = report.replaced.len(),
            unchanged = report.unchanged.len(),
            refused = report.refused.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plugins reloaded"
        );
        report
    }
}
