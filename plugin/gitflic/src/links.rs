//! Links into GitFlic's web UI, for people.

use crate::api::join_url;

/// `{web}/project/{owner}/{alias}` (the project page; DOC shows this shape).
pub fn project_url(web_base: &str, owner: &str, alias: &str) -> String {
    join_url(web_base, &["project", owner, alias], &[])
}

/// The pipeline page. Its shape `{web}/project/{owner}/{alias}/ci-cd/pipeline/{localId}` is
/// ONE CLIENT knowledge (GitFlic does not document it): this is the only place that builds it,
/// so a correction is one edit.
pub fn pipeline_url(web_base: &str, owner: &str, alias: &str, local_id: u64) -> String {
    join_url(
        web_base,
        &[
            "project",
            owner,
            alias,
            "ci-cd",
            "pipeline",
            &local_id.to_string(),
        ],
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(
            pipeline_url("https://gitflic.ru/", "acme", "api", 42),
            "https://gitflic.ru/project/acme/api/ci-cd/pipeline/42"
        );
        assert_eq!(
            project_url("https://git.example.com", "team a", "api"),
            "https://git.example.com/project/team%20a/api"
        );
    }
}
