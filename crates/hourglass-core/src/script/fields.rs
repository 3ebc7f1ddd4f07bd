//! Helpers over any list of records by field name: `distinct`, `distinct_values`,
//! `sum`, `mean`, `group_by`. They take `events`, `facts`, `contacts`, lists helpers return,
//! and arrays of maps a script built.

use std::collections::{HashMap, HashSet};

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Map};

use super::error::{helper_error, type_name};
use super::library::as_number;
use super::records::{ContactList, EventList, FactList, Row, RowList};
use super::sandbox::check_deadline;

type Res<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn register(engine: &mut Engine) {
    register_fields::<EventList>(engine);
    register_fields::<FactList>(engine);
    register_fields::<ContactList>(engine);
    register_fields::<Array>(engine);
}

/// Lists whose items have named fields.
trait Fields: Clone + Send + Sync + 'static {
    fn visit(
        &self,
        field: &str,
        helper: &str,
        f: &mut dyn FnMut(usize, Dynamic) -> Res<()>,
    ) -> Res<()>;
    fn subset(&self, positions: &[usize]) -> Dynamic;
}
impl<R: Row> Fields for RowList<R> {
    fn visit(
        &self,
        field: &str,
        helper: &str,
        f: &mut dyn FnMut(usize, Dynamic) -> Res<()>,
    ) -> Res<()> {
        let Some(fld) = R::field(field) else {
            return Err(helper_error(format!(
                "{helper}: items of the {} have no field \"{field}\"; fields are {}",
                R::LIST_NAME,
                R::FIELDS
            )));
        };
        for (i, row) in self.iter().enumerate() {
            f(i, row.get(&fld))?;
        }
        check_deadline()
    }
    fn subset(&self, positions: &[usize]) -> Dynamic {
        Dynamic::from(self.select(positions))
    }
}
impl Fields for Array {
    fn visit(
        &self,
        field: &str,
        helper: &str,
        f: &mut dyn FnMut(usize, Dynamic) -> Res<()>,
    ) -> Res<()> {
        for (i, item) in self.iter().enumerate() {
            let value = match item.as_map_ref() {
                Ok(m) => m.get(field).cloned().unwrap_or(Dynamic::UNIT),
                Err(_) => {
                    return Err(helper_error(format!(
                        "{helper}: item {i} of the array is {}, not a map with a \"{field}\" field",
                        type_name(item.type_name())
                    )));
                }
            };
            f(i, value)?;
        }
        Ok(())
    }
    fn subset(&self, positions: &[usize]) -> Dynamic {
        Dynamic::from_array(
            positions
                .iter()
                .filter_map(|&p| self.get(p).cloned())
                .collect(),
        )
    }
}

/// A value usable as a set member or group name; `()` has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(ImmutableString),
    Int(INT),
    Bool(bool),
    Other(String),
}

fn key(v: &Dynamic) -> Option<Key> {
    if v.is_unit() {
        None
    } else if let Ok(i) = v.as_int() {
        Some(Key::Int(i))
    } else if let Ok(b) = v.as_bool() {
        Some(Key::Bool(b))
    } else if let Ok(s) = v.clone().into_immutable_string() {
        Some(Key::Str(s))
    } else {
        Some(Key::Other(v.to_string()))
    }
}

fn distinct_values<L: Fields>(list: &L, field: &str, helper: &str) -> Res<Array> {
    let mut seen = HashSet::new();
    let mut out = Array::new();
    list.visit(field, helper, &mut |_, v| {
        if let Some(k) = key(&v)
            && seen.insert(k)
        {
            out.push(v);
        }
        Ok(())
    })?;
    Ok(out)
}

fn numbers<L: Fields>(list: &L, field: &str, helper: &str) -> Res<(FLOAT, usize)> {
    let (mut sum, mut n) = (0.0, 0);
    list.visit(field, helper, &mut |i, v| {
        if v.is_unit() {
            return Ok(());
        }
        let x = as_number(&v).ok_or_else(|| {
            helper_error(format!(
                "{helper}: item {i}'s \"{field}\" is {}, not a number",
                type_name(v.type_name())
            ))
        })?;
        sum += x;
        n += 1;
        Ok(())
    })?;
    Ok((sum, n))
}

fn group_by<L: Fields>(list: &L, field: &str) -> Res<Map> {
    let mut groups: HashMap<Key, (String, Vec<usize>)> = HashMap::new();
    list.visit(field, "group_by", &mut |i, v| {
        if let Some(k) = key(&v) {
            groups
                .entry(k)
                .or_insert_with(|| (v.to_string(), Vec::new()))
                .1
                .push(i);
        }
        Ok(())
    })?;
    Ok(groups
        .into_values()
        .map(|(name, positions)| (name.into(), list.subset(&positions)))
        .collect())
}

fn register_fields<L: Fields>(engine: &mut Engine) {
    engine.register_fn("distinct", |l: &mut L, field: &str| -> Res<INT> {
        distinct_values(l, field, "distinct").map(|v| v.len() as INT)
    });
    engine.register_fn("distinct_values", |l: &mut L, field: &str| {
        distinct_values(l, field, "distinct_values")
    });
    engine.register_fn("sum", |l: &mut L, field: &str| -> Res<FLOAT> {
        numbers(l, field, "sum").map(|(s, _)| s)
    });
    engine.register_fn("mean", |l: &mut L, field: &str| -> Res<Dynamic> {
        numbers(l, field, "mean").map(|(s, n)| {
            if n == 0 {
                Dynamic::UNIT
            } else {
                Dynamic::from_float(s / n as FLOAT)
            }
        })
    });
    engine.register_fn("group_by", |l: &mut L, field: &str| group_by(l, field));
}
