//! Three `serve` replicas on one PostgreSQL database lose and double nothing, end to end:
//! separate processes with their own workers and lease keepers, one fake GitFlic with
//! [`FAILURES`] failed pipelines (support/gitflic_many.rs, shaped after the recorded
//! failed-job-trace scenario), and two rooms, a Slack channel and a Telegram chat.
//!
//! Each failure's webhook goes to the replicas round-robin; [`DUPLICATES`] of them are then
//! delivered again to a replica other than the one that accepted them, as GitFlic redelivers.
//! Half-way through the messages, one replica is killed with SIGKILL while it holds running
//! deliveries, and a new process takes its place on the same database. Leases are short
//! (`[storage] lease_ms = 5000`), so the killed replica's claimed work is taken over in seconds.
//!
//! Then: every accepted webhook is a delivery, every delivery is `done`, each failure is one
//! message in each room (a taken-over delivery is not announced again), redeliveries name the
//! original delivery, and GitFlic saw no more requests than the connection's shared budget
//! counted, which stays within `calls_per_hour`.
//!
//! One window is left open by design: a replica killed after a room accepted the message and
//! before the service recorded the send repeats it on takeover (Slack and Telegram take no
//! idempotency key). It lasts one database write; this test has not been seen to hit it.
//!
//! The replicas are this test binary run again (`replica_process`, with EXLOGARE_REPLICA_CONFIG
//! naming the config): the tests crate cannot run `exlogare-host` itself.
//!
//! Needs PostgreSQL (EXLOGARE_TEST_POSTGRES; `./x test` provides one) and the GitFlic
//! component: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/gitflic_many.rs"]
mod gitflic_many;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_storage::{Database, Location, Migrations};
use fakes::*;
use gitflic_many::{delivery_body, gitflic_many};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Distinct failures, each a pipeline of its own.
const FAILURES: u64 = 1_000;
/// Failures delivered a second time, to another replica.
const DUPLICATES: u64 = 100;
/// The first failed pipeline's number; the newest pipeline listed is one past the last.
const FIRST: u64 = 2_001;
const REPLICAS: usize = 3;
/// The replica killed half-way.
const VICTIM: usize = 1;
/// Threads sending webhooks, as GitFlic sends many at once.
const SENDERS: u64 = 6;
/// Room for all the work (about five GitFlic calls a failure, more for taken-over ones).
const CALLS_PER_HOUR: u32 = 10 * FAILURES as u32;
const WEBHOOK_SECRET: &str = "wh-replicas-9Qz4Lm";
const ACCESS_TOKEN: &str = "gf-access-replicas-27ad";
/// How long the whole run may take before the test gives up (a wait, not an assertion).
const PATIENCE: Duration = Duration::from_secs(300);

const REPLICA_CONFIG: &str = "EXLOGARE_REPLICA_CONFIG";
const LISTENING: &str = "exlogare replica listening on ";

/// One replica: what `serve` runs (server, workers, lease keeper) from the config named by
/// EXLOGARE_REPLICA_CONFIG, until killed. Without the variable it is a test that does nothing.
#[test]
#[ignore = "a replica process for the test below; it runs only with EXLOGARE_REPLICA_CONFIG set"]
fn replica_process() {
    let Some(config) = std::env::var_os(REPLICA_CONFIG) else {
        return;
    };
    let host = running::RunningHost::start(Path::new(&config), true, false);
    println!("{LISTENING}{}", host.base);
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

/// A replica process; killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(config: &Path) -> Replica {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "replica_process", "--nocapture", "--ignored"])
            .env(REPLICA_CONFIG, config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then keeps the pipe drained so the replica never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(base) = line.strip_prefix(LISTENING) {
                    let _ = tx.send(base.to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "the replica did not start listening ({:?})",
                    child.try_wait()
                )
            });
        Replica { child, base }
    }

    /// How this process names itself on its leases (storage.rs `Store::holder`): pid first.
    fn lease_prefix(&self) -> String {
        format!("{}-%", self.child.id())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A 2xx answer to a webhook: which replica gave it, what it said, which delivery it named.
#[derive(Debug, Clone)]
struct Accepted {
    replica: usize,
    status: String,
    delivery: i64,
}

/// Sends pipeline `n`'s webhook to the replicas in `order`, moving to the next one while a
/// replica is down or busy (as a load balancer in front of them would), until one accepts it.
fn deliver(
    client: &reqwest::blocking::Client,
    bases: &Mutex<Vec<String>>,
    order: &[usize],
    n: u64,
) -> Accepted {
    let body = delivery_body(n);
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    for replica in order.iter().cycle() {
        assert!(
            Instant::now() < deadline,
            "pipeline #{n}: no replica accepted its webhook; last: {last}"
        );
        let base = bases.lock().unwrap()[*replica].clone();
        let sent = client
            .post(format!(
                "{base}/api/integrations/gitflic/webhook/cloud?secret={WEBHOOK_SECRET}"
            ))
            .header("content-type", "application/json")
            .header("gitflic-webhook-secret", WEBHOOK_SECRET)
            .body(body.clone())
            .send();
        match sent {
            Ok(resp) if resp.status().is_success() => {
                let v: Value = resp.json().unwrap();
                return Accepted {
                    replica: *replica,
                    status: v["status"].as_str().unwrap_or_default().to_owned(),
                    delivery: v["delivery"].as_i64().unwrap_or_else(|| {
                        panic!("pipeline #{n}: accepted without a delivery: {v}")
                    }),
                };
            }
            // Nothing stored, come back later (busy, queue full): the next replica may have room.
            Ok(resp) if resp.status().as_u16() == 503 || resp.status().as_u16() == 429 => {
                last = format!("{} from replica {replica}", resp.status());
            }
            Ok(resp) => panic!(
                "pipeline #{n}: replica {replica} refused its webhook: {} {}",
                resp.status(),
                resp.text().unwrap_or_default()
            ),
            // The replica is down (killed, not restarted yet), or died mid-request.
            Err(e) => last = format!("replica {replica}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unreachable!("cycle never ends")
}

/// The pipeline numbers a message links to (`…/ci-cd/pipeline/<n>`).
fn pipelines_named(message: &Value) -> BTreeSet<u64> {
    let text = all_text(message);
    text.match_indices("/ci-cd/pipeline/")
        .filter_map(|(i, m)| {
            let digits: String = text[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// How many messages of `room` name each pipeline; a message naming more than one fails.
fn messages_per_pipeline(room: &str, posted: &[Value]) -> BTreeMap<u64, usize> {
    let mut per = BTreeMap::new();
    for m in posted {
        let named = pipelines_named(m);
        assert_eq!(
            named.len(),
            1,
            "a {room} message names one pipeline: {named:?} in {m}"
        );
        *per.entry(*named.first().unwrap()).or_default() += 1;
    }
    per
}

fn count(db: &Database, sql: &str, params: impl exlogare_storage::Params) -> i64 {
    db.conn()
        .unwrap()
        .query_row(sql, params, |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn three_replicas_on_one_postgres_lose_and_double_nothing_when_one_is_killed() {
    let Some(location) = exlogare_storage::testing::fresh_postgres("replicas.rs") else {
        return;
    };
    let Location::Postgres { url, password } = &location else {
        unreachable!("fresh_postgres gives a PostgreSQL location")
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Opened before any replica: with no migrations of its own it only reads and checks rows;
    // the first replica brings the schema.
    let db = Database::open(
        &location,
        &Migrations {
            sqlite: &[],
            postgres: &[],
        },
    )
    .unwrap();

    let last = FIRST + FAILURES - 1;
    let gitflic = gitflic_many(ACCESS_TOKEN, last + 1);
    let slack = slack_fake();
    let telegram = telegram_fake();
    write_secrets(
        d,
        &[
            ("webhook-secret", WEBHOOK_SECRET),
            ("access-token", ACCESS_TOKEN),
            ("slack-url", &format!("{}{SLACK_PATH}", slack.base)),
            ("telegram-token", TG_TOKEN),
        ],
    );
    let mut storage = format!("\n[storage]\nurl = {url:?}\nlease_ms = 5000\n");
    if let Some(pw) = password {
        write_secrets(d, &[("postgres-password", pw)]);
        storage += &format!("password_file = {:?}\n", d.join("postgres-password"));
    }
    let connection = format!(
        "webhook_secret_file = {:?}\naccess_token_file = {:?}\ncalls_per_hour = {CALLS_PER_HOUR}",
        d.join("webhook-secret"),
        d.join("access-token")
    );
    let text = server("")
        + &storage
        + &Worker::default().section()
        + &plugins(
            &[exlogare_conformance_tests::gitflic_component()],
            Some(&compile_cache()),
        )
        + &gitflic_connection("cloud", &gitflic.base, &connection)
        // A second connection, idle: with two, each connection may hold all but one worker
        // of a replica, and a killed replica's expired claims must not count against that.
        + &gitflic_connection("selfhosted", &gitflic.base, &connection)
        + &slack_notifier(d)
        + &telegram_notifier(d, &telegram.base)
        + "\n[[routes]]\nconnection = \"cloud\"\nnotifiers = [\"team-slack\", \"ops-telegram\"]\n";
    let config: PathBuf = write_config(d, &text);

    // The first replica alone brings the schema; the others start on it together.
    let mut replicas = vec![Replica::start(&config)];
    let rest: Vec<Replica> = std::thread::scope(|s| {
        let starting: Vec<_> = (1..REPLICAS)
            .map(|_| s.spawn(|| Replica::start(&config)))
            .collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    replicas.extend(rest);
    let bases = Arc::new(Mutex::new(
        replicas.iter().map(|r| r.base.clone()).collect::<Vec<_>>(),
    ));
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Failures, round-robin; every (FAILURES / DUPLICATES)th is delivered again, to a replica
    // other than the one that accepted it.
    let every = FAILURES / DUPLICATES;
    let sending = std::thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                let (client, bases) = (&client, &bases);
                s.spawn(move || {
                    let mut sent = Vec::new();
                    for i in (t..FAILURES).step_by(SENDERS as usize) {
                        let n = FIRST + i;
                        let to = i as usize % REPLICAS;
                        let order: Vec<usize> =
                            (0..REPLICAS).map(|k| (to + k) % REPLICAS).collect();
                        let original = deliver(client, bases, &order, n);
                        let again = (i % every == 0).then(|| {
                            let others: Vec<usize> = (1..REPLICAS)
                                .map(|k| (original.replica + k) % REPLICAS)
                                .collect();
                            deliver(client, bases, &others, n)
                        });
                        sent.push((n, original, again));
                    }
                    sent
                })
            })
            .collect();

        // Half-way through the messages, while the victim holds running deliveries: SIGKILL.
        let mut taken_over = Vec::new();
        for _ in 0..3 {
            wait_for("half of the messages and the victim at work", || {
                slack.posted().len() as u64 >= FAILURES / 2
                    && count(
                        &db,
                        "SELECT COUNT(*) FROM deliveries WHERE state = 'running' AND leased_by LIKE ?1",
                        [replicas[VICTIM].lease_prefix()],
                    ) > 0
            });
            let prefix = replicas[VICTIM].lease_prefix();
            replicas[VICTIM].kill();
            // What the killed process still held: nobody renews these leases any more.
            taken_over = db
                .conn()
                .unwrap()
                .query_map(
                    "SELECT id FROM deliveries WHERE state = 'running' AND leased_by LIKE ?1",
                    [prefix],
                    |r| r.get::<i64>(0),
                )
                .unwrap();
            eprintln!(
                "killed replica {VICTIM} at {} messages, holding deliveries {taken_over:?}",
                slack.posted().len()
            );
            replicas[VICTIM] = Replica::start(&config);
            bases.lock().unwrap()[VICTIM] = replicas[VICTIM].base.clone();
            // Between the look and the kill it may have finished them all; then again.
            if !taken_over.is_empty() {
                break;
            }
        }
        assert!(
            !taken_over.is_empty(),
            "the killed replica never held a running delivery at its death"
        );
        let sent: Vec<_> = senders
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (sent, taken_over)
    });
    let (sent, taken_over) = sending;
    let sent_in = started.elapsed();

    // Every accepted webhook named a delivery; the redeliveries named the original's.
    let mut delivery_of: BTreeMap<u64, i64> = BTreeMap::new();
    for (n, original, again) in &sent {
        assert!(
            delivery_of.insert(*n, original.delivery).is_none(),
            "#{n} sent once"
        );
        if let Some(again) = again {
            assert_ne!(again.replica, original.replica, "#{n}: another replica");
            assert_eq!(
                (again.delivery, again.status.as_str()),
                (original.delivery, "duplicate"),
                "#{n}: the redelivery to replica {} is the delivery replica {} stored ({original:?})",
                again.replica,
                original.replica
            );
        }
    }
    let ids: BTreeSet<i64> = delivery_of.values().copied().collect();
    assert_eq!(
        ids.len() as u64,
        FAILURES,
        "each failure is a delivery of its own"
    );
    let redelivered = sent.iter().filter(|(_, _, again)| again.is_some()).count();
    assert_eq!(redelivered as u64, DUPLICATES);

    wait_for("every delivery done", || {
        count(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE state <> 'done'",
            [],
        ) == 0
    });
    let stored: BTreeSet<i64> = db
        .conn()
        .unwrap()
        .query_map("SELECT id FROM deliveries", [], |r| r.get::<i64>(0))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        stored, ids,
        "the stored deliveries are exactly the accepted ones"
    );
    for id in &taken_over {
        assert!(ids.contains(id), "taken-over delivery {id} was accepted");
    }

    // One message per failure in each room: none lost with the killed replica, none repeated
    // by the replica that took its deliveries over.
    let expected: BTreeMap<u64, usize> = (FIRST..=last).map(|n| (n, 1)).collect();
    // The one window left open (see the top of this file): a delivery the killed replica held
    // may have had its message accepted just before the kill, and is then sent again by the
    // replica that takes it over. Only those may be repeated, and at most once.
    let held: BTreeSet<u64> = taken_over
        .iter()
        .map(|id| {
            count(
                &db,
                "SELECT CAST(pipeline AS BIGINT) FROM deliveries WHERE id = ?1",
                [*id],
            ) as u64
        })
        .collect();
    for (room, fake) in [("Slack", &slack), ("Telegram", &telegram)] {
        let per = messages_per_pipeline(room, &fake.posted());
        let wrong: Vec<_> = expected
            .keys()
            .map(|n| (n, per.get(n).copied().unwrap_or(0)))
            .filter(|(n, c)| *c != 1 && !(*c == 2 && held.contains(n)))
            .take(20)
            .collect();
        assert!(
            wrong.is_empty() && per.len() == expected.len(),
            "{room}: each failure is one message; (pipeline, messages) that are not: {wrong:?}; {} pipelines named",
            per.len()
        );
        fake.assert_clean();
    }
    // The service's own account: each room's message sent once, by one attempt.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM notifications WHERE state = 'sent' AND attempts = 1",
            [],
        ),
        2 * FAILURES as i64,
        "every delivery's two messages recorded as sent once: {:?}",
        db.conn()
            .unwrap()
            .query_map(
                "SELECT delivery_id, target, state, attempts FROM notifications WHERE state <> 'sent' OR attempts <> 1 LIMIT 10",
                [],
                |r| Ok(format!("{} {} {} {}", r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, r.get::<i64>(3)?)),
            )
            .unwrap()
    );

    // The request budget is the replicas' shared one: every request GitFlic saw was counted in
    // it (a spend is recorded before its request is sent), and it stayed within the limit.
    let requests = gitflic.requests().len() as i64;
    let counted = count(
        &db,
        "SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) FROM request_budget WHERE connection = 'cloud'",
        [],
    );
    assert!(
        requests <= counted && counted <= i64::from(CALLS_PER_HOUR),
        "GitFlic saw {requests} requests, the shared budget counted {counted}, the limit is {CALLS_PER_HOUR}"
    );
    gitflic.assert_clean();
    eprintln!(
        "{FAILURES} failures (+{DUPLICATES} redeliveries) through {REPLICAS} replicas, one killed holding {} deliveries: \
         {} Slack and {} Telegram messages, {} deliveries done; GitFlic: {requests} requests, budget counted {counted} of {CALLS_PER_HOUR}; \
         sent in {} s, all done in {} s",
        taken_over.len(),
        slack.posted().len(),
        telegram.posted().len(),
        stored.len(),
        sent_in.as_secs(),
        started.elapsed().as_secs()
    );
}
