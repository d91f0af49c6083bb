//! Keeps `exlogare.example.toml` and the configuration code in step.
//!
//! The keys the code accepts are not listed here: they are read from `Config`'s own
//! `Deserialize` implementation, by deserializing it from a [`Tracer`] that answers every
//! request with a placeholder and notes the field names each struct asks for (the same list
//! `deny_unknown_fields` checks a file against). The example's keys are those of the example
//! with every commented-out `# key = value` line and `# [table]` header uncommented, the
//! "maximal" example, which must also load as a `Config`.
//!
//! So the test fails when a field is added to a config struct but not to the example, and when
//! the example names a key (set or commented out) that no struct reads. What it cannot see: the
//! keys under a `#[serde(flatten)]` field or a hand-written `Deserialize` that never asks for a
//! struct (both look like a free-form table); none of the config types has one today.

use exlogare_service::config::Config;
use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

const EXAMPLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../exlogare.example.toml");

/// What the code does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A field (a value, or a table of further fields).
    Field,
    /// A table whose keys are free-form (`options`): its own keys are not fields.
    OpenMap,
    /// Accepted only to be refused with a clear message (an inline secret such as
    /// `bot_token`); the example must not teach it.
    Refused,
}

/// Every key path (`server.listen`, `connections.oauth.scopes`; arrays of tables have no index)
/// `T` accepts.
fn code_keys<'de, T: Deserialize<'de>>() -> BTreeMap<String, Kind> {
    let keys = RefCell::new(BTreeMap::new());
    T::deserialize(Tracer {
        path: String::new(),
        keys: &keys,
    })
    .unwrap_or_else(|e| panic!("tracing {}: {e}", std::any::type_name::<T>()));
    keys.into_inner()
}

#[derive(Debug)]
struct TraceError(String);

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

/// A deserializer that gives each value a placeholder of the type asked for, gives a struct
/// every field it names (so nested structs are traced too) and a sequence one element, and
/// records what it was asked at which path.
struct Tracer<'a> {
    path: String,
    keys: &'a RefCell<BTreeMap<String, Kind>>,
}

impl Tracer<'_> {
    fn mark(&self, kind: Kind) {
        if !self.path.is_empty() {
            self.keys.borrow_mut().insert(self.path.clone(), kind);
        }
    }

    fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }
}

macro_rules! placeholder {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de, 'a> Deserializer<'de> for Tracer<'a> {
    type Error = TraceError;

    placeholder! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0),
        deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_identifier => visit_str(""),
    }

    /// Untagged enums (a Telegram `chat_id`: a number or a name) ask for "anything".
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_i64(0)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.mark(Kind::Refused);
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_seq(OneElement { tracer: Some(self) })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_seq(visitor)
    }

    /// A map with keys of its own (or a struct with `flatten`, whose keys cannot be traced).
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.mark(Kind::OpenMap);
        visitor.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(
            String,
            String,
        )>()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let paths: Vec<String> = fields.iter().map(|f| self.child(f)).collect();
        for p in &paths {
            self.keys
                .borrow_mut()
                .entry(p.clone())
                .or_insert(Kind::Field);
        }
        visitor.visit_map(EveryField {
            fields,
            paths,
            next: 0,
            keys: self.keys,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        // Unit variants only (`kind = "slack"`): the first one stands for all.
        let first = variants.first().copied().unwrap_or_default();
        visitor.visit_enum(IntoDeserializer::<TraceError>::into_deserializer(first))
    }
}

struct OneElement<'a> {
    tracer: Option<Tracer<'a>>,
}

impl<'de, 'a> SeqAccess<'de> for OneElement<'a> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        self.tracer.take().map(|t| seed.deserialize(t)).transpose()
    }
}

struct EveryField<'a> {
    fields: &'static [&'static str],
    paths: Vec<String>,
    next: usize,
    keys: &'a RefCell<BTreeMap<String, Kind>>,
}

impl<'de, 'a> MapAccess<'de> for EveryField<'a> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(IntoDeserializer::<TraceError>::into_deserializer(*field))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        let path = self.paths[self.next].clone();
        self.next += 1;
        seed.deserialize(Tracer {
            path: path.clone(),
            keys: self.keys,
        })
        .map_err(|e| TraceError(format!("{path}: {e}")))
    }
}

/// The example with every commented-out key line (`# key = value`, valid TOML on its own) and
/// table header (`# [table]`, `# [[table]]`) uncommented, prose comments dropped. A commented
/// key already set in the same table is left out (it documents an alternative value).
fn maximal_example(text: &str) -> String {
    let is_header = |s: &str| {
        let s = s.split('#').next().unwrap_or("").trim();
        s.starts_with('[')
            && s.ends_with(']')
            && s.trim_matches(['[', ']'])
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    let key_of = |s: &str| -> Option<String> {
        let (key, _) = s.split_once('=')?;
        let key = key.trim();
        (!key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        .then(|| key.to_owned())
    };
    let mut out = String::new();
    let mut set_here = BTreeSet::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let (content, commented) = match trimmed.strip_prefix('#') {
            Some(rest) => (rest.strip_prefix(' ').unwrap_or(rest), true),
            None => (trimmed, false),
        };
        if is_header(content) {
            set_here.clear();
            out.push_str(content);
            out.push('\n');
            continue;
        }
        if !commented {
            if let Some(key) = key_of(content) {
                set_here.insert(key);
            }
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let Some(key) = key_of(content) else { continue };
        if toml::from_str::<toml::Table>(content).is_err() || !set_here.insert(key) {
            continue;
        }
        out.push_str(content);
        out.push('\n');
    }
    out
}

/// Every key path of a TOML document; the keys inside an open map are not paths.
fn document_keys(
    table: &toml::Table,
    prefix: &str,
    code: &BTreeMap<String, Kind>,
    out: &mut BTreeSet<String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let open = code.get(&path) == Some(&Kind::OpenMap);
        out.insert(path.clone());
        match value {
            toml::Value::Table(t) if !open => document_keys(t, &path, code, out),
            toml::Value::Array(items) if !open => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        document_keys(t, &path, code, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What is wrong between an example `text` and the configuration type `T`; empty when they
/// are in step.
fn problems<T: serde::de::DeserializeOwned>(text: &str) -> Vec<String> {
    let code = code_keys::<T>();
    let maximal_text = maximal_example(text);
    let mut problems = Vec::new();
    if let Err(e) = toml::from_str::<T>(&maximal_text) {
        problems.push(format!(
            "the example with its commented-out keys uncommented does not load: {e}\n\
             --- it reads:\n{maximal_text}"
        ));
    }
    let (plain, maximal) = match (
        toml::from_str::<toml::Table>(text),
        toml::from_str::<toml::Table>(&maximal_text),
    ) {
        (Ok(p), Ok(m)) => (p, m),
        (p, m) => {
            problems.push(format!("not TOML: {:?} / {:?}", p.err(), m.err()));
            return problems;
        }
    };
    let (mut set, mut named) = (BTreeSet::new(), BTreeSet::new());
    document_keys(&plain, "", &code, &mut set);
    document_keys(&maximal, "", &code, &mut named);
    let undocumented: Vec<&String> = code
        .iter()
        .filter(|(k, kind)| **kind != Kind::Refused && !named.contains(*k))
        .map(|(k, _)| k)
        .collect();
    if !undocumented.is_empty() {
        problems.push(format!(
            "the code reads these keys, but the example names them nowhere \
             (add them, commented out when optional): {undocumented:?}"
        ));
    }
    let unknown: Vec<&String> = named.iter().filter(|k| !code.contains_key(*k)).collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "the example names keys the code does not read: {unknown:?}"
        ));
    }
    let refused: Vec<&String> = named
        .iter()
        .filter(|k| code.get(*k) == Some(&Kind::Refused))
        .collect();
    if !refused.is_empty() {
        problems.push(format!(
            "the example writes a secret inline, which is refused: {refused:?}"
        ));
    }
    problems
}

#[test]
fn the_tracer_sees_nested_fields() {
    let code = code_keys::<Config>();
    for (key, kind) in [
        ("server.listen", Kind::Field),
        ("connections.oauth.scopes", Kind::Field),
        ("connections.options", Kind::OpenMap),
        ("notifiers.api_base", Kind::Field),
        ("notifiers.chat_id", Kind::Field),
        ("notifiers.bot_token", Kind::Refused),
        ("sandbox.trap_window_secs", Kind::Field),
        ("routes.notifiers", Kind::Field),
    ] {
        assert_eq!(code.get(key), Some(&kind), "{key} in {code:#?}");
    }
}

#[test]
fn the_example_loads() {
    Config::load(std::path::Path::new(EXAMPLE_PATH)).expect("exlogare.example.toml loads");
}

#[test]
fn the_example_and_the_config_structs_name_the_same_keys() {
    let text = std::fs::read_to_string(EXAMPLE_PATH).unwrap();
    let problems = problems::<Config>(&text);
    assert!(problems.is_empty(), "exlogare.example.toml: {problems:#?}");
    // The uncommenting found something: the optional keys are documented commented out.
    assert!(maximal_example(&text).lines().count() > 100);
}

/// The check itself, on a small configuration: it notices a key the code gained, a key the
/// example names that the code does not read, and a commented-out key of the wrong type.
#[test]
fn the_check_catches_drift_either_way() {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        a: u32,
        #[serde(default)]
        extra: BTreeMap<String, String>,
        #[serde(default)]
        items: Vec<Item>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        size: Option<u64>,
    }
    let in_step = "a = 1\n# extra = { anything = \"goes\" }\n\n\
                   [[items]]\nname = \"x\"\n# size = 3   # bytes\n";
    assert_eq!(problems::<Small>(in_step), Vec::<String>::new());

    let missing = in_step.replace("# size = 3", "# (no size)");
    let p = problems::<Small>(&missing);
    assert!(p.len() == 1 && p[0].contains("items.size"), "{p:#?}");

    let unknown = format!("{in_step}# colour = \"red\"\n");
    let p = problems::<Small>(&unknown);
    assert!(p.iter().any(|p| p.contains("items.colour")), "{p:#?}");

    let mistyped = in_step.replace("# size = 3", "# size = \"three\"");
    let p = problems::<Small>(&mistyped);
    assert!(p.iter().any(|p| p.contains("does not load")), "{p:#?}");
}
