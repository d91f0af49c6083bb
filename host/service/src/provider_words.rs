//! A provider's refusal (`provider-error`) in words a person reads, for the messages the
//! accounts and recording paths build: the kind first, then the provider's or plugin's text.

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
