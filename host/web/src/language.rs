//! Which language a page is shown in (the same two languages as chat messages,
//! exlogare_notify::Language): the operator's own choice (the `exlogare_lang` cookie the
//! switch sets) first, else the browser's `Accept-Language`, else English. GitFlic's users
//! mostly send `ru-RU,ru;q=0.9,en;q=0.8`; a browser that prefers neither gets English.

pub use exlogare_notify::Language;

/// The cookie the language switch sets.
pub const COOKIE: &str = "exlogare_lang";

/// A language code as a browser or the switch writes it (`RU`, ` ru`), or none we serve.
fn served(code: &str) -> Option<Language> {
    Language::from_code(&code.trim().to_ascii_lowercase())
}

/// The language the switch offers: the other one.
pub fn other(lang: Language) -> Language {
    match lang {
        Language::En => Language::Ru,
        Language::Ru => Language::En,
    }
}

/// The language of a request: `cookie` is the switch's value, `accept` the `Accept-Language`
/// header, either possibly absent or malformed.
pub fn negotiate(cookie: Option<&str>, accept: Option<&str>) -> Language {
    if let Some(l) = cookie.and_then(served) {
        return l;
    }
    let Some(accept) = accept else {
        return Language::En;
    };
    // The highest quality among the ranges we serve; the earlier range wins a tie, as the
    // header lists them in the browser's order of preference.
    let mut best: Option<(f32, Language)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let primary = tag.split('-').next().unwrap_or("");
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .filter(|q| q.is_finite() && *q > 0.0);
        let (Some(lang), Some(q)) = (served(primary), q) else {
            continue;
        };
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Language::En, |(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_wins_then_the_browser_then_english() {
        assert_eq!(negotiate(Some("ru"), Some("en-US,en;q=0.9")), Language::Ru);
        assert_eq!(negotiate(Some("en"), Some("ru-RU,ru;q=0.9")), Language::En);
        assert_eq!(
            negotiate(Some("de"), Some("ru-RU,ru;q=0.9,en;q=0.8")),
            Language::Ru,
            "a switch value we do not serve is ignored"
        );
        assert_eq!(negotiate(None, None), Language::En);
    }

    #[test]
    fn accept_language_is_read_by_quality() {
        assert_eq!(
            negotiate(None, Some("ru-RU,ru;q=0.9,en-US;q=0.8")),
            Language::Ru
        );
        assert_eq!(negotiate(None, Some("en;q=0.5, ru;q=0.7")), Language::Ru);
        assert_eq!(
            negotiate(None, Some("de-DE,de;q=0.9,en;q=0.3")),
            Language::En
        );
        assert_eq!(negotiate(None, Some("uk,ru;q=0.6")), Language::Ru);
        assert_eq!(
            negotiate(None, Some("ru;q=0, en;q=0.1")),
            Language::En,
            "q=0 means not acceptable"
        );
        assert_eq!(negotiate(None, Some("fr")), Language::En);
        for junk in ["", ";;;", "ru;q=abc", "ру-RU", "\u{0}", "ru;q=NaN"] {
            assert_eq!(negotiate(None, Some(junk)), Language::En, "{junk:?}");
        }
    }
}
