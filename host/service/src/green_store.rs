//! Green-run fingerprints in the service's database (`migrations/sqlite/0010_green_fingerprints.sql`):
//! one row per connection, project, job name and ref, replaced by each lookup.

use crate::green_run::{FingerprintStore, GreenKey, StoredGreen};
use crate::storage::Store;
use exlogare_storage::OptionalExtension;

impl FingerprintStore for Store {
    fn load_green(&self, key: &GreenKey) -> Result<Option<StoredGreen>, String> {
        self.db()
            .and_then(|db| {
                db.query_row(
                    "SELECT pipeline, label, green_ref, fingerprint, none_reason, checked_at
                 FROM green_fingerprints
                 WHERE connection = ?1 AND project = ?2 AND job_name = ?3 AND git_ref = ?4",
                    exlogare_storage::params![
                        key.connection,
                        key.project,
                        key.job_name,
                        key.git_ref
                    ],
                    |r| {
                        Ok(StoredGreen {
                            pipeline: r.get::<Option<i64>>(0)?.map(|n| n.max(0) as u64),
                            label: r.get(1)?,
                            git_ref: r.get(2)?,
                            fingerprint: r.get(3)?,
                            none_reason: r.get(4)?,
                            checked_at: r.get(5)?,
                        })
                    },
                )
                .optional()
            })
            .map_err(|e| format!("reading the green run of {}: {e}", key.job_name))
    }

    fn save_green(&self, key: &GreenKey, g: &StoredGreen) -> Result<(), String> {
        self.db()
            .and_then(|db| {
                db.execute(
                "INSERT INTO green_fingerprints
                   (connection, project, job_name, git_ref, pipeline, label, green_ref, fingerprint, none_reason, checked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (connection, project, job_name, git_ref) DO UPDATE SET
                   pipeline = excluded.pipeline, label = excluded.label, green_ref = excluded.green_ref,
                   fingerprint = excluded.fingerprint, none_reason = excluded.none_reason,
                   checked_at = excluded.checked_at",
                exlogare_storage::params![
                    key.connection,
                    key.project,
                    key.job_name,
                    key.git_ref,
                    g.pipeline.map(|n| n.min(i64::MAX as u64) as i64),
                    g.label,
                    g.git_ref,
                    g.fingerprint,
                    g.none_reason,
                    g.checked_at,
                ],
                )
            })
            .map(drop)
            .map_err(|e| format!("storing the green run of {}: {e}", key.job_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_replaces_the_row_of_its_job_and_ref_only() {
        crate::storage::each_backend("a_lookup_replaces_the_row_of_its_job_and_ref_only", |s| {
            let store = s;
            let key = |job: &str, r: &str| GreenKey {
                connection: "gf".into(),
                project: "acme/api".into(),
                job_name: job.into(),
                git_ref: r.into(),
            };
            assert_eq!(store.load_green(&key("build", "main")).unwrap(), None);
            let first = StoredGreen {
                pipeline: Some(1286),
                label: "#1286".into(),
                git_ref: Some("main".into()),
                fingerprint: Some(vec![1, 2, 3]),
                none_reason: None,
                checked_at: 10,
            };
            store.save_green(&key("build", "main"), &first).unwrap();
            store
                .save_green(
                    &key("сборка", "feature/x"),
                    &StoredGreen {
                        pipeline: None,
                        label: String::new(),
                        git_ref: None,
                        fingerprint: None,
                        none_reason: Some("no passing run".into()),
                        checked_at: 11,
                    },
                )
                .unwrap();
            assert_eq!(
                store.load_green(&key("build", "main")).unwrap(),
                Some(first.clone())
            );
            let newer = StoredGreen {
                pipeline: Some(1290),
                label: "#1290".into(),
                checked_at: 20,
                ..first
            };
            store.save_green(&key("build", "main"), &newer).unwrap();
            assert_eq!(
                store.load_green(&key("build", "main")).unwrap(),
                Some(newer)
            );
            let other = store
                .load_green(&key("сборка", "feature/x"))
                .unwrap()
                .unwrap();
            assert_eq!(other.none_reason.as_deref(), Some("no passing run"));
            assert_eq!(store.load_green(&key("build", "feature/x")).unwrap(), None);
        });
    }
}
