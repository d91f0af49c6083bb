//! Durable state of the service: the delivery queue, reports and notification receipts.
//!
//! On SQLite (one host) or PostgreSQL (replicas), through `exlogare-storage`. A delivery is
//! committed before the webhook is acknowledged. A worker claims it in one statement that
//! also gives it a lease: the claiming process ([`Store::holder`]) renews the leases of what it
//! is working on ([`Store::renew_leases`], worker.rs), and a delivery whose lease ran out (its
//! process died) is claimed again by whoever comes next. On SQLite a restart also queues at
//! once whatever was `running`; on PostgreSQL that would take live work from other replicas,
//! so only the lease decides there. Migrations are the SQL files in `host/service/migrations/`,
//! one folder per backend.

use crate::group_commit::GroupCommit;
use exlogare_storage::{Conn, Database, Location, Migrations, OptionalExtension, Row, params};
use std::path::Path;
use std::sync::Arc;

pub use exlogare_storage::StorageError;

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        include_str!("../migrations/sqlite/0001_deliveries.sql"),
        include_str!("../migrations/sqlite/0002_accounts.sql"),
        include_str!("../migrations/sqlite/0003_watches.sql"),
        include_str!("../migrations/sqlite/0004_connections.sql"),
        include_str!("../migrations/sqlite/0005_connection_alerts.sql"),
        include_str!("../migrations/sqlite/0006_durable_accounts.sql"),
        include_str!("../migrations/sqlite/0007_delivery_aliases.sql"),
        include_str!("../migrations/sqlite/0008_retired_webhook_secrets.sql"),
        include_str!("../migrations/sqlite/0009_connection_alert_kinds.sql"),
        include_str!("../migrations/sqlite/0010_green_fingerprints.sql"),
        include_str!("../migrations/sqlite/0011_delivery_leases.sql"),
        include_str!("../migrations/sqlite/0012_poll_claims.sql"),
        include_str!("../migrations/sqlite/0013_web_sessions.sql"),
    ],
    postgres: &[
        include_str!("../migrations/postgres/0001_schema.sql"),
        include_str!("../migrations/postgres/0002_poll_claims.sql"),
        include_str!("../migrations/postgres/0003_web_sessions.sql"),
    ],
};

/// How long a claimed delivery stays its claimer's without a renewal, unless `[storage] lease_ms` says otherwise. The claimer renews every
/// quarter of it (worker.rs), so only a process that stopped (killed, hung machine, lost
/// network) lets a lease run out; another replica then takes the delivery over.
pub const DEFAULT_LEASE_MS: i64 = 60_000;

type Result<T> = std::result::Result<T, StorageError>;

/// A delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub provider: String,
    pub connection: String,
    pub project: String,
    /// The pipeline's number or id; a content hash when the event names neither.
    pub pipeline: String,
    /// Other names of the same pipeline (its id when `pipeline` is its number): a later
    /// delivery that knows only one of them is still the same failure.
    pub also_known_as: Vec<String>,
    pub event_json: String,
    pub source: &'static str,
}

impl NewDelivery {
    pub fn idem_key(&self) -> String {
        idem_key(
            &self.provider,
            &self.connection,
            &self.project,
            &self.pipeline,
        )
    }

    /// The delivery's own key first, then those of the pipeline's other names.
    fn idem_keys(&self) -> Vec<String> {
        std::iter::once(self.idem_key())
            .chain(
                self.also_known_as
                    .iter()
                    .map(|p| idem_key(&self.provider, &self.connection, &self.project, p)),
            )
            .collect()
    }
}

/// The delivery stored under `key`, as its own key or as one of its other names.
pub(crate) fn holder_of(db: &Conn<'_>, key: &str) -> Result<Option<i64>> {
    db.query_row(
        "SELECT id FROM deliveries WHERE idem_key = ?1
         UNION ALL SELECT delivery_id FROM delivery_aliases WHERE idem_key = ?1 LIMIT 1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

/// Records `keys` as other names of delivery `id` (those it already has are kept).
pub(crate) fn add_aliases(db: &Conn<'_>, id: i64, keys: &[String]) -> Result<()> {
    for key in keys {
        db.execute(
            "INSERT INTO delivery_aliases (idem_key, delivery_id)
             SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE idem_key = ?1)
             ON CONFLICT (idem_key) DO NOTHING",
            params![key, id],
        )?;
    }
    Ok(())
}

pub fn idem_key(provider: &str, connection: &str, project: &str, pipeline: &str) -> String {
    // `|` separates the fields, so inside one it is escaped (and `%`, the escape): a project
    // `a|b` with pipeline `c` and a project `a` with pipeline `b|c` stay two failures. Fields
    // without either character read as before, so stored keys keep matching.
    let field = |s: &str| s.replace('%', "%25").replace('|', "%7C");
    format!(
        "{}|{}|{}|{}",
        field(provider),
        field(connection),
        field(project),
        field(pipeline)
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Stored(i64),
    /// The same failure was parked (rejected credentials, retries used up): a new sighting
    /// after the cause is fixed queues it again, with fresh attempts.
    Resumed(i64),
    /// The same failure is already queued, running or done: nothing new to do.
    Duplicate(i64),
    QueueFull(u64),
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub idem_key: String,
    pub provider: String,
    pub connection: String,
    pub project: String,
    pub pipeline: String,
    pub event_json: String,
    pub source: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
}

/// A handle on the service's database; clones share it (one SQLite connection or one
/// PostgreSQL pool per process, whatever number of connections' budgets use it).
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    /// Concurrent enqueues share one transaction (and one fsync): group_commit.rs.
    enqueues: Arc<GroupCommit<(NewDelivery, u64), Result<Enqueued>>>,
    /// Who this process is in `deliveries.leased_by`: process id and a random part, so a
    /// restarted process (same pid in a new container) is not taken for its predecessor.
    holder: Arc<str>,
    lease_ms: i64,
}

/// One enqueue inside the caller's transaction (storage.rs `Store::enqueue_batch`).
fn enqueue_in(db: &Conn<'_>, d: &NewDelivery, max_queued: u64) -> Result<Enqueued> {
    let keys = d.idem_keys();
    let mut stored = None;
    for key in &keys {
        if let Some(id) = holder_of(db, key)? {
            stored = Some(id);
            break;
        }
    }
    if let Some(id) = stored {
        // What this sighting knows of the pipeline's names, the stored one learns.
        add_aliases(db, id, &keys)?;
        let resumed = resume_parked(db, id)?;
        return Ok(if resumed {
            Enqueued::Resumed(id)
        } else {
            Enqueued::Duplicate(id)
        });
    }
    let depth: u64 = db.query_row(
        "SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'running')",
        [],
        |r| r.get(0),
    )?;
    if depth >= max_queued {
        return Ok(Enqueued::QueueFull(depth));
    }
    let now = now_ms();
    let id: i64 = db.query_row(
            "INSERT INTO deliveries (idem_key, provider, connection, project, pipeline, event_json, source, state, next_attempt_at, received_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?8, ?8) RETURNING id",
            params![keys[0], d.provider, d.connection, d.project, d.pipeline, d.event_json, d.source, now],
            |r| r.get(0),
        )?;
    add_aliases(db, id, &keys[1..])?;
    Ok(Enqueued::Stored(id))
}

/// Queues a parked delivery again with fresh attempts; false when it was not parked.
pub(crate) fn resume_parked(db: &Conn<'_>, id: i64) -> Result<bool> {
    Ok(requeue_parked(db, "resumed after: ", "id = ?2", &id)? == 1)
}

/// The one way parked deliveries go back to the queue: fresh attempts, due now, the reason
/// kept behind `why`. `filter` is an SQL condition on `?2`; returns how many were requeued.
fn requeue_parked(
    db: &Conn<'_>,
    why: &str,
    filter: &str,
    arg: &dyn exlogare_storage::ToSql,
) -> Result<usize> {
    db.execute(
        &format!(
            "UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?1, updated_at = ?1,
                 last_error = ?3 || COALESCE(last_error, '')
             WHERE state = 'parked' AND ({filter})"
        ),
        params![now_ms(), arg, why],
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const DELIVERY_COLUMNS: &str = "id, idem_key, provider, connection, project, pipeline, event_json, source, state, attempts, next_attempt_at, last_error, received_at";

fn delivery_row(r: &Row) -> Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        idem_key: r.get(1)?,
        provider: r.get(2)?,
        connection: r.get(3)?,
        project: r.get(4)?,
        pipeline: r.get(5)?,
        event_json: r.get(6)?,
        source: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        received_at: r.get(12)?,
    })
}

impl Store {
    /// The SQLite file at `path` (created with its folder when missing).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_at(&Location::SqliteFile(path.to_path_buf()))
    }

    pub fn open_in_memory() -> Result<Self> {
        Self::open_at(&Location::SqliteInMemory)
    }

    /// The database at `location`, its schema brought up to date.
    pub fn open_at(location: &Location) -> Result<Self> {
        Ok(Self {
            db: Arc::new(Database::open(location, &MIGRATIONS)?),
            enqueues: Arc::default(),
            holder: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()).into(),
            lease_ms: DEFAULT_LEASE_MS,
        })
    }

    pub(crate) fn db(&self) -> Result<Conn<'_>> {
        self.db.conn()
    }

    /// Whether other processes (replicas) may be working on this database right now.
    pub fn shared_by_replicas(&self) -> bool {
        self.db.dialect().shared_by_replicas()
    }

    /// The same database with leases of `ms` milliseconds.
    pub fn with_lease_ms(mut self, ms: u64) -> Self {
        self.lease_ms = i64::try_from(ms).unwrap_or(DEFAULT_LEASE_MS);
        self
    }

    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// The same database under another holder name: another process, for tests.
    #[cfg(test)]
    pub(crate) fn clone_as_another_process(&self) -> Store {
        Store {
            holder: format!("{}-other", self.holder).into(),
            ..self.clone()
        }
    }

    /// This process's name on the leases it holds.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Stores a delivery unless the same failure is already stored or the queue is full.
    /// Returns once the delivery is committed; concurrent callers share the transaction.
    pub fn enqueue(&self, d: &NewDelivery, max_queued: u64) -> Result<Enqueued> {
        self.enqueues.submit(
            (d.clone(), max_queued),
            |batch| self.enqueue_batch(&batch),
            || {
                Err(StorageError::other(
                    "the batch this delivery was stored in failed; it was not stored",
                ))
            },
        )
    }

    /// One transaction for a batch of enqueues, each in its own savepoint: one that fails is
    /// rolled back alone and answered with its error; the others commit together.
    fn enqueue_batch(&self, batch: &[(NewDelivery, u64)]) -> Vec<Result<Enqueued>> {
        // One lock for every enqueue: the duplicate check and the insert must not interleave
        // with another replica's enqueue of the same failure.
        let tx = match self.db().and_then(|db| {
            let answers = {
                let tx = db.transaction("enqueue deliveries")?;
                let answers = self.enqueue_each(&tx, batch);
                tx.commit()?;
                answers
            };
            Ok(answers)
        }) {
            Ok(answers) => return answers,
            Err(e) => e,
        };
        batch
            .iter()
            .map(|_| {
                Err(StorageError::other(format!(
                    "the deliveries could not be committed: {tx}"
                )))
            })
            .collect()
    }

    fn enqueue_each(
        &self,
        tx: &exlogare_storage::Tx<'_, '_>,
        batch: &[(NewDelivery, u64)],
    ) -> Vec<Result<Enqueued>> {
        let mut answers = Vec::with_capacity(batch.len());
        for (d, max_queued) in batch {
            let answer = tx.savepoint().and_then(|sp| {
                let answer = enqueue_in(&sp, d, *max_queued)?;
                sp.commit()?;
                Ok(answer)
            });
            answers.push(answer);
        }
        answers
    }

    /// Takes the next due delivery and marks it running.
    pub fn claim_due(&self, now: i64) -> Result<Option<Delivery>> {
        self.claim_due_fairly(now, u32::MAX)
    }

    /// Takes the next due delivery of a connection with fewer than `max_running` deliveries
    /// running in this process, the connections with the fewest first, and marks it running.
    /// So one connection whose deliveries are slow (a plugin that spins, a provider that
    /// stalls) cannot hold every worker while another connection's failures wait. Only this
    /// process's live leases count: other replicas' workers are theirs to share, and a dead
    /// replica's expired claims must not hold a connection's cap for ever.
    pub fn claim_due_fairly(&self, now: i64, max_running: u32) -> Result<Option<Delivery>> {
        let db = self.db()?;
        // Running with a lease that ran out: its process stopped; the delivery is due again.
        let sql = format!(
            "UPDATE deliveries SET state = 'running', attempts = attempts + 1, updated_at = ?1,
                 lease_until = ?3, leased_by = ?4
             WHERE id = (
                 SELECT d.id FROM deliveries d
                 LEFT JOIN (SELECT connection, COUNT(*) AS n FROM deliveries
                            WHERE state = 'running' AND lease_until >= ?1 AND leased_by = ?4
                            GROUP BY connection) r
                        ON r.connection = d.connection
                 WHERE ((d.state = 'queued' AND d.next_attempt_at <= ?1)
                        OR (d.state = 'running' AND d.lease_until < ?1))
                   AND COALESCE(r.n, 0) < ?2
                 ORDER BY COALESCE(r.n, 0), d.next_attempt_at, d.id LIMIT 1{})
             RETURNING {DELIVERY_COLUMNS}",
            db.dialect().skip_locked("d")
        );
        db.query_row(
            &sql,
            params![
                now,
                max_running,
                now.saturating_add(self.lease_ms),
                &*self.holder
            ],
            delivery_row,
        )
        .optional()
    }

    /// Extends the leases of `ids`, the deliveries this process is working on (in_flight.rs),
    /// where they are still its own; returns how many.
    pub fn renew_leases(&self, ids: &[i64]) -> Result<usize> {
        let db = self.db()?;
        let until = now_ms().saturating_add(self.lease_ms);
        let mut renewed = 0;
        for id in ids {
            renewed += db.execute(
                "UPDATE deliveries SET lease_until = ?1
                 WHERE id = ?2 AND state = 'running' AND leased_by = ?3",
                params![until, id, &*self.holder],
            )?;
        }
        Ok(renewed)
    }

    /// Whether delivery `id` is still this process's (its lease renewed now): false once
    /// another replica took it over, after this process stalled past its lease. The outcome
    /// writers below leave a running delivery alone unless this process holds it; this lets
    /// a worker stop before it sends a message the new holder sends too.
    pub fn still_holds(&self, id: i64) -> Result<bool> {
        Ok(self.renew_leases(&[id])? == 1)
    }

    /// After a restart: what was running when the process stopped goes back to the queue.
    /// Only on a database of one host: with replicas, a running delivery may be another
    /// replica's live work, and its lease says when it is free.
    pub fn requeue_in_flight(&self) -> Result<usize> {
        if self.shared_by_replicas() {
            return Ok(0);
        }
        self.db()?.execute(
            "UPDATE deliveries SET state = 'queued', updated_at = ?1 WHERE state = 'running'",
            [now_ms()],
        )
    }

    pub fn retry_later(&self, id: i64, error: &str, at: i64) -> Result<()> {
        self.db()?.execute(
            "UPDATE deliveries SET state = 'queued', last_error = ?2, next_attempt_at = ?3, updated_at = ?4
             WHERE id = ?1 AND (state <> 'running' OR leased_by IS NULL OR leased_by = ?5)",
            params![id, error, at, now_ms(), &*self.holder],
        )?;
        Ok(())
    }

    /// Back to the queue without spending the attempt `claim_due` counted: for waits that are
    /// not failures (the connection's request budget is spent until `at`).
    pub fn defer(&self, id: i64, reason: &str, at: i64) -> Result<()> {
        self.db()?.execute(
            "UPDATE deliveries SET state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, last_error = ?2, next_attempt_at = ?3, updated_at = ?4
             WHERE id = ?1 AND (state <> 'running' OR leased_by IS NULL OR leased_by = ?5)",
            params![id, reason, at, now_ms(), &*self.holder],
        )?;
        Ok(())
    }

    pub fn park(&self, id: i64, reason: &str) -> Result<()> {
        self.db()?.execute(
            "UPDATE deliveries SET state = 'parked', last_error = ?2, updated_at = ?3
             WHERE id = ?1 AND (state <> 'running' OR leased_by IS NULL OR leased_by = ?4)",
            params![id, reason, now_ms(), &*self.holder],
        )?;
        Ok(())
    }

    /// After a connection is connected again: its deliveries parked because the provider
    /// refused its credentials (or it needed reconnection) go back to the queue with fresh
    /// attempts. Returns how many.
    pub fn resume_parked_for_reconnection(&self, connection: &str) -> Result<usize> {
        let filter = "connection = ?2 AND (last_error LIKE 'credentials rejected%'
                      OR last_error LIKE 'connection `' || ?2 || '` needs reconnection:%')";
        requeue_parked(
            &self.db()?,
            "resumed after reconnecting: ",
            filter,
            &connection,
        )
    }

    /// An operator's retry of a parked delivery (fresh attempts); false when it is not parked.
    pub fn retry_parked(&self, id: i64) -> Result<bool> {
        resume_parked(&self.db()?, id)
    }

    /// An operator's retry of every parked delivery; returns how many were queued again.
    pub fn retry_all_parked(&self) -> Result<usize> {
        requeue_parked(&self.db()?, "resumed after: ", "?2 = 1", &1)
    }

    pub fn complete(&self, id: i64, note: Option<&str>) -> Result<()> {
        self.db()?.execute(
            "UPDATE deliveries SET state = 'done', last_error = ?2, updated_at = ?3
             WHERE id = ?1 AND (state <> 'running' OR leased_by IS NULL OR leased_by = ?4)",
            params![id, note, now_ms(), &*self.holder],
        )?;
        Ok(())
    }

    /// Gives a delivery the keys of the pipeline it turned out to be about (`keys[0]` becomes
    /// its own key, the rest and its old key stay as other names). Returns the id of another
    /// delivery that already holds one of them (this one is then a duplicate).
    pub fn rekey(&self, id: i64, keys: &[String]) -> Result<Option<i64>> {
        let db = self.db()?;
        let tx = db.transaction("enqueue deliveries")?;
        for key in keys {
            if let Some(other) = holder_of(&tx, key)?.filter(|&other| other != id) {
                return Ok(Some(other));
            }
        }
        let Some(first) = keys.first() else {
            return Ok(None);
        };
        let old: String =
            tx.query_row("SELECT idem_key FROM deliveries WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
        if &old != first {
            tx.execute("DELETE FROM delivery_aliases WHERE idem_key = ?1", [first])?;
            tx.execute(
                "UPDATE deliveries SET idem_key = ?2 WHERE id = ?1",
                params![id, first],
            )?;
            add_aliases(&tx, id, std::slice::from_ref(&old))?;
        }
        add_aliases(&tx, id, &keys[1..])?;
        tx.commit()?;
        Ok(None)
    }

    pub fn save_report(&self, id: i64, message_json: &str) -> Result<()> {
        self.db()?.execute(
            "INSERT INTO reports (delivery_id, message_json, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (delivery_id) DO UPDATE SET message_json = excluded.message_json",
            params![id, message_json, now_ms()],
        )?;
        Ok(())
    }

    pub fn report(&self, id: i64) -> Result<Option<String>> {
        self.db()?
            .query_row(
                "SELECT message_json FROM reports WHERE delivery_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
    }

    /// Whether `target` needs nothing more for this delivery: sent, or refused for good.
    pub fn notification_done(&self, id: i64, target: &str) -> Result<bool> {
        let state: Option<String> = self
            .db()?
            .query_row(
                "SELECT state FROM notifications WHERE delivery_id = ?1 AND target = ?2",
                params![id, target],
                |r| r.get(0),
            )
            .optional()?;
        Ok(matches!(state.as_deref(), Some("sent" | "failed")))
    }

    pub fn record_notification(
        &self,
        id: i64,
        target: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let sent_at = (state == "sent").then(now_ms);
        self.db()?.execute(
            "INSERT INTO notifications (delivery_id, target, state, attempts, last_error, sent_at) VALUES (?1, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (delivery_id, target) DO UPDATE SET state = excluded.state, attempts = notifications.attempts + 1,
                 last_error = excluded.last_error, sent_at = COALESCE(excluded.sent_at, notifications.sent_at)",
            params![id, target, state, error, sent_at],
        )?;
        Ok(())
    }

    pub fn deliveries_in(&self, state: &str, limit: u32) -> Result<Vec<Delivery>> {
        let db = self.db()?;
        db.query_map(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = ?1 ORDER BY updated_at DESC LIMIT ?2"
        ), params![state, limit], delivery_row)
    }

    pub fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
        let db = self.db()?;
        db.query_row(
            &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"),
            [id],
            delivery_row,
        )
        .optional()
    }

    /// Recent reports, newest first: (delivery id, created at, message JSON).
    pub fn recent_reports(&self, limit: u32) -> Result<Vec<(i64, i64, String)>> {
        let db = self.db()?;
        db.query_map("SELECT delivery_id, created_at, message_json FROM reports ORDER BY created_at DESC, delivery_id DESC LIMIT ?1", [limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    }

    pub fn queue_depth(&self) -> Result<u64> {
        self.db()?.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'running')",
            [],
            |r| r.get(0),
        )
    }

    /// Sent notifications per target, for tests and the CLI.
    pub fn notifications_of(&self, id: i64) -> Result<Vec<(String, String, u32)>> {
        let db = self.db()?;
        db.query_map("SELECT target, state, attempts FROM notifications WHERE delivery_id = ?1 ORDER BY target", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    }
}

/// Runs a test on SQLite and on a fresh PostgreSQL database (exlogare_storage::testing).
#[cfg(test)]
pub(crate) fn each_backend(test: &str, body: impl Fn(Store)) {
    eprintln!("{test}: on SQLite");
    body(Store::open_in_memory().unwrap());
    if let Some(at) = exlogare_storage::testing::fresh_postgres(test) {
        eprintln!("{test}: on PostgreSQL");
        body(Store::open_at(&at).unwrap());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(pipeline: &str) -> NewDelivery {
        NewDelivery {
            provider: "gitflic".into(),
            connection: "cloud".into(),
            project: "acme/app".into(),
            pipeline: pipeline.into(),
            also_known_as: vec![],
            event_json: "{}".into(),
            source: "webhook",
        }
    }

    fn key(pipeline: &str) -> String {
        idem_key("gitflic", "cloud", "acme/app", pipeline)
    }

    #[test]
    fn the_same_failure_is_stored_once() {
        crate::storage::each_backend("the_same_failure_is_stored_once", |s| {
            let Enqueued::Stored(id) = s.enqueue(&delivery("42"), 10).unwrap() else {
                panic!()
            };
            assert_eq!(
                s.enqueue(&delivery("42"), 10).unwrap(),
                Enqueued::Duplicate(id)
            );
            assert!(matches!(
                s.enqueue(&delivery("43"), 10).unwrap(),
                Enqueued::Stored(_)
            ));
        });
    }

    #[test]
    fn a_parked_failure_seen_again_is_queued_again_with_fresh_attempts() {
        crate::storage::each_backend(
            "a_parked_failure_seen_again_is_queued_again_with_fresh_attempts",
            |s| {
                let Enqueued::Stored(id) = s.enqueue(&delivery("42"), 10).unwrap() else {
                    panic!()
                };
                let d = s.claim_due(now_ms()).unwrap().unwrap();
                s.park(d.id, "credentials rejected").unwrap();
                assert_eq!(
                    s.enqueue(&delivery("42"), 10).unwrap(),
                    Enqueued::Resumed(id)
                );
                let again = s.claim_due(now_ms()).unwrap().unwrap();
                assert_eq!((again.id, again.attempts), (id, 1));
                assert!(again.last_error.unwrap().contains("credentials rejected"));
                s.complete(id, None).unwrap();
                assert_eq!(
                    s.enqueue(&delivery("42"), 10).unwrap(),
                    Enqueued::Duplicate(id),
                    "done stays done"
                );
            },
        );
    }

    #[test]
    fn reconnecting_queues_again_only_what_the_credentials_parked() {
        crate::storage::each_backend(
            "reconnecting_queues_again_only_what_the_credentials_parked",
            |s| {
                let mut ids = Vec::new();
                for (pipeline, reason) in [
                    (
                        "1",
                        "credentials rejected (GET … answered 401: {}); reconnect connection `cloud`",
                    ),
                    (
                        "2",
                        "connection `cloud` needs reconnection: the refresh was refused",
                    ),
                    (
                        "3",
                        "gave up after 6 attempts: temporary failure: timed out",
                    ),
                    (
                        "4",
                        "connection `cloudy` needs reconnection: another connection's words",
                    ),
                ] {
                    let Enqueued::Stored(id) = s.enqueue(&delivery(pipeline), 10).unwrap() else {
                        panic!()
                    };
                    s.claim_due(now_ms()).unwrap().unwrap();
                    s.park(id, reason).unwrap();
                    ids.push(id);
                }
                assert_eq!(s.resume_parked_for_reconnection("cloud").unwrap(), 2);
                let states: Vec<(String, u32)> = ids
                    .iter()
                    .map(|id| {
                        s.delivery(*id)
                            .unwrap()
                            .map(|d| (d.state, d.attempts))
                            .unwrap()
                    })
                    .collect();
                assert_eq!(
                    states,
                    [
                        ("queued".into(), 0),
                        ("queued".into(), 0),
                        ("parked".into(), 1),
                        ("parked".into(), 1)
                    ]
                );
                assert!(
                    s.retry_parked(ids[2]).unwrap(),
                    "an operator can retry any parked delivery"
                );
                assert!(
                    !s.retry_parked(ids[0]).unwrap(),
                    "a queued one is not parked"
                );
            },
        );
    }

    #[test]
    fn a_full_queue_refuses_new_work() {
        crate::storage::each_backend("a_full_queue_refuses_new_work", |s| {
            s.enqueue(&delivery("1"), 2).unwrap();
            s.enqueue(&delivery("2"), 2).unwrap();
            assert_eq!(
                s.enqueue(&delivery("3"), 2).unwrap(),
                Enqueued::QueueFull(2)
            );
        });
    }

    #[test]
    fn claims_are_exclusive_and_a_restart_requeues_running_work() {
        crate::storage::each_backend(
            "claims_are_exclusive_and_a_restart_requeues_running_work",
            |s| {
                s.enqueue(&delivery("1"), 10).unwrap();
                let d = s.claim_due(now_ms()).unwrap().expect("due");
                assert_eq!((d.state.as_str(), d.attempts), ("running", 1));
                assert!(
                    s.claim_due(now_ms()).unwrap().is_none(),
                    "a running delivery is not claimed twice"
                );
                if s.shared_by_replicas() {
                    // Another replica may be working on it: only the lease frees it.
                    assert_eq!(s.requeue_in_flight().unwrap(), 0);
                    assert!(s.claim_due(now_ms() + s.lease_ms() / 2).unwrap().is_none());
                    let again = s
                        .claim_due(now_ms() + s.lease_ms() + 1_000)
                        .unwrap()
                        .unwrap();
                    assert_eq!(again.attempts, 2);
                } else {
                    assert_eq!(s.requeue_in_flight().unwrap(), 1);
                    assert_eq!(s.claim_due(now_ms()).unwrap().unwrap().attempts, 2);
                }
            },
        );
    }

    /// Two replicas on one PostgreSQL database (each its own pool and lease holder).
    fn two_replicas(test: &str) -> Option<(Store, Store)> {
        let at = exlogare_storage::testing::fresh_postgres(test)?;
        Some((Store::open_at(&at).unwrap(), Store::open_at(&at).unwrap()))
    }

    #[test]
    fn a_replica_does_not_take_live_work_before_its_lease_runs_out() {
        let Some((a, b)) = two_replicas("leases across replicas") else {
            return;
        };
        a.enqueue(&delivery("1"), 10).unwrap();
        let d = a.claim_due(now_ms()).unwrap().unwrap();
        // B restarted meanwhile: it must not take A's running work.
        assert_eq!(b.requeue_in_flight().unwrap(), 0);
        assert!(b.claim_due(now_ms()).unwrap().is_none());
        // A is alive and renews; B looks again just before the renewed lease ends.
        assert_eq!(a.renew_leases(&[d.id]).unwrap(), 1);
        assert!(
            b.claim_due(now_ms() + b.lease_ms() - 5_000)
                .unwrap()
                .is_none()
        );
        // A stops renewing (killed): once its lease is over, B takes the delivery over.
        let taken = b
            .claim_due(now_ms() + b.lease_ms() + 5_000)
            .unwrap()
            .unwrap();
        assert_eq!((taken.id, taken.attempts), (d.id, 2));
        assert_eq!(a.renew_leases(&[d.id]).unwrap(), 0, "no longer A's");
        assert_eq!(b.renew_leases(&[d.id]).unwrap(), 1);
        // A wakes from its stall: it stops before sending, and its outcome changes nothing.
        assert!(!a.still_holds(d.id).unwrap());
        a.complete(d.id, None).unwrap();
        a.retry_later(d.id, "stale", 0).unwrap();
        assert_eq!(b.delivery(d.id).unwrap().unwrap().state, "running");
        b.complete(d.id, None).unwrap();
        assert_eq!(b.delivery(d.id).unwrap().unwrap().state, "done");
    }

    #[test]
    fn replicas_claiming_at_once_never_take_the_same_delivery() {
        let Some((a, b)) = two_replicas("claims across replicas") else {
            return;
        };
        for i in 0..60 {
            a.enqueue(&delivery(&i.to_string()), 1_000).unwrap();
        }
        let claim_all = |s: Store| {
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                while let Some(d) = s.claim_due(now_ms()).unwrap() {
                    ids.push(d.id);
                }
                ids
            })
        };
        let (ta, tb, tc) = (claim_all(a.clone()), claim_all(b.clone()), claim_all(b));
        let mut all: Vec<i64> = [ta, tb, tc]
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!((before, all.len()), (60, 60), "each delivery claimed once");
    }

    #[test]
    fn the_same_failure_sent_to_two_replicas_at_once_is_stored_once() {
        let Some((a, b)) = two_replicas("enqueues across replicas") else {
            return;
        };
        let send = |s: Store| {
            std::thread::spawn(move || {
                (0..40)
                    .map(|i| s.enqueue(&delivery(&i.to_string()), 1_000).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        let (ta, tb) = (send(a.clone()), send(b));
        let answers: Vec<Enqueued> = ta
            .join()
            .unwrap()
            .into_iter()
            .chain(tb.join().unwrap())
            .collect();
        let stored = answers
            .iter()
            .filter(|e| matches!(e, Enqueued::Stored(_)))
            .count();
        let duplicates = answers
            .iter()
            .filter(|e| matches!(e, Enqueued::Duplicate(_)))
            .count();
        assert_eq!((stored, duplicates), (40, 40));
        assert_eq!(a.queue_depth().unwrap(), 40);
    }

    #[test]
    fn a_retry_waits_until_its_time() {
        crate::storage::each_backend("a_retry_waits_until_its_time", |s| {
            s.enqueue(&delivery("1"), 10).unwrap();
            let d = s.claim_due(now_ms()).unwrap().unwrap();
            s.retry_later(d.id, "GitFlic 500", now_ms() + 60_000)
                .unwrap();
            assert!(s.claim_due(now_ms()).unwrap().is_none());
            assert!(s.claim_due(now_ms() + 61_000).unwrap().is_some());
        });
    }

    #[test]
    fn rekeying_onto_an_existing_failure_reports_the_duplicate() {
        crate::storage::each_backend(
            "rekeying_onto_an_existing_failure_reports_the_duplicate",
            |s| {
                let Enqueued::Stored(a) = s.enqueue(&delivery("42"), 10).unwrap() else {
                    panic!()
                };
                let Enqueued::Stored(b) = s.enqueue(&delivery("body:abc"), 10).unwrap() else {
                    panic!()
                };
                assert_eq!(s.rekey(b, &[key("42")]).unwrap(), Some(a));
                assert_eq!(s.rekey(b, &[key("43")]).unwrap(), None);
                // Its old key stays one of its names: a redelivery of the same body finds it.
                assert_eq!(
                    s.enqueue(&delivery("body:abc"), 10).unwrap(),
                    Enqueued::Duplicate(b)
                );
            },
        );
    }

    #[test]
    fn a_connection_with_work_running_yields_to_one_without() {
        crate::storage::each_backend(
            "a_connection_with_work_running_yields_to_one_without",
            |s| {
                let on = |connection: &str, pipeline: &str| NewDelivery {
                    connection: connection.into(),
                    ..delivery(pipeline)
                };
                for p in ["1", "2", "3"] {
                    s.enqueue(&on("slow", p), 10).unwrap();
                }
                s.enqueue(&on("gitflic", "9"), 10).unwrap();
                let now = now_ms() + 1;
                let first = s.claim_due_fairly(now, 1).unwrap().unwrap();
                assert_eq!(first.connection, "slow", "the oldest first");
                let second = s.claim_due_fairly(now, 1).unwrap().unwrap();
                assert_eq!(second.connection, "gitflic", "not the slow one's second");
                assert!(
                    s.claim_due_fairly(now, 1).unwrap().is_none(),
                    "the slow connection's cap holds"
                );
                // Without a cap, the fewest running first still.
                s.enqueue(&on("other", "5"), 10).unwrap();
                // Far enough ahead that "other" is due however long its enqueue took.
                let later = now + 5_000;
                let third = s.claim_due_fairly(later, u32::MAX).unwrap().unwrap();
                assert_eq!(third.connection, "other");
                assert_eq!(s.claim_due(later).unwrap().unwrap().connection, "slow");
            },
        );
    }

    #[test]
    fn fields_holding_the_separator_do_not_collide() {
        assert_eq!(
            idem_key("gitflic", "cloud", "acme/app", "42"),
            "gitflic|cloud|acme/app|42"
        );
        assert_ne!(
            idem_key("p", "c", "a|b", "c"),
            idem_key("p", "c", "a", "b|c")
        );
        assert_ne!(
            idem_key("p", "c", "a%7Cb", "c"),
            idem_key("p", "c", "a|b", "c")
        );
    }

    #[test]
    fn a_pipeline_known_by_number_or_by_uuid_is_one_failure() {
        crate::storage::each_backend(
            "a_pipeline_known_by_number_or_by_uuid_is_one_failure",
            |s| {
                let mut both = delivery("42");
                both.also_known_as = vec!["6f1c-uuid".into()];
                let Enqueued::Stored(a) = s.enqueue(&both, 10).unwrap() else {
                    panic!()
                };
                // Only the UUID, only the number, or both again: the same delivery.
                assert_eq!(
                    s.enqueue(&delivery("6f1c-uuid"), 10).unwrap(),
                    Enqueued::Duplicate(a)
                );
                assert_eq!(
                    s.enqueue(&delivery("42"), 10).unwrap(),
                    Enqueued::Duplicate(a)
                );
                assert_eq!(s.enqueue(&both, 10).unwrap(), Enqueued::Duplicate(a));

                // A UUID-only delivery stored first learns the number from a later sighting...
                let Enqueued::Stored(b) = s.enqueue(&delivery("9e2a-uuid"), 10).unwrap() else {
                    panic!()
                };
                let mut later = delivery("43");
                later.also_known_as = vec!["9e2a-uuid".into()];
                assert_eq!(s.enqueue(&later, 10).unwrap(), Enqueued::Duplicate(b));
                assert_eq!(
                    s.enqueue(&delivery("43"), 10).unwrap(),
                    Enqueued::Duplicate(b)
                );

                // ...or from its own analysis (rekey): the UUID stays one of its names.
                let Enqueued::Stored(c) = s.enqueue(&delivery("77aa-uuid"), 10).unwrap() else {
                    panic!()
                };
                assert_eq!(s.rekey(c, &[key("44"), key("77aa-uuid")]).unwrap(), None);
                assert_eq!(s.delivery(c).unwrap().unwrap().idem_key, key("44"));
                assert_eq!(
                    s.enqueue(&delivery("44"), 10).unwrap(),
                    Enqueued::Duplicate(c)
                );
                assert_eq!(
                    s.enqueue(&delivery("77aa-uuid"), 10).unwrap(),
                    Enqueued::Duplicate(c)
                );
                // A rekey onto another delivery's other name is a duplicate of it.
                let Enqueued::Stored(d) = s.enqueue(&delivery("body:x"), 10).unwrap() else {
                    panic!()
                };
                assert_eq!(s.rekey(d, &[key("45"), key("6f1c-uuid")]).unwrap(), Some(a));
            },
        );
    }

    #[test]
    fn notification_receipts_survive_retries() {
        crate::storage::each_backend("notification_receipts_survive_retries", |s| {
            let Enqueued::Stored(id) = s.enqueue(&delivery("1"), 10).unwrap() else {
                panic!()
            };
            s.record_notification(id, "slack", "pending", Some("500"))
                .unwrap();
            assert!(!s.notification_done(id, "slack").unwrap());
            s.record_notification(id, "slack", "sent", None).unwrap();
            assert!(s.notification_done(id, "slack").unwrap());
            assert_eq!(
                s.notifications_of(id).unwrap(),
                vec![("slack".into(), "sent".into(), 2)]
            );
        });
    }

    #[test]
    fn a_file_database_keeps_work_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        {
            let s = Store::open(&path).unwrap();
            s.enqueue(&delivery("1"), 10).unwrap();
            s.claim_due(now_ms()).unwrap().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.requeue_in_flight().unwrap(), 1);
        assert_eq!(s.queue_depth().unwrap(), 1);
    }
}
