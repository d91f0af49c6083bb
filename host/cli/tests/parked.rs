//! `exlogare-host parked --retry ID | --all` on a real database: a parked delivery goes back to
//! the queue with fresh attempts; one that is not parked, or absent, is refused in words.

use exlogare_service::storage::{Enqueued, NewDelivery, Store, now_ms};
use std::process::Command;

fn parked_store(dir: &std::path::Path, pipelines: &[&str]) -> (std::path::PathBuf, Vec<i64>) {
    let db = dir.join("exlogare.db");
    let config = dir.join("exlogare.toml");
    std::fs::write(&config, format!("[storage]\npath = {:?}\n", db)).unwrap();
    let store = Store::open(&db).unwrap();
    let ids = pipelines
        .iter()
        .map(|p| {
            let new = NewDelivery {
                provider: "gitflic".into(),
                connection: "cloud".into(),
                project: "acme/app".into(),
                pipeline: (*p).into(),
                also_known_as: vec![],
                event_json: "{}".into(),
                source: "webhook",
            };
            let Enqueued::Stored(id) = store.enqueue(&new, 10).unwrap() else {
                panic!("stored")
            };
            store.claim_due(now_ms()).unwrap().unwrap();
            store
                .park(id, "gave up after 6 attempts: temporary failure: timed out")
                .unwrap();
            id
        })
        .collect();
    (config, ids)
}

fn run(config: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_exlogare-host"))
        .args(["parked", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn retry_queues_one_parked_delivery_again_and_refuses_what_is_not_parked() {
    let dir = tempfile::tempdir().unwrap();
    let (config, ids) = parked_store(dir.path(), &["1", "2", "3"]);
    let (code, text) = run(&config, &["--retry", &ids[0].to_string()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("queued again with fresh attempts"), "{text}");
    let store = Store::open(&dir.path().join("exlogare.db")).unwrap();
    let d = store.delivery(ids[0]).unwrap().unwrap();
    assert_eq!((d.state.as_str(), d.attempts), ("queued", 0));

    let (code, text) = run(&config, &["--retry", &ids[0].to_string()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is queued, not parked"), "{text}");
    let (code, text) = run(&config, &["--retry", "999"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no delivery #999"), "{text}");

    let (code, text) = run(&config, &["--all"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("2 parked deliveries queued again"), "{text}");
    assert!(store.deliveries_in("parked", 10).unwrap().is_empty());
}
