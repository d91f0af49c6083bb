//! What a connection's requests have met lately, as its own HTTP backend saw them: the host's
//! account of whether the provider can be reached, whatever words a plugin wraps its errors in.
//!
//! `service.rs` records every request its connection backend sends (an answer of any status,
//! a transport failure or timeout, a refusal by the egress policy after resolving the name) and
//! asks, when a delivery has to be retried or parked, whether the connection as a whole has a
//! problem worth one chat alert (`accounts/alerts.rs`): its provider has not answered the last
//! [`UNREACHABLE_AFTER`] requests, or the egress policy refuses them.

use std::sync::Mutex;

/// Requests in a row without an answer before a connection counts as unreachable: one lost
/// request is the network's weather, three are an outage or a wrong address.
pub const UNREACHABLE_AFTER: u32 = 3;

/// What one request met.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// The provider answered (any status: a 500 is an answer).
    Answered,
    /// No answer: connection refused, DNS, TLS, a timeout. The text says which.
    NoAnswer(&'a str),
    /// The egress policy refused it after resolving the name (a private address, say).
    Refused(&'a str),
}

#[derive(Debug, Default)]
struct Streak {
    /// Requests in a row without an answer, and when the first of them was sent.
    failures: u32,
    since_ms: i64,
    last_error: String,
    /// The last refusal by the egress policy, until an answer comes.
    refused: Option<String>,
}

/// Per connection; cheap to update on every request.
#[derive(Debug, Default)]
pub struct Reachability {
    streak: Mutex<Streak>,
}

impl Reachability {
    pub fn record(&self, seen: Seen<'_>, now_ms: i64) {
        let mut s = self.streak.lock().unwrap_or_else(|p| p.into_inner());
        match seen {
            Seen::Answered => *s = Streak::default(),
            Seen::NoAnswer(why) => {
                if s.failures == 0 {
                    s.since_ms = now_ms;
                }
                s.failures = s.failures.saturating_add(1);
                s.last_error = why.chars().take(300).collect();
            }
            Seen::Refused(why) => s.refused = Some(why.chars().take(300).collect()),
        }
    }

    /// Why the connection counts as unreachable: the last [`UNREACHABLE_AFTER`] or more
    /// requests got no answer. `None` while it answers.
    pub fn unreachable(&self, now_ms: i64) -> Option<String> {
        let s = self.streak.lock().unwrap_or_else(|p| p.into_inner());
        (s.failures >= UNREACHABLE_AFTER).then(|| {
            let minutes = (now_ms - s.since_ms).max(0) / 60_000;
            let span = match minutes {
                0 => "in the last minute".to_string(),
                1 => "for 1 minute".to_string(),
                m => format!("for {m} minutes"),
            };
            format!(
                "{} requests in a row got no answer {span}; the last: {}",
                s.failures, s.last_error
            )
        })
    }

    /// The egress policy's last refusal, until the provider answers again.
    pub fn refused(&self) -> Option<String> {
        self.streak
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_requests_without_an_answer_make_an_outage_and_one_answer_ends_it() {
        let r = Reachability::default();
        r.record(Seen::NoAnswer("connection refused"), 1_000);
        r.record(Seen::NoAnswer("connection refused"), 61_000);
        assert_eq!(r.unreachable(61_000), None, "two are the network's weather");
        r.record(Seen::NoAnswer("timed out"), 181_000);
        let why = r.unreachable(181_000).unwrap();
        assert!(
            why.starts_with("3 requests in a row got no answer for 3 minutes")
                && why.ends_with("the last: timed out"),
            "{why}"
        );
        r.record(Seen::Answered, 200_000);
        assert_eq!(r.unreachable(200_000), None);
        // A 500 is an answer: an outage of the provider's app is not one of its network.
        r.record(Seen::NoAnswer("reset"), 201_000);
        r.record(Seen::NoAnswer("reset"), 202_000);
        r.record(Seen::Answered, 203_000);
        r.record(Seen::NoAnswer("reset"), 204_000);
        assert_eq!(r.unreachable(204_000), None);
    }

    #[test]
    fn a_refusal_is_kept_until_an_answer_and_its_text_is_bounded() {
        let r = Reachability::default();
        assert_eq!(r.refused(), None);
        r.record(Seen::Refused(&"x".repeat(10_000)), 0);
        assert_eq!(r.refused().unwrap().len(), 300);
        r.record(Seen::Answered, 1);
        assert_eq!(r.refused(), None);
    }
}
