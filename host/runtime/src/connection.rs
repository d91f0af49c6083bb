//! A connection as the sandbox sees it: the provider's web, REST and OAuth roots and the
//! plugin's options, from which the contract's `connection` record and the egress policy are
//! built. Shared by the service's config and the conformance scenarios, so both describe a
//! connection the same way.

use crate::contract;
use crate::egress::{EgressPolicy, Origin};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[[connections]]` fields (and a scenario's `[connection]`) the sandbox needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    pub web_base: String,
    pub api_base: String,
    pub oauth_base: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub allow_private: bool,
    #[serde(default)]
    pub extra_origins: Vec<String>,
}

impl ConnectionSpec {
    pub fn connection(&self) -> contract::Connection {
        contract::Connection {
            web_base: self.web_base.clone(),
            api_base: self.api_base.clone(),
            oauth_base: self.oauth_base.clone(),
            options: self
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    pub fn policy(&self) -> anyhow::Result<EgressPolicy> {
        Ok(EgressPolicy {
            api: Origin::parse(&self.api_base).map_err(anyhow::Error::msg)?,
            oauth: Origin::parse(&self.oauth_base).map_err(anyhow::Error::msg)?,
            extra: self
                .extra_origins
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
            allow_private: self.allow_private,
        })
    }
}
