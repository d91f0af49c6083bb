//! `endpoints.defaults`: a connection's roots from the one web address a user types. Pure: no
//! request. The kit reads the address strictly (`webroot::parse`); the rule here is the
//! provider's: REST at `{web}/api/v1`, OAuth at `{web}/oauth`.

use exlogare_kit::webroot;

use crate::{Connection, ProviderError};

pub fn defaults(web_base: &str) -> Result<Connection, ProviderError> {
    if web_base.trim().is_empty() {
        // Change this if your CI system has a public service: an empty address means it.
        return Err(webroot::invalid(
            "__DISPLAY__ has no public service; give the address of your server's web UI (https://ci.example.com)",
        ));
    }
    let web = webroot::parse(web_base)?.url();
    Ok(Connection {
        api_base: format!("{web}/api/v1"),
        oauth_base: format!("{web}/oauth"),
        web_base: web,
        options: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_hang_off_the_web_address() {
        let c = defaults(" HTTPS://CI.Example.com:443/ ").unwrap();
        assert_eq!(c.web_base, "https://ci.example.com");
        assert_eq!(c.api_base, "https://ci.example.com/api/v1");
        assert_eq!(c.oauth_base, "https://ci.example.com/oauth");
        assert!(matches!(
            defaults("ftp://ci.example.com"),
            Err(ProviderError::InvalidInput(i)) if i.field == "web-base"
        ));
        assert!(defaults("").is_err());
    }
}
