//! Every word our messages add, in each language a route can ask for (`language = "ru"`).
//!
//! Only our own words live here: headings, labels, button texts, the sentences of a connection
//! alert, the notes about cut excerpts and hidden jobs, the line about the green run. What the
//! message carries from elsewhere (the excerpt, the analysis's summary, project, job and ref
//! names, the provider's and plugin's words, the service's notes) is shown as it is, in
//! whatever language it was written: translating a log or a compiler's message would change
//! what the team searches for.
//!
//! The fixed words are two tables of the same struct ([`EN`], [`RU`]), so a label missing in one
//! language does not compile; phrases with a number or a value are functions below.

use serde::{Deserialize, Serialize};

/// The language of our words in a message: per route (`[[routes]] language`), English unless
/// the route says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Ru,
}

impl Language {
    /// Every language, in the order the config's error lists them.
    pub const ALL: [Language; 2] = [Language::En, Language::Ru];

    /// The code written in the config: `en`, `ru`.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ru => "ru",
        }
    }

    /// The language a config code names; `None` for any other text (case matters, as
    /// everywhere else in the config).
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }

    pub(crate) fn words(self) -> &'static Words {
        match self {
            Language::En => &EN,
            Language::Ru => &RU,
        }
    }
}

/// The fixed words of one language.
pub(crate) struct Words {
    // A failure report.
    /// The headline's verb, before `: owner/name #1287`.
    pub failed: &'static str,
    pub finished_with_warnings: &'static str,
    pub project: &'static str,
    pub pipeline: &'static str,
    /// The field showing the branch or tag (and commit).
    pub git_ref: &'static str,
    pub job: &'static str,
    pub step: &'static str,
    pub category: &'static str,
    /// Before why a job's log could not be read.
    pub log_unavailable: &'static str,
    /// The link or button to the pipeline's page.
    pub open_pipeline: &'static str,
    /// A job whose log could not be analysed.
    pub not_analysed: &'static str,

    // A connection alert.
    pub connection: &'static str,
    /// The field naming the provider and its web address.
    pub instance: &'static str,
    /// The field label before a time (Slack).
    pub since_label: &'static str,
    /// A time, as a sentence: `Since 2025-11-26 06:53 UTC`.
    pub since: &'static str,
    /// When the alert's time cannot be shown.
    pub unknown_time: &'static str,
    pub reason: &'static str,
    pub no_reason: &'static str,
    pub what_to_do: &'static str,
    /// Before the reconnect link when the link itself is the way (Telegram, Matrix).
    pub reconnect: &'static str,
    /// Before the reconnect link as an instruction (Slack, plain text).
    pub reconnect_open: &'static str,
    /// The button to the reconnect link.
    pub reconnect_button: &'static str,
    pub needs_reconnection: &'static str,
    pub egress_refused: &'static str,
    pub unreachable: &'static str,
}

pub(crate) const EN: Words = Words {
    failed: "CI failed",
    finished_with_warnings: "CI finished with warnings",
    project: "Project",
    pipeline: "Pipeline",
    git_ref: "Ref",
    job: "Job",
    step: "Step",
    category: "Category",
    log_unavailable: "Log unavailable:",
    open_pipeline: "Open pipeline",
    not_analysed: "not analysed",
    connection: "Connection",
    instance: "Instance",
    since_label: "Since",
    since: "Since",
    unknown_time: "an unknown time",
    reason: "Reason",
    no_reason: "no reason was given",
    what_to_do: "What to do",
    reconnect: "Reconnect:",
    reconnect_open: "Reconnect: open",
    reconnect_button: "Reconnect",
    needs_reconnection: "needs reconnection",
    egress_refused: "is refused by this host's egress policy",
    unreachable: "cannot reach its provider",
};

pub(crate) const RU: Words = Words {
    failed: "Пайплайн упал",
    finished_with_warnings: "Пайплайн завершился с предупреждениями",
    project: "Проект",
    pipeline: "Пайплайн",
    git_ref: "Ветка",
    job: "Задача",
    step: "Шаг",
    category: "Категория",
    log_unavailable: "Лог недоступен:",
    open_pipeline: "Открыть пайплайн",
    not_analysed: "не проанализировано",
    connection: "Подключение",
    instance: "Сервер",
    since_label: "Начиная с",
    since: "Начиная с",
    unknown_time: "неизвестного момента",
    reason: "Причина",
    no_reason: "причина не указана",
    what_to_do: "Что делать",
    reconnect: "Переподключить:",
    reconnect_open: "Чтобы переподключить, откройте",
    reconnect_button: "Переподключить",
    needs_reconnection: "требует переподключения",
    egress_refused: "блокируется политикой исходящих запросов этого хоста",
    unreachable: "не может связаться с провайдером",
};

/// Russian plural form for `n`: `one` (1, 21, 101), `few` (2–4, 22–24) or `many` (the rest,
/// 11–14 included).
fn ru_plural(n: usize, one: &'static str, few: &'static str, many: &'static str) -> &'static str {
    let (last, last_two) = (n % 10, n % 100);
    if last == 1 && last_two != 11 {
        one
    } else if (2..=4).contains(&last) && !(12..=14).contains(&last_two) {
        few
    } else {
        many
    }
}

/// The note after a cut excerpt: `… 3 more lines`.
pub(crate) fn more_lines(l: Language, n: usize) -> String {
    match l {
        Language::En if n == 1 => "… 1 more line".to_owned(),
        Language::En => format!("… {n} more lines"),
        Language::Ru => format!("… ещё {n} {}", ru_plural(n, "строка", "строки", "строк")),
    }
}

/// Text at least as long (in bytes, characters and UTF-16 units) as the note for any count from
/// 1 to `n`, for the room an excerpt keeps for its note. In English that is the note for `n`
/// itself; in Russian a smaller count can take a longer word (`22 строки` against `25 строк`),
/// so it is `n`'s digits with the longest word.
pub(crate) fn longest_more_lines(l: Language, n: usize) -> String {
    match l {
        Language::En => more_lines(l, n),
        Language::Ru => format!("… ещё {n} строки"),
    }
}

/// The note for jobs that did not fit: `… and 2 more failed jobs` (without leading newlines).
pub(crate) fn more_jobs(l: Language, n: usize) -> String {
    match l {
        Language::En => format!("… and {n} more failed job{}", if n == 1 { "" } else { "s" }),
        Language::Ru => format!(
            "… и ещё {n} {}",
            ru_plural(n, "упавшая задача", "упавшие задачи", "упавших задач")
        ),
    }
}

/// The analysis's category (`test_failure`) in words. A category this table does not know yet
/// is shown as the analysis names it, underscores as spaces.
pub fn category(l: Language, name: &str) -> String {
    let ru = match name {
        "compilation" => "компиляция",
        "test_failure" => "падение тестов",
        "dependency_resolution" => "зависимости",
        "lint_quality" => "линтер и качество кода",
        "configuration" => "конфигурация",
        "infrastructure" => "инфраструктура",
        "network" => "сеть",
        "timeout" => "таймаут",
        "out_of_resources" => "нехватка ресурсов",
        "cancelled" => "отменено",
        "unknown" => "неизвестно",
        _ => "",
    };
    match l {
        Language::Ru if !ru.is_empty() => ru.to_owned(),
        _ => name.replace('_', " "),
    }
}

/// `compilation, 90% confidence`.
pub(crate) fn verdict(l: Language, category: &str, percent: f32) -> String {
    match l {
        Language::En => format!("{category}, {percent:.0}% confidence"),
        Language::Ru => format!("{category}, уверенность {percent:.0}%"),
    }
}

/// A verdict when the analysis found no failure line.
pub(crate) fn verdict_unlocated(l: Language, category: &str) -> String {
    match l {
        Language::En => {
            format!("{category} (no failure line found; the end of the log is shown)")
        }
        Language::Ru => format!("{category} (строка с ошибкой не найдена; показан конец лога)"),
    }
}

/// The line for a log read against a green run: `compared with the last green run #1286 on
/// main`; `nothing_new`: the failed step printed nothing that run did not, so the log was read
/// alone after all. The label and the ref are shown as they came.
pub(crate) fn compared(
    l: Language,
    label: &str,
    git_ref: Option<&str>,
    nothing_new: bool,
) -> String {
    let run = match (l, git_ref) {
        (Language::En, Some(r)) => format!("compared with the last green run {label} on {r}"),
        (Language::En, None) => format!("compared with the last green run {label}"),
        (Language::Ru, Some(r)) => format!("сравнено с последним успешным запуском {label} в {r}"),
        (Language::Ru, None) => format!("сравнено с последним успешным запуском {label}"),
    };
    match (l, nothing_new) {
        (_, false) => run,
        (Language::En, true) => format!(
            "{run}: the failed step printed nothing that run did not, so the log was read alone"
        ),
        (Language::Ru, true) => format!(
            "{run}: упавший шаг не вывел ничего, чего не было в том запуске, поэтому лог разобран без сравнения"
        ),
    }
}

/// The line when the plugin found no green run; `why` (its words, may be empty) as it came.
pub(crate) fn no_green_run(l: Language, why: &str) -> String {
    let line = match l {
        Language::En => "no green run to compare with",
        Language::Ru => "нет успешного запуска для сравнения",
    };
    if why.trim().is_empty() {
        line.to_owned()
    } else {
        format!("{line} ({why})")
    }
}

/// The line when a green run was not used; `why` as it came.
pub(crate) fn not_compared(l: Language, why: &str) -> String {
    match l {
        Language::En => format!("not compared with a green run: {why}"),
        Language::Ru => format!("не сравнивалось с успешным запуском: {why}"),
    }
}

/// The alert's headline after the connection's name: `… needs reconnection`.
pub(crate) fn connection_headline(
    l: Language,
    connection: &str,
    provider: &str,
    what: &str,
) -> String {
    format!("{} {connection} ({provider}) {what}", l.words().connection)
}

// The sentences of a connection alert. `code` wraps each literal part (a config key, a command,
// a header) in the platform's code markup, already escaped by it; the rest is plain text the
// caller escapes (every sentence is made only of our words and those literals).

/// After the reconnect link, when it needs the admin token.
pub(crate) fn admin_note(l: Language, code: &dyn Fn(&str) -> String) -> String {
    let (query, header) = (
        code("?admin_token=<admin token>"),
        code("Authorization: Bearer <admin token>"),
    );
    match l {
        Language::En => {
            format!("The link is an admin endpoint: add {query} to it (or send {header}).")
        }
        Language::Ru => format!(
            "Ссылка ведёт на админский эндпоинт: добавьте к ней {query} (или передайте заголовок {header})."
        ),
    }
}

/// For a connection with a static token.
pub(crate) fn static_note(l: Language, code: &dyn Fn(&str) -> String) -> String {
    let (env, file) = (code("access_token_env"), code("access_token_file"));
    match l {
        Language::En => format!(
            "It uses a static access token: replace the token ({env} / {file}) and restart exlogare-host."
        ),
        Language::Ru => format!(
            "Оно использует статический токен доступа: замените токен ({env} / {file}) и перезапустите exlogare-host."
        ),
    }
}

/// For requests the egress policy refuses.
pub(crate) fn egress_note(l: Language, code: &dyn Fn(&str) -> String) -> String {
    let (allow, base) = (code("allow_private = true"), code("base_url"));
    match l {
        Language::En => format!(
            "If the instance is on a private network, set {allow} on the connection; otherwise check its {base}."
        ),
        Language::Ru => format!(
            "Если сервер в частной сети, задайте {allow} в настройках подключения; если нет, проверьте его {base}."
        ),
    }
}

/// For a provider that does not answer.
pub(crate) fn unreachable_note(l: Language, code: &dyn Fn(&str) -> String) -> String {
    let ca = code("ca_file");
    match l {
        Language::En => format!(
            "Check that the instance is up and reachable from this host (DNS, firewall, proxy; {ca} for a private CA)."
        ),
        Language::Ru => format!(
            "Проверьте, что сервер работает и доступен с этого хоста (DNS, файрвол, прокси; {ca} для собственного CA)."
        ),
    }
}

/// What happens meanwhile to the failures of a connection that cannot reach its provider.
pub(crate) fn retried_note(l: Language, code: &dyn Fn(&str) -> String) -> String {
    let cmd = code("exlogare-host parked --retry");
    match l {
        Language::En => format!(
            "Meanwhile its failures are retried with backoff; those that run out of attempts are parked ({cmd})."
        ),
        Language::Ru => format!(
            "Пока что его падения обрабатываются повторно с нарастающей паузой; те, у которых закончились попытки, откладываются ({cmd})."
        ),
    }
}

/// What happens meanwhile to the failures of a connection that needs reconnection.
pub(crate) fn meanwhile_note(l: Language, code: &dyn Fn(&str) -> String) -> String {
    let cmd = code("exlogare-host parked");
    match l {
        Language::En => format!(
            "Until then its pipeline failures are not analysed; those that arrive are parked ({cmd})."
        ),
        Language::Ru => format!(
            "До тех пор падения его пайплайнов не анализируются; новые откладываются ({cmd})."
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::message::{Comparison, FailureMessage, JobMessage};

    /// A Russian team's log: Cyrillic, markup and entities that must be escaped, code spans.
    pub const EXCERPT: [&str; 4] = [
        "error: не удалось собрать модуль «платежи» <script>&amp;</script>",
        "  --> src/платежи.rs:87:35 `код` a && b; x < y > z",
        "ошибка[E0308]: несовпадение типов: ожидалось `u64`, найдено `&str`",
        "Ошибка сборки: 😀 эмодзи и ё",
    ];
    /// The analysis's summary, as it would quote a Russian log.
    pub const SUMMARY: &str =
        "Сборка упала в `cargo build` (src/платежи.rs:87:35): несовпадение типов <&>";

    /// A failure on a Russian team's project, its report in Cyrillic.
    pub fn cyrillic_message() -> FailureMessage {
        FailureMessage {
            provider: "gitflic".into(),
            connection: "cloud".into(),
            project: "команда/платежи".into(),
            pipeline: "#1291".into(),
            status: "failed".into(),
            git_ref: Some("main".into()),
            commit_sha: Some("bd7315127a0c1e7c0f1f8d8c1d2e3f4a5b6c7d8e".into()),
            deep_link: "https://gitflic.ru/project/komanda/platezhi/ci-cd/pipeline/1291".into(),
            jobs: vec![JobMessage {
                name: "сборка".into(),
                stage: Some("build".into()),
                failing_step: Some("cargo build --locked".into()),
                category: "compilation".into(),
                summary: SUMMARY.into(),
                confidence: 0.9,
                signature: "0123456789abcdef".into(),
                located: true,
                excerpt: EXCERPT
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (201 + i as u64, (*l).to_owned()))
                    .collect(),
                log_unavailable: None,
                web_url: None,
                comparison: Some("compared with the last green run #1290 on main".into()),
                compared: Some(Comparison::Compared {
                    label: "#1290".into(),
                    git_ref: Some("main".into()),
                    nothing_new: false,
                }),
            }],
            note: None,
        }
    }

    /// The same with `lines` long Cyrillic lines in its excerpt, far over every limit.
    pub fn cyrillic_huge(lines: u64) -> FailureMessage {
        let mut m = cyrillic_message();
        m.jobs[0].excerpt = (1..=lines)
            .map(|i| (i, format!("строка {i}: ошибка 😀 <&> {}", "ж".repeat(150))))
            .collect();
        m
    }

    /// Our words a Russian message must show, and the English ones it must not.
    pub const RU_WORDS: [&str; 5] = [
        "Пайплайн упал: команда/платежи #1291",
        "Шаг",
        "компиляция, уверенность 90%",
        "сравнено с последним успешным запуском #1290 в main",
        "сборка",
    ];
    pub const EN_WORDS: [&str; 9] = [
        "CI failed",
        "Project",
        "Pipeline",
        "Job",
        "Step",
        "Category",
        "confidence",
        "compared with",
        "Open pipeline",
    ];

    /// `shown` has our Russian words, none of the English ones, and the report byte for byte.
    pub fn assert_russian_with_the_report_intact(platform: &str, shown: &str) {
        for needle in RU_WORDS {
            assert!(
                shown.contains(needle),
                "{platform}: {needle} missing:\n{shown}"
            );
        }
        for english in EN_WORDS {
            assert!(
                !shown.contains(english),
                "{platform}: {english} in:\n{shown}"
            );
        }
        assert!(
            shown.contains(SUMMARY),
            "{platform}: the summary changed:\n{shown}"
        );
        for (i, line) in EXCERPT.iter().enumerate() {
            let numbered = format!("{} | {line}", 201 + i);
            assert!(
                shown.contains(&numbered),
                "{platform}: {numbered} changed:\n{shown}"
            );
        }
    }

    /// Every excerpt line `shown` has is one of `huge`'s lines whole, or its start cut at a
    /// character with `…`; and the note says in Russian how many were left out, if any.
    pub fn assert_cut_whole_in_russian(platform: &str, shown: &str, huge: &FailureMessage) {
        let originals: Vec<String> = huge.jobs[0]
            .excerpt
            .iter()
            .map(|(n, t)| format!("{n:>4} | {t}"))
            .collect();
        // From the line number on (HTML may put the first line right after a closing tag).
        let excerpt_lines: Vec<&str> = shown
            .lines()
            .filter_map(|l| {
                let bar = l.find(" | строка ")?;
                let number = l[..bar]
                    .char_indices()
                    .rev()
                    .find(|(_, c)| !c.is_ascii_digit())
                    .map_or(0, |(p, c)| p + c.len_utf8());
                Some(&l[number..])
            })
            .collect();
        assert!(
            !excerpt_lines.is_empty(),
            "{platform}: no excerpt:\n{shown}"
        );
        for l in &excerpt_lines {
            let whole = originals.iter().any(|o| o.trim_start() == *l);
            let cut = l
                .strip_suffix('…')
                .is_some_and(|start| originals.iter().any(|o| o.trim_start().starts_with(start)));
            assert!(
                whole || cut,
                "{platform}: a line that is not the log's: {l}"
            );
        }
        let left = huge.jobs[0].excerpt.len() - excerpt_lines.len();
        if left > 0 {
            assert!(
                shown.contains(&more_lines(Language::Ru, left)),
                "{platform}: no note for {left} lines:\n{shown}"
            );
        } else {
            assert!(!shown.contains("… ещё"), "{platform}: {shown}");
        }
        assert!(!shown.contains("more line"), "{platform}: {shown}");
    }

    #[test]
    fn russian_counts_take_their_plural_form() {
        let forms: Vec<String> = [1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111]
            .into_iter()
            .map(|n| more_lines(Language::Ru, n))
            .collect();
        assert_eq!(
            forms,
            [
                "… ещё 1 строка",
                "… ещё 2 строки",
                "… ещё 4 строки",
                "… ещё 5 строк",
                "… ещё 11 строк",
                "… ещё 12 строк",
                "… ещё 14 строк",
                "… ещё 21 строка",
                "… ещё 22 строки",
                "… ещё 25 строк",
                "… ещё 101 строка",
                "… ещё 111 строк",
            ]
        );
        assert_eq!(more_jobs(Language::Ru, 1), "… и ещё 1 упавшая задача");
        assert_eq!(more_jobs(Language::Ru, 3), "… и ещё 3 упавшие задачи");
        assert_eq!(more_jobs(Language::Ru, 7), "… и ещё 7 упавших задач");
        assert_eq!(more_jobs(Language::En, 1), "… and 1 more failed job");
    }

    /// The room kept for the note must hold whichever note the cut ends up writing.
    #[test]
    fn the_longest_note_is_at_least_as_long_as_any_note_it_stands_for() {
        for l in Language::ALL {
            for n in 1..=250 {
                let longest = longest_more_lines(l, n);
                for k in 1..=n {
                    let note = more_lines(l, k);
                    assert!(
                        note.len() <= longest.len()
                            && note.chars().count() <= longest.chars().count(),
                        "{l:?}: {note} is longer than {longest}"
                    );
                }
            }
        }
    }

    #[test]
    fn codes_are_the_configs_and_nothing_else() {
        assert_eq!(Language::from_code("ru"), Some(Language::Ru));
        assert_eq!(Language::from_code("en"), Some(Language::En));
        for other in ["RU", "de", "", "ru "] {
            assert_eq!(Language::from_code(other), None, "{other:?}");
        }
        assert_eq!(Language::default(), Language::En);
    }

    #[test]
    fn categories_read_in_russian_and_unknown_ones_as_named() {
        assert_eq!(category(Language::Ru, "test_failure"), "падение тестов");
        assert_eq!(category(Language::En, "test_failure"), "test failure");
        assert_eq!(category(Language::Ru, "brand_new"), "brand new");
    }
}
