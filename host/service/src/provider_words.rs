//! A provider's refusal (`provider-error`) in words a person reads, for the messages the
//! accounts and recording paths build: the kind first, then the provider's or plugin's text.
//! Also the bounded one-line forms the analysis path uses (`pipeline.rs`, `green_run.rs`), and
//! a panic's message in words (a worker's or the analysis thread's).

use exlogare_runtime::contract;

/// `credentials rejected: …`, `rate limited: …`, `not found: …` and so on.
pub fn describe(e: &contract::ProviderError) -> String {
    match e {
        contract::ProviderError::CredentialsRejected(m) => format!("credentials rejected: {m}"),
        contract::ProviderError::RateLimited(rl) => format!("rate limited: {}", rl.message),
        contract::ProviderError::Transient(m) => format!("temporarily unavailable: {m}"),
        contract::ProviderError::NotFound(m) => format!("not found: {m}"),
        contract::ProviderError::InvalidInput(i) => format!("invalid {}: {}", i.field, i.message),
        contract::ProviderError::Denied(m) => format!("denied by the sandbox: {m}"),
    }
}

/// A provider error in words (never the type's debug text), one bounded line.
pub fn provider_error_words(e: &contract::ProviderError) -> String {
    use contract::ProviderError as E;
    match e {
        E::CredentialsRejected(m) => format!("credentials rejected: {}", bounded_line(m, 300)),
        E::NotFound(m) => format!("not found: {}", bounded_line(m, 300)),
        E::RateLimited(rl) => match rl.retry_after_secs {
            Some(s) => format!("rate limited for {s} s: {}", bounded_line(&rl.message, 300)),
            None => format!("rate limited: {}", bounded_line(&rl.message, 300)),
        },
        E::Transient(m) => format!("temporary failure: {}", bounded_line(m, 300)),
        E::InvalidInput(i) => format!("invalid {}: {}", i.field, bounded_line(&i.message, 300)),
        E::Denied(m) => format!("denied by the sandbox: {}", bounded_line(m, 300)),
    }
}

/// `text` on one line, cut before a Java stack trace (` at pkg.Class.method(File.java:1)`)
/// and at `max` characters: provider error bodies can be whole stack dumps.
pub fn bounded_line(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let frame = *w == "at"
            && words
                .get(i + 1)
                .is_some_and(|n| n.contains('.') && n.contains('(') && !n.starts_with('('));
        if frame {
            break;
        }
        kept.push(w);
    }
    let line = kept.join(" ");
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", line[..cut].trim_end()),
        None => line,
    }
}

/// `#1287`, the provider's id when the pipeline has no number, or what stands for neither.
pub fn pipeline_label(p: &contract::PipelineRef) -> String {
    match (&p.number, &p.id) {
        (Some(n), _) => format!("#{n}"),
        (None, Some(id)) => id.clone(),
        (None, None) => "(newest failed)".into(),
    }
}

/// The message a panic carried (`panic!("...")` gives a `&str` or a `String`), on one line.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}
