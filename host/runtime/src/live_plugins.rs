//! The plugins a running host serves, replaceable while it runs: a provider added to or
//! replaced in the plugins folder is picked up by [`LivePlugins::reload`] (on `SIGHUP` or the
//! admin API), without a restart.
//!
//! - A call holds its plugin's `Arc` from start to end, so a call in flight finishes on the
//!   version it started with; the next call gets the new one.
//! - A component that fails to load or to pass its contract checks changes nothing: the
//!   version loaded before keeps serving, and the reason is in the [`ReloadReport`] (the
//!   service logs it, counts it in `/metrics` and shows it in `GET /api/plugins`).
//! - A file whose bytes did not change keeps its loaded plugin, with its circuit breaker and
//!   call slots, unless the set of providers changed: the engine's instance pool is shared out
//!   by the number of plugins ([`PluginSet::load`]), so a new provider means new shares for all.
//! - A plugin whose file is gone keeps serving until the host restarts: removing a provider
//!   would strand its connections' deliveries, which is the operator's call to make with a
//!   restart, not a side effect of a reload.
//!
//! [`swap_plan`] is the policy, apart from loading.

use crate::limits::SandboxLimits;
use crate::plugin::{LoadError, LoadedPlugin, PluginRuntime, PluginSet};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// What happens to one provider id on a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The loaded plugin stays (same bytes, same set of providers).
    Keep,
    /// The freshly loaded version replaces it.
    Replace,
    /// A provider new to this host.
    Add,
    /// No fresh version loaded (its file failed or is gone): the loaded one stays.
    KeepStale,
}

/// The policy: `current` and `fresh` map provider ids to the SHA-256 of their component file.
pub fn swap_plan(
    current: &BTreeMap<String, String>,
    fresh: &BTreeMap<String, String>,
) -> BTreeMap<String, Swap> {
    let grows = fresh.keys().any(|id| !current.contains_key(id));
    let mut plan = BTreeMap::new();
    for (id, digest) in fresh {
        let swap = match current.get(id) {
            None => Swap::Add,
            Some(d) if d == digest && !grows => Swap::Keep,
            Some(_) => Swap::Replace,
        };
        plan.insert(id.clone(), swap);
    }
    for id in current.keys() {
        if !fresh.contains_key(id) {
            plan.insert(id.clone(), Swap::KeepStale);
        }
    }
    plan
}

/// A plugin that could not be loaded from a file, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedFile {
    pub path: String,
    pub reason: String,
}

/// A provider that kept its loaded version although no fresh one was loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptPlugin {
    pub id: String,
    pub reason: String,
}

/// What one reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    pub unchanged: Vec<String>,
    /// Still serving their earlier version, with why.
    pub kept: Vec<KeptPlugin>,
    /// Files that did not load.
    pub refused: Vec<RefusedFile>,
}

impl ReloadReport {
    /// Whether something asked for could not be loaded.
    pub fn has_refusals(&self) -> bool {
        !self.refused.is_empty()
    }
}

struct Current {
    set: PluginSet,
    digests: BTreeMap<String, String>,
}

/// The served plugins and where they come from.
pub struct LivePlugins {
    runtime: PluginRuntime,
    dir: Option<PathBuf>,
    files: Vec<PathBuf>,
    limits: SandboxLimits,
    current: RwLock<Current>,
    /// One reload at a time: two would compile the same files twice and race to swap.
    reloading: Mutex<Option<ReloadReport>>,
}

impl LivePlugins {
    /// Loads every component of `dir` and `files` ([`PluginSet::load`]); the refusals are
    /// returned for the caller to report.
    pub fn load(
        runtime: PluginRuntime,
        dir: Option<&Path>,
        files: &[PathBuf],
        limits: &SandboxLimits,
    ) -> (Self, Vec<LoadError>) {
        let (set, errors) = PluginSet::load(&runtime, dir, files, limits);
        let digests = digests_of(&set);
        let live = LivePlugins {
            runtime,
            dir: dir.map(Path::to_path_buf),
            files: files.to_vec(),
            limits: limits.clone(),
            current: RwLock::new(Current { set, digests }),
            reloading: Mutex::new(None),
        };
        (live, errors)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The plugin serving `id` now. The caller's `Arc` keeps this version alive for as long
    /// as it holds it, whatever a reload does meanwhile.
    pub fn get(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.read().set.get(id).cloned()
    }

    /// The provider ids served now, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.read().set.plugins.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.read().set.plugins.is_empty()
    }

    /// The plugins served now, as one consistent set.
    pub fn snapshot(&self) -> PluginSet {
        self.read().set.clone()
    }

    /// The SHA-256 (hex) of the component file `id` was loaded from.
    pub fn digest(&self, id: &str) -> Option<String> {
        self.read().digests.get(id).cloned()
    }

    /// The last reload's report, if there was one.
    pub fn last_reload(&self) -> Option<ReloadReport> {
        self.reloading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the folder and files again and swaps in what changed ([`swap_plan`]). Compiles
    /// (or reads the compile cache), so it runs off the request threads.
    pub fn reload(&self) -> ReloadReport {
        let mut last = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let (fresh, errors) = PluginSet::load(
            &self.runtime,
            self.dir.as_deref(),
            &self.files,
            &self.limits,
        );
        let fresh_digests = digests_of(&fresh);
        let mut report = ReloadReport {
            refused: errors
                .iter()
                .map(|e| RefusedFile {
                    path: e.path.display().to_string(),
                    reason: e.message.clone(),
                })
                .collect(),
            ..ReloadReport::default()
        };
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let plan = swap_plan(&current.digests, &fresh_digests);
        let mut next = PluginSet::default();
        let mut digests = BTreeMap::new();
        for (id, swap) in plan {
            let (plugin, digest) = match swap {
                Swap::Keep | Swap::KeepStale => {
                    let Some(old) = current.set.get(&id) else {
                        continue;
                    };
                    if swap == Swap::Keep {
                        report.unchanged.push(id.clone());
                    } else {
                        report.kept.push(KeptPlugin {
                            id: id.clone(),
                            reason: stale_reason(old, &errors),
                        });
                    }
                    (old.clone(), current.digests.get(&id).cloned())
                }
                Swap::Replace | Swap::Add => {
                    let Some(new) = fresh.get(&id) else { continue };
                    if swap == Swap::Add {
                        report.added.push(id.clone());
                    } else {
                        report.replaced.push(id.clone());
                    }
                    (new.clone(), fresh_digests.get(&id).cloned())
                }
            };
            next.plugins.insert(id.clone(), plugin);
            if let Some(d) = digest {
                digests.insert(id, d);
            }
        }
        *current = Current { set: next, digests };
        drop(current);
        *last = Some(report.clone());
        report
    }
}

/// Why `old` keeps serving: the refusal of its own file, or that the file is gone.
fn stale_reason(old: &LoadedPlugin, errors: &[LoadError]) -> String {
    let same = |p: &Path| {
        std::fs::canonicalize(p).ok() == std::fs::canonicalize(&old.path).ok() || p == old.path
    };
    match errors.iter().find(|e| same(&e.path)) {
        Some(e) => format!(
            "{} did not load ({}); the version loaded before keeps serving",
            old.path.display(),
            e.message
        ),
        None if !old.path.exists() => format!(
            "{} is gone; the version loaded before keeps serving until the host restarts",
            old.path.display()
        ),
        None => format!(
            "{} now holds another provider; the version loaded before keeps serving until the host restarts",
            old.path.display()
        ),
    }
}

fn digests_of(set: &PluginSet) -> BTreeMap<String, String> {
    set.plugins
        .iter()
        .filter_map(|(id, p)| file_digest(&p.path).map(|d| (id.clone(), d)))
        .collect()
}

/// SHA-256 of a file, hex; `None` when it cannot be read (it then never counts as unchanged).
pub fn file_digest(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let digest = Sha256::digest(&bytes);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ids_by_swap(plan: &BTreeMap<String, Swap>, swap: Swap) -> BTreeSet<String> {
        plan.iter()
            .filter(|(_, s)| **s == swap)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unchanged_files_keep_their_plugin_and_changed_ones_are_replaced() {
        let plan = swap_plan(
            &map(&[("gitflic", "a1"), ("gitlab", "b1")]),
            &map(&[("gitflic", "a1"), ("gitlab", "b2")]),
        );
        assert_eq!(ids_by_swap(&plan, Swap::Keep), set(&["gitflic"]));
        assert_eq!(ids_by_swap(&plan, Swap::Replace), set(&["gitlab"]));
    }

    #[test]
    fn a_new_provider_gives_every_plugin_its_new_share_of_the_pool() {
        let plan = swap_plan(
            &map(&[("gitflic", "a1")]),
            &map(&[("gitflic", "a1"), ("gitlab", "b1")]),
        );
        assert_eq!(ids_by_swap(&plan, Swap::Add), set(&["gitlab"]));
        assert_eq!(ids_by_swap(&plan, Swap::Replace), set(&["gitflic"]));
        assert!(ids_by_swap(&plan, Swap::Keep).is_empty());
    }

    #[test]
    fn a_provider_without_a_fresh_version_keeps_serving() {
        // Its file failed to load, or is gone: nothing fresh claims the id.
        let plan = swap_plan(
            &map(&[("gitflic", "a1"), ("gitlab", "b1")]),
            &map(&[("gitlab", "b1")]),
        );
        assert_eq!(ids_by_swap(&plan, Swap::KeepStale), set(&["gitflic"]));
        assert_eq!(ids_by_swap(&plan, Swap::Keep), set(&["gitlab"]));
        // The same with nothing loading at all.
        let plan = swap_plan(&map(&[("gitflic", "a1")]), &BTreeMap::new());
        assert_eq!(ids_by_swap(&plan, Swap::KeepStale), set(&["gitflic"]));
    }
}
