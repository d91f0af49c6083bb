//! A GitFlic API with as many failed pipelines as a test wants, for the tests that need more
//! distinct failures than one recording holds (replicas.rs). Every shape is the recorded
//! failed-job-trace scenario's (`fixtures/gitflic/failed-job-trace/bodies`): the pipeline list
//! item of #1287, its jobs list, the build job's artifacts and its trace log. Only the numbers
//! are substituted: pipeline `n` has the UUID [`pipeline_uuid`]`(n)`, its jobs are numbered
//! `10n + k` (k = the recorded job's place, 5519 + k), and the failed build job's artifact link
//! points at this fake.
//!
//! The project `acme/payments-api` has pipelines 1 to `top`, newest first, 20 a page, as
//! GitFlic lists them; the plugin's search by number (plugin/gitflic/src/pipeline_search.rs)
//! jumps to the page that holds a pipeline. A request with the wrong token, or for anything
//! the recording does not show, is answered with GitFlic's error and kept as a violation.
//!
//! Include after `fakes.rs`: `#[path = "support/gitflic_many.rs"] mod gitflic_many;`.

#![allow(dead_code)]

use crate::fakes::{Fake, RECORDED_API, Reply, Req, Shared, reply};
use exlogare_conformance_tests::gitflic_fixtures;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the project's CI lives on the API.
const CICD: &str = "/project/acme/payments-api/cicd";
/// The recorded pipeline every failure is shaped after, and its failed build job.
const RECORDED_PIPELINE: &str = "1287";
const RECORDED_FIRST_JOB: u64 = 5519;
const RECORDED_FAILED_JOB: u64 = 5521;
/// The recorded trace artifact of the build job.
const ARTIFACT: &str = "0d2ddf74-8eaf-5de8-b514-2829dce93350";

pub struct ManyState {
    pub access_token: String,
    /// The newest pipeline's number; 1 to `top` exist.
    pub top: u64,
    pipeline: Value,
    jobs: Value,
    artifacts: Value,
    log: Vec<u8>,
}

pub type FakeGitflicMany = Fake<ManyState>;

pub fn pipeline_uuid(n: u64) -> String {
    format!("12798c04-3b8d-5445-a590-{n:012}")
}

/// The number of the `k`th job (in the recorded order) of pipeline `n`.
pub fn job_number(n: u64, k: u64) -> u64 {
    n * 10 + k
}

fn recorded(name: &str) -> Vec<u8> {
    let path = gitflic_fixtures()
        .join("failed-job-trace/bodies")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn recorded_json(name: &str) -> Value {
    serde_json::from_slice(&recorded(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The webhook GitFlic sends when pipeline `n` fails: the recorded delivery with its number
/// and UUID.
pub fn delivery_body(n: u64) -> Vec<u8> {
    let mut v = recorded_json("delivery.json");
    v["pipeline"]["local_id"] = json!(n.to_string());
    v["pipeline"]["id"] = json!(pipeline_uuid(n));
    serde_json::to_vec(&v).unwrap()
}

/// The API of a project whose pipelines are numbered 1 to `top`, each failed as #1287 was.
pub fn gitflic_many(access_token: &str, top: u64) -> FakeGitflicMany {
    let pipelines = recorded_json("pipelines.json");
    let pipeline = pipelines["_embedded"]["restPipelineModelList"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|p| p["localId"] == json!(RECORDED_PIPELINE))
                .cloned()
        })
        .expect("the recorded list holds pipeline #1287");
    let state = ManyState {
        access_token: access_token.into(),
        top,
        pipeline,
        jobs: recorded_json("jobs-1287.json"),
        artifacts: recorded_json("artifacts-5521.json"),
        log: recorded("job-5521.log"),
    };
    let fake = Fake::start(state, Arc::new(answer));
    // The artifact links point at this fake, as the recording's point at the API it came from.
    let base = fake.base.clone();
    fake.with(|s| {
        let text = s.inner.artifacts.to_string().replace(RECORDED_API, &base);
        s.inner.artifacts = serde_json::from_str(&text).unwrap();
    });
    fake
}

fn refuse(st: &mut Shared<ManyState>, req: &Req, status: u16, why: &str) -> Reply {
    st.violations
        .push(format!("gitflic: {} {}: {why}", req.method, req.target));
    reply(status, json!({ "error": why }).to_string())
}

fn query_number(req: &Req, key: &str) -> Option<u64> {
    req.query()
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

fn answer(req: &Req, st: &mut Shared<ManyState>) -> Reply {
    if req.header("authorization") != Some(&format!("token {}", st.inner.access_token)) {
        return refuse(st, req, 401, "Unauthorized");
    }
    let Some(rest) = req
        .path()
        .strip_prefix(CICD)
        .filter(|_| req.method == "GET")
    else {
        return refuse(st, req, 404, "not this project's CI");
    };
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let json_reply =
        |v: &Value| reply(200, v.to_string()).header("content-type", "application/json");
    match parts.as_slice() {
        ["pipeline"] => {
            let (Some(page), Some(size)) = (query_number(req, "page"), query_number(req, "size"))
            else {
                return refuse(st, req, 400, "page and size expected");
            };
            let top = st.inner.top;
            let items: Vec<Value> = (0..size)
                .filter_map(|i| top.checked_sub(page * size + i).filter(|&n| n >= 1))
                .map(|n| {
                    let mut p = st.inner.pipeline.clone();
                    p["localId"] = json!(n);
                    p["id"] = json!(pipeline_uuid(n));
                    p
                })
                .collect();
            json_reply(&json!({
                "_embedded": { "restPipelineModelList": items },
                "page": { "size": size, "totalElements": top, "totalPages": top.div_ceil(size.max(1)), "number": page },
            }))
        }
        ["pipeline", n, "jobs"] => {
            let Some(n) = n
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=st.inner.top).contains(n))
            else {
                return refuse(st, req, 404, "no such pipeline");
            };
            let mut jobs = st.inner.jobs.clone();
            for j in jobs["_embedded"]["restPipelineJobModelList"]
                .as_array_mut()
                .expect("recorded jobs")
            {
                let k = j["localId"].as_u64().expect("numbered job") - RECORDED_FIRST_JOB;
                j["localId"] = json!(job_number(n, k));
                j["pipelineLocalId"] = json!(n);
            }
            json_reply(&jobs)
        }
        ["job", j, "artifacts"] => {
            let Some(j) = failed_job(j, st.inner.top) else {
                return refuse(st, req, 404, "not a failed build job");
            };
            let text = st.inner.artifacts.to_string().replace(
                &format!("/job/{RECORDED_FAILED_JOB}/"),
                &format!("/job/{j}/"),
            );
            reply(200, text).header("content-type", "application/json")
        }
        ["job", j, "artifact", ARTIFACT, "download"] => {
            if failed_job(j, st.inner.top).is_none() {
                return refuse(st, req, 404, "not a failed build job's artifact");
            }
            reply(200, st.inner.log.clone()).header("content-type", "application/octet-stream")
        }
        _ => refuse(st, req, 404, "the recording shows no such request"),
    }
}

/// `j` when it is the build job (the recording's failed one) of an existing pipeline.
fn failed_job(j: &str, top: u64) -> Option<u64> {
    let j: u64 = j.parse().ok()?;
    let k = RECORDED_FAILED_JOB - RECORDED_FIRST_JOB;
    (j % 10 == k && (1..=top).contains(&(j / 10))).then_some(j)
}
