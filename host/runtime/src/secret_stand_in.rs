//! A plugin checks a delivery's secret without ever holding it.
//!
//! `verify-webhook` (contract 0.1) takes the secret the plugin should compare against. Handing a
//! third-party plugin the real one would let it answer it back, log it, or hand it to whoever
//! sent a delivery. Instead, each verification gets a fresh random stand-in: the host swaps every
//! place the delivery presents the real secret (a header's or query pair's whole value, or one
//! word of it, as in `Authorization: Bearer <secret>`) for the stand-in, and passes the stand-in
//! as the expected secret. The plugin's constant-time compare gives the same answer it would on
//! the real pair, and whatever it says afterwards can carry nothing but the stand-in.
//!
//! The host also learns here whether the delivery presented the secret at all, so an acceptance
//! by a plugin that never compared (or lied) is overruled: a shared secret presented verbatim in a
//! header or the query is what both contract providers send (GitFlic's `Gitflic-Webhook-Secret`
//! and `Authorization`, GitLab's `X-Gitlab-Token`, and the `?secret=` this host puts on the hooks
//! it registers), and wit/README.md makes it the contract's rule.

use crate::contract::WebhookDelivery;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A delivery's query and headers with the real secret swapped for the stand-in.
#[derive(Debug)]
pub struct Masked {
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// Whether the delivery presented the real secret anywhere the host looks.
    pub presented: bool,
}

/// A stand-in for one verification: 32 random hex digits, never stored.
pub fn fresh_stand_in() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A stand-in that is the same on every run, for recorded scenarios (the conformance kit,
/// `replay`): their goldens stay stable, and the plugin still compares what production hands
/// it. An empty secret stays empty: there is nothing to stand in for.
pub fn fixed_stand_in(secret: &str) -> String {
    if secret.is_empty() {
        return String::new();
    }
    let digest = Sha256::digest(format!("exlogare stand-in\0{secret}").as_bytes());
    hex::encode(&digest[..16])
}

/// `delivery` as a plugin sees it in production: every place presenting `secret` carries
/// `stand_in` instead.
pub fn masked_delivery(
    delivery: &WebhookDelivery,
    secret: &str,
    stand_in: &str,
) -> WebhookDelivery {
    let m = mask(
        delivery.query.clone(),
        delivery.headers.clone(),
        secret,
        stand_in,
    );
    WebhookDelivery {
        query: m.query,
        headers: m.headers,
        body: delivery.body.clone(),
    }
}

/// Swaps `secret` for `stand_in` in every header and query value that presents it. An empty
/// secret presents nothing (and matches nothing).
pub fn mask(
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    secret: &str,
    stand_in: &str,
) -> Masked {
    let mut presented = false;
    // Hashed once per delivery; each value and word is hashed once to compare with it.
    let secret = (!secret.is_empty()).then(|| Sha256::digest(secret.as_bytes()));
    let mut swap = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
        pairs
            .into_iter()
            .map(
                |(k, v)| match secret.as_ref().and_then(|s| swapped(&v, s, stand_in)) {
                    Some(v) => {
                        presented = true;
                        (k, v)
                    }
                    None => (k, v),
                },
            )
            .collect()
    };
    let query = swap(query);
    let headers = swap(headers);
    Masked {
        query,
        headers,
        presented,
    }
}

/// `value` with the secret replaced, when it is the whole value or one of its words (split at
/// ASCII whitespace and commas, as `Authorization: Bearer …` or a list header writes them);
/// `None` when it does not present the secret. Each comparison is constant-time.
fn swapped(value: &str, secret: &Digest256, stand_in: &str) -> Option<String> {
    if same(value, secret) {
        return Some(stand_in.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut found = false;
    let mut rest = value;
    while !rest.is_empty() {
        // Separators are ASCII, so every index below is a character boundary.
        let end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == ',')
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        if !word.is_empty() && same(word, secret) {
            out.push_str(stand_in);
            found = true;
        } else {
            out.push_str(word);
        }
        let sep_len = tail.chars().next().map_or(0, char::len_utf8);
        out.push_str(&tail[..sep_len]);
        rest = &tail[sep_len..];
    }
    found.then_some(out)
}

type Digest256 = sha2::digest::Output<Sha256>;

/// Compares digests in constant time: the time taken says nothing of the secret, its length
/// included (a length check first would).
fn same(candidate: &str, secret: &Digest256) -> bool {
    bool::from(
        Sha256::digest(candidate.as_bytes())
            .as_slice()
            .ct_eq(secret.as_slice()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const SECRET: &str = "wh-7Hq2-секрет";

    /// Recorded scenarios hand plugins a stand-in too, the same on every run.
    #[test]
    fn a_scenario_s_stand_in_is_stable_and_is_not_the_secret() {
        let a = fixed_stand_in(SECRET);
        assert_eq!(a, fixed_stand_in(SECRET));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("wh-7Hq2"));
        assert_ne!(a, fixed_stand_in("other"));
        assert_eq!(fixed_stand_in(""), "");
        let delivery = WebhookDelivery {
            query: pairs(&[("secret", SECRET)]),
            headers: pairs(&[("authorization", &format!("token {SECRET}"))]),
            body: b"{}".to_vec(),
        };
        let seen = masked_delivery(&delivery, SECRET, &a);
        assert_eq!(seen.query, pairs(&[("secret", &a)]));
        assert_eq!(
            seen.headers,
            pairs(&[("authorization", &format!("token {a}"))])
        );
        assert_eq!(seen.body, delivery.body);
    }

    #[test]
    fn every_place_that_presents_the_secret_gets_the_stand_in_and_nothing_else_changes() {
        let m = mask(
            pairs(&[("secret", SECRET), ("page", "2")]),
            pairs(&[
                ("gitflic-webhook-secret", SECRET),
                ("authorization", &format!("Bearer {SECRET}")),
                ("x-list", &format!("a,{SECRET}, b")),
                ("content-type", "application/json"),
            ]),
            SECRET,
            "STAND-IN",
        );
        assert!(m.presented);
        assert_eq!(m.query, pairs(&[("secret", "STAND-IN"), ("page", "2")]));
        assert_eq!(
            m.headers,
            pairs(&[
                ("gitflic-webhook-secret", "STAND-IN"),
                ("authorization", "Bearer STAND-IN"),
                ("x-list", "a,STAND-IN, b"),
                ("content-type", "application/json"),
            ])
        );
    }

    #[test]
    fn a_wrong_or_partial_secret_is_passed_on_as_the_sender_wrote_it() {
        for wrong in [
            "wh-7Hq2",
            &format!("{SECRET}x"),
            &format!("x{SECRET}"),
            "",
            "Bearer",
        ] {
            let m = mask(
                pairs(&[("secret", wrong)]),
                pairs(&[("authorization", &format!("Bearer {wrong}"))]),
                SECRET,
                "STAND-IN",
            );
            assert!(!m.presented, "{wrong:?}");
            assert_eq!(m.query, pairs(&[("secret", wrong)]));
            assert_eq!(
                m.headers,
                pairs(&[("authorization", &format!("Bearer {wrong}"))])
            );
        }
    }

    #[test]
    fn an_empty_secret_is_never_presented() {
        let m = mask(pairs(&[("secret", "")]), pairs(&[("a", " , ")]), "", "S");
        assert!(!m.presented);
        assert_eq!(m.headers, pairs(&[("a", " , ")]));
    }

    #[test]
    fn values_in_any_script_keep_their_characters_around_the_swap() {
        let v = format!("токен\t{SECRET} x\u{3000}y,日本");
        let m = mask(vec![], pairs(&[("h", &v)]), SECRET, "S");
        assert!(m.presented);
        assert_eq!(m.headers[0].1, "токен\tS x\u{3000}y,日本");
    }

    #[test]
    fn stand_ins_are_fresh_each_time() {
        let (a, b) = (fresh_stand_in(), fresh_stand_in());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}
