//! The optional `exlogare:ci/endpoints` interface (contract 0.1.1) through the host: the GitFlic
//! component derives a connection's REST and OAuth roots from its web address, and a plugin of
//! the 0.1.0 line, which cannot export it, still loads on this 0.1.2 host and answers `None` (for `green-runs` too).
//!
//! Needs both components: cargo build -p exlogare-gitflic -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_conformance_tests::component;
use exlogare_runtime::contract::{Connection, ProviderError};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginFault};
use exlogare_runtime::wit::ContractLine;
use std::sync::OnceLock;

fn gitflic() -> &'static LoadedPlugin {
    static PLUGIN: OnceLock<LoadedPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        support::runtime()
            .load(&component("exlogare-gitflic"), SandboxLimits::default())
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// `connection_defaults` on the GitFlic plugin, unwrapped to the contract's answer.
fn defaults(web_base: &str) -> Result<Connection, ProviderError> {
    let out = gitflic()
        .connection_defaults(CallContext::offline(), web_base)
        .unwrap_or_else(|fault| panic!("{web_base:?}: {fault}"))
        .expect("the GitFlic plugin exports endpoints");
    assert!(
        out.transcript.is_empty(),
        "deriving roots makes no request: {:?}",
        out.transcript.len()
    );
    out.value
}

#[test]
fn the_gitflic_component_exports_endpoints_and_says_so() {
    let plugin = gitflic();
    assert!(plugin.supports_endpoints());
    assert!(
        plugin
            .exports
            .iter()
            .any(|e| e == "exlogare:ci/endpoints@0.1.2"),
        "exports: {:?}",
        plugin.exports
    );
    assert!(
        plugin.info.capabilities.iter().any(|c| c == "endpoints"),
        "{:?}",
        plugin.info.capabilities
    );
}

#[test]
fn cloud_roots_from_the_cloud_address() {
    for typed in [
        "https://gitflic.ru",
        " https://www.gitflic.ru/ ",
        "http://gitflic.ru",
    ] {
        let c = defaults(typed).unwrap_or_else(|e| panic!("{typed:?}: {e:?}"));
        assert_eq!(
            (
                c.web_base.as_str(),
                c.api_base.as_str(),
                c.oauth_base.as_str()
            ),
            (
                "https://gitflic.ru",
                "https://api.gitflic.ru",
                "https://oauth.gitflic.ru"
            ),
            "{typed:?}"
        );
        assert!(c.options.is_empty());
    }
}

#[test]
fn self_hosted_roots_under_the_instance() {
    let c = defaults("https://git.example.com/").unwrap();
    assert_eq!(
        (
            c.web_base.as_str(),
            c.api_base.as_str(),
            c.oauth_base.as_str()
        ),
        (
            "https://git.example.com",
            "https://git.example.com/rest-api",
            "https://git.example.com"
        )
    );
    let c = defaults("https://example.com/gitflic").unwrap();
    assert_eq!(
        (
            c.web_base.as_str(),
            c.api_base.as_str(),
            c.oauth_base.as_str()
        ),
        (
            "https://example.com/gitflic",
            "https://example.com/gitflic/rest-api",
            "https://example.com/gitflic"
        )
    );
    // The derived roots are ones the host's egress policy accepts as origins.
    exlogare_runtime::egress::Origin::parse(&c.api_base).unwrap();
    exlogare_runtime::egress::Origin::parse(&c.oauth_base).unwrap();
}

#[test]
fn a_bad_address_is_invalid_input_on_web_base() {
    for bad in [
        "ftp://gitflic.ru",
        "gitflic.ru",
        "https://ivan:secret@git.example.com",
        "https://git.example.com/?tab=ci",
    ] {
        match defaults(bad) {
            Err(ProviderError::InvalidInput(i)) => {
                assert_eq!(i.field, "web-base", "{bad:?}");
                assert!(!i.message.contains("secret"), "{bad:?}: {}", i.message);
            }
            other => panic!("{bad:?} should be invalid input, got {other:?}"),
        }
    }
}

#[test]
fn an_empty_address_is_the_public_service() {
    let c = defaults("").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        (
            c.web_base.as_str(),
            c.api_base.as_str(),
            c.oauth_base.as_str()
        ),
        (
            "https://gitflic.ru",
            "https://api.gitflic.ru",
            "https://oauth.gitflic.ru"
        )
    );
}

#[test]
fn an_oversized_address_is_refused_by_the_host_before_the_plugin_runs() {
    let plugin = gitflic().with_limits(SandboxLimits {
        input_bytes: 64,
        ..SandboxLimits::default()
    });
    let long = format!("https://{}.example", "a".repeat(100));
    match plugin.connection_defaults(CallContext::offline(), &long) {
        Err(PluginFault::InputTooLarge { size, limit: 64 }) => assert_eq!(size, long.len() as u64),
        Err(other) => panic!("expected InputTooLarge, got {other}"),
        Ok(_) => panic!("expected InputTooLarge, got an answer"),
    }
}

#[test]
fn a_plugin_of_the_0_1_0_line_loads_on_this_host_without_the_optional_exports() {
    let plugin = support::misbehave(SandboxLimits::default());
    assert_eq!(plugin.line, ContractLine::V0_1);
    assert_eq!(plugin.info.contract_version, "0.1.0");
    assert!(
        plugin
            .exports
            .iter()
            .any(|e| e == "exlogare:ci/provider@0.1.0"),
        "exports: {:?}",
        plugin.exports
    );
    assert!(
        !plugin
            .exports
            .iter()
            .any(|e| e.starts_with("exlogare:ci/endpoints")),
        "exports: {:?}",
        plugin.exports
    );
    assert!(!plugin.supports_endpoints());
    assert!(
        plugin
            .connection_defaults(CallContext::offline(), "https://gitflic.ru")
            .unwrap()
            .is_none()
    );
    // Nor `green-runs` (0.1.2): the host asks nothing, instantiates nothing, and the
    // analysis of its failures reads the failing log alone.
    assert!(!plugin.supports_green_runs());
    let project = exlogare_runtime::contract::ProjectRef {
        owner: "acme".into(),
        name: "api".into(),
        id: None,
    };
    assert!(
        plugin
            .last_green_job(
                support::offline(),
                &support::connection("ok", &[]),
                &project,
                "build",
                Some("main"),
                Some(7),
                None
            )
            .unwrap()
            .is_none()
    );
    // And its required interface still works through the 0.1.2 bindings.
    let out = plugin
        .current_user(support::offline(), &support::connection("ok", &[]))
        .unwrap();
    assert!(
        matches!(&out.value, Ok(user) if user.username == "misbehave"),
        "{:?}",
        out.value
    );
}
