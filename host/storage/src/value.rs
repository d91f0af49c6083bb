//! The values that cross the storage interface, the same for both backends.
//!
//! Queries bind and read only these five kinds, so a query written once reads the same rows from
//! SQLite and from PostgreSQL. Integers are always 64-bit here; the PostgreSQL backend encodes
//! one into whatever integer type the server infers for a parameter (postgres.rs).

use crate::StorageError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

/// Something that can be bound as a query parameter.
pub trait ToSql {
    fn to_value(&self) -> Value;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToSql::to_value)
    }
}

impl ToSql for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToSql for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToSql for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToSql for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
small_ints!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_ints {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            /// Counters and sizes never reach 2^63; one that did is stored as the largest
            /// integer rather than wrapping to a negative number.
            fn to_value(&self) -> Value {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
wide_ints!(u64, usize);

/// Something a column can be read as.
pub trait FromSql: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

fn expected(what: &str, got: &Value) -> String {
    format!("expected {what}, found {}", got.kind())
}

impl FromSql for Value {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl FromSql for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(expected("text", other)),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            // SQLite keeps whatever type was written; a blob column written as text reads back.
            Value::Text(s) => Ok(s.clone().into_bytes()),
            other => Err(expected("bytes", other)),
        }
    }
}

impl FromSql for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            other => Err(expected("a number", other)),
        }
    }
}

impl FromSql for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(i) => Ok(*i != 0),
            other => Err(expected("a boolean (an integer)", other)),
        }
    }
}

macro_rules! read_ints {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_value(value: &Value) -> Result<Self, String> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i)
                        .map_err(|_| format!("{i} does not fit in {}", stringify!($t))),
                    other => Err(expected("an integer", other)),
                }
            }
        }
    )*};
}
read_ints!(i32, i64, u32, u64, usize);

/// One result row: its values in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(values: Vec<Value>) -> Self {
        Self { values }
    }

    /// The value of column `index` (from 0) as `T`.
    pub fn get<T: FromSql>(&self, index: usize) -> Result<T, StorageError> {
        let value = self.values.get(index).ok_or_else(|| {
            StorageError::other(format!(
                "a query read column {index} of a row with {} columns",
                self.values.len()
            ))
        })?;
        T::from_value(value)
            .map_err(|e| StorageError::other(format!("column {index} of a row: {e}")))
    }
}

/// A query's parameters: `[]`, an array of one type, or `params![a, b, …]` for mixed types.
pub trait Params {
    fn into_values(self) -> Vec<Value>;
}

impl Params for &[&dyn ToSql] {
    fn into_values(self) -> Vec<Value> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl Params for [&dyn ToSql; 0] {
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn into_values(self) -> Vec<Value> {
                self.iter().map(ToSql::to_value).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8);

/// Mixed-type parameters: `params![id, "text", Some(3)]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::ToSql]
    };
    ($($x:expr),+ $(,)?) => {
        &[$(&$x as &dyn $crate::ToSql),+] as &[&dyn $crate::ToSql]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_back_as_any_width_that_holds_them() {
        assert_eq!(u32::from_value(&Value::Int(7)), Ok(7));
        assert!(u32::from_value(&Value::Int(-1)).is_err());
        assert_eq!(Option::<i64>::from_value(&Value::Null), Ok(None));
        assert_eq!(u64::MAX.to_value(), Value::Int(i64::MAX));
        assert_eq!(true.to_value(), Value::Int(1));
    }

    #[test]
    fn a_wrong_kind_says_what_was_expected_and_found() {
        let e = String::from_value(&Value::Int(3)).unwrap_err();
        assert_eq!(e, "expected text, found an integer");
        let row = Row::new(vec![Value::Int(1)]);
        let e = row.get::<String>(0).unwrap_err().to_string();
        assert!(e.contains("column 0"), "{e}");
        assert!(
            row.get::<i64>(4)
                .unwrap_err()
                .to_string()
                .contains("1 columns")
        );
    }

    #[test]
    fn params_of_mixed_types_and_of_one_type() {
        let mixed = params![1i64, "a", None::<String>].into_values();
        assert_eq!(
            mixed,
            vec![Value::Int(1), Value::Text("a".into()), Value::Null]
        );
        assert_eq!(["x", "y"].into_values().len(), 2);
        assert!([].into_values().is_empty());
    }
}
