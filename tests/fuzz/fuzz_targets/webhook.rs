//! The GitFlic webhook envelope: secret check, then JSON parse and the failure event. The first
//! byte chooses where the secret is (header, query, both, neither, a wrong one) and whether the
//! connection analyses warnings; the rest is the delivery body. It must not panic, and a
//! delivery without the right secret must be rejected whatever its body.
#![no_main]

use exlogare_gitflic::webhook::verify;
use exlogare_gitflic::{Connection, WebhookDelivery, WebhookOutcome, WebhookRejection};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "wh-3f9a1c";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let conn = Connection {
        web_base: "https://gitflic.ru".into(),
        api_base: "https://api.gitflic.ru".into(),
        oauth_base: "https://oauth.gitflic.ru".into(),
        options: if flags & 1 != 0 { vec![("analyze_warnings".into(), "true".into())] } else { Vec::new() },
    };
    let presented = if flags & 8 != 0 { "wh-3f9a1" } else { SECRET };
    let mut delivery = WebhookDelivery {
        query: Vec::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), "Bearer not-ours".into()),
        ],
        body: body.to_vec(),
    };
    if flags & 2 != 0 {
        delivery.headers.push(("gitflic-webhook-secret".into(), presented.into()));
    }
    if flags & 4 != 0 {
        delivery.query.push(("secret".into(), presented.into()));
    }
    let got = verify(&conn, &delivery, SECRET);
    match flags & 0b1110 {
        // No secret anywhere.
        0 | 8 => assert!(matches!(got, Err(WebhookRejection::SecretMissing(_))), "{got:?}"),
        // A wrong one.
        f if f & 8 != 0 => assert!(matches!(got, Err(WebhookRejection::SecretMismatch(_))), "{got:?}"),
        _ => {
            assert!(!matches!(got, Err(WebhookRejection::SecretMissing(_) | WebhookRejection::SecretMismatch(_))), "{got:?}");
            if let Ok(WebhookOutcome::PipelineFailed(e)) = &got {
                assert!(!e.project.owner.is_empty() && !e.project.name.is_empty(), "{e:?}");
            }
        }
    }
});
