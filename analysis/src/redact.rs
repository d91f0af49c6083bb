//! Secret redaction. Everything that leaves the host (excerpts, summaries, step names, a model
//! prompt) goes through [`redact`] first: CI logs routinely echo tokens, passwords in URLs and
//! `KEY=value` environment dumps.

use regex::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;

pub const MASK: &str = "[REDACTED]";

struct Redactor {
    /// (pattern, replacement); replacements keep the non-secret part so the line stays readable.
    rules: Vec<(Regex, &'static str)>,
}

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| {
        let rules = [
            // PEM private keys (a line of the block, or its header).
            (r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*", "-----BEGIN PRIVATE KEY----- [REDACTED]"),
            // scheme://user:password@host
            (r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", "${1}[REDACTED]@"),
            // Authorization headers and bearer tokens.
            (r"(?i)\b(authorization\s*[:=]\s*(?:bearer|basic|token|bot)?\s*)[^\s'\x22]+", "${1}[REDACTED]"),
            (r"(?i)\b(bearer\s+)[a-z0-9._~+/=-]{8,}", "${1}[REDACTED]"),
            // Well-known token formats.
            (r"\bgh[pousr]_[A-Za-z0-9]{20,}\b", "[REDACTED]"),
            (r"\bgithub_pat_[A-Za-z0-9_]{20,}\b", "[REDACTED]"),
            (r"\bglpat-[A-Za-z0-9_-]{20,}\b", "[REDACTED]"),
            (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "[REDACTED]"),
            (r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", "[REDACTED]"),
            (r"\bsk-[A-Za-z0-9_-]{20,}\b", "[REDACTED]"),
            (r"\bnpm_[A-Za-z0-9]{36}\b", "[REDACTED]"),
            (r"\bAIza[0-9A-Za-z_-]{35}\b", "[REDACTED]"),
            (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "[REDACTED]"),
            // key=value / key: value where the key names a secret.
            (
                r#"(?i)\b([a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth)[a-z0-9_.-]*\s*[:=]\s*)(?:"[^"]*"|'[^']*'|[^\s,;"']+)"#,
                "${1}[REDACTED]",
            ),
            // Command-line flags that take a secret.
            (r#"(?i)(--?(?:password|passwd|token|api-key|secret)[= ])(?:"[^"]*"|'[^']*'|\S+)"#, "${1}[REDACTED]"),
        ];
        Redactor { rules: rules.into_iter().map(|(p, r)| (Regex::new(p).expect("redaction regex"), r)).collect() }
    })
}

/// Secrets (tokens, passwords, keys, URLs with credentials) replaced by `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let mut s: Cow<str> = Cow::Borrowed(text);
    for (re, rep) in &redactor().rules {
        if re.is_match(&s) {
            s = Cow::Owned(re.replace_all(&s, *rep).into_owned());
        }
    }
    s.into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_masked() {
        let cases = [
            (
                "git clone https://user:hunter2@example.com/r.git",
                "hunter2",
            ),
            (
                "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "ghp_abc",
            ),
            (
                "curl -H 'Authorization: Bearer abc.def.ghijklmnop'",
                "abc.def",
            ),
            ("DB_PASSWORD: s3cr3t!", "s3cr3t"),
            ("aws key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            ("token glpat-xxxxxxxxxxxxxxxxxxxx1 expired", "glpat-"),
            ("mysql --password=topsecret -u root", "topsecret"),
            ("-----BEGIN RSA PRIVATE KEY----- MIIEow", "MIIEow"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
                "dozjg",
            ),
        ];
        for (input, secret) in cases {
            let out = redact(input);
            assert!(!out.contains(secret), "{input:?} -> {out:?}");
            assert!(out.contains("[REDACTED]"), "{input:?} -> {out:?}");
        }
    }

    #[test]
    fn ordinary_lines_are_untouched() {
        for l in [
            "error[E0308]: mismatched types",
            "Downloading https://repo1.maven.org/maven2/org/x/1.0/x-1.0.jar",
            "test result: FAILED. 3 passed; 1 failed",
            "Token ILLEGAL",
        ] {
            assert_eq!(redact(l), l);
        }
    }
}
