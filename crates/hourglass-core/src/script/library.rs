//! Helper functions for KPI scripts, written in Rust so that typical KPIs are a few
//! fast lines. Each takes the input lists (or arrays of maps a script built); the
//! event helpers read `events` and `facts` alike, through [`Tallied`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Map};

use super::convert::{contacts_from_array, events_from_array};
use super::error::{closest, helper_error, type_name};
use super::records::{
    AssetMap, ContactList, ContactRow, EventList, EventRow, FactList, FactRow, RowList, Tallied,
    kind_name,
};
use super::sandbox::check_deadline;
use crate::engagement::Colleagues;
use crate::kinds::EventKind;

type Res<T> = Result<T, Box<EvalAltResult>>;

/// Every helper with how to call it, for error messages.
pub(crate) const HELPERS: &[(&str, &str)] = &[
    (
        "count",
        "count(events, \"KIND\") or count(list, |item| condition)",
    ),
    ("count_by_kind", "count_by_kind(events)"),
    ("of_kind", "of_kind(events, \"KIND\")"),
    ("of_asset", "of_asset(events, asset_id)"),
    ("since", "since(events, ms)"),
    ("distinct", "distinct(list, \"field\")"),
    ("distinct_values", "distinct_values(list, \"field\")"),
    ("sum", "sum(list, \"field\")"),
    ("mean", "mean(list, \"field\")"),
    ("group_by", "group_by(list, \"field\")"),
    ("contacts_with", "contacts_with(events, \"KIND\")"),
    (
        "attended_seconds",
        "attended_seconds(events) or attended_seconds(events, asset_id)",
    ),
    ("full_stay", "full_stay(events, assets, 0.9)"),
    ("internal_shares", "internal_shares(events, org, contacts)"),
    ("days_between", "days_between(ms_a, ms_b)"),
    ("days", "days(n)"),
];

const MS_PER_DAY: FLOAT = 86_400_000.0;

/// A number as a float; `None` for anything else.
pub(crate) fn as_number(v: &Dynamic) -> Option<FLOAT> {
    match v.as_int() {
        Ok(i) => Some(i as FLOAT),
        Err(_) => v.as_float().ok(),
    }
}

fn parse_kind(helper: &str, raw: &str) -> Res<EventKind> {
    let norm = raw.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    norm.parse().map_err(|_| {
        let names = EventKind::ALL.iter().map(|k| k.as_str());
        let hint = closest(&norm, names.clone())
            .map(|k| format!(" (did you mean \"{k}\"?)"))
            .unwrap_or_default();
        helper_error(format!(
            "{helper}: \"{raw}\" is not an event kind{hint}; kinds are {}",
            names.collect::<Vec<_>>().join(", ")
        ))
    })
}

/// Inputs the event helpers accept: the `events` list, the `facts` list, a list a
/// helper returned from either, or an array of event maps.
trait AsTallies: Clone + Send + Sync + 'static {
    type Row: Tallied;
    fn rows(&self, helper: &str) -> Res<Cow<'_, RowList<Self::Row>>>;
}
impl<R: Tallied> AsTallies for RowList<R> {
    type Row = R;
    fn rows(&self, _: &str) -> Res<Cow<'_, RowList<R>>> {
        Ok(Cow::Borrowed(self))
    }
}
impl AsTallies for Array {
    type Row = EventRow;
    fn rows(&self, helper: &str) -> Res<Cow<'_, EventList>> {
        events_from_array(self, helper).map(Cow::Owned)
    }
}

/// Inputs `internal_shares` accepts as contacts.
trait AsContacts: Clone + Send + Sync + 'static {
    fn contacts(&self, helper: &str) -> Res<Cow<'_, ContactList>>;
}
impl AsContacts for ContactList {
    fn contacts(&self, _: &str) -> Res<Cow<'_, ContactList>> {
        Ok(Cow::Borrowed(self))
    }
}
impl AsContacts for Array {
    fn contacts(&self, helper: &str) -> Res<Cow<'_, ContactList>> {
        contacts_from_array(self, helper).map(Cow::Owned)
    }
}

/// Where `full_stay` finds durations: the `assets` input or a map id -> #{ duration }.
trait Durations: Clone + Send + Sync + 'static {
    fn duration(&self, asset: &str) -> Option<FLOAT>;
}
impl Durations for AssetMap {
    fn duration(&self, asset: &str) -> Option<FLOAT> {
        self.get(asset).and_then(|a| a.duration).map(|d| d as FLOAT)
    }
}
impl Durations for Map {
    fn duration(&self, asset: &str) -> Option<FLOAT> {
        let entry = self.get(asset)?;
        as_number(entry).or_else(|| {
            let m = entry.as_map_ref().ok()?;
            m.get("duration").and_then(as_number)
        })
    }
}

/// Distinct contacts, first seen first, of the rows that pass `keep`.
fn contacts_where<R: Tallied>(rows: &RowList<R>, keep: impl Fn(&R) -> bool) -> Array {
    let mut seen = HashSet::new();
    let mut out = Array::new();
    for r in rows.iter().filter(|r| keep(r)) {
        if let Some(c) = r.contact()
            && seen.insert(c.clone())
        {
            out.push(c.clone().into());
        }
    }
    out
}

/// Every attending contact with its summed seconds (0 when none were given).
fn attended_seconds<R: Tallied>(rows: &RowList<R>, asset: Option<&str>) -> Res<Map> {
    let mut sums: HashMap<ImmutableString, FLOAT> = HashMap::new();
    for r in rows.iter() {
        if r.kind() != EventKind::Attendance
            || asset.is_some_and(|a| r.asset().map(ImmutableString::as_str) != Some(a))
        {
            continue;
        }
        if let Some(c) = r.contact() {
            *sums.entry(c.clone()).or_default() += r.value_sum();
        }
    }
    check_deadline()?;
    Ok(sums
        .into_iter()
        .map(|(c, s)| (c.as_str().into(), Dynamic::from_float(s)))
        .collect())
}

fn full_stay<R: Tallied>(
    rows: &RowList<R>,
    assets: &impl Durations,
    threshold: FLOAT,
) -> Res<Array> {
    if !threshold.is_finite() || threshold < 0.0 {
        return Err(helper_error(format!(
            "full_stay: the threshold must be a share of the duration such as 0.9, not {threshold}"
        )));
    }
    let mut order = Vec::new();
    let mut sums: HashMap<(ImmutableString, ImmutableString), FLOAT> = HashMap::new();
    for r in rows.iter().filter(|r| r.kind() == EventKind::Attendance) {
        if let (Some(c), Some(a)) = (r.contact(), r.asset()) {
            let k = (c.clone(), a.clone());
            let sum = sums.entry(k.clone()).or_insert_with(|| {
                order.push(k);
                0.0
            });
            *sum += r.value_sum();
        }
    }
    let mut seen = HashSet::new();
    let mut out = Array::new();
    for (c, a) in order {
        let stayed = match (assets.duration(&a), sums.get(&(c.clone(), a.clone()))) {
            (Some(d), Some(&s)) => d > 0.0 && s >= threshold * d,
            _ => false,
        };
        if stayed && seen.insert(c.clone()) {
            out.push(c.into());
        }
    }
    check_deadline()?;
    Ok(out)
}

fn internal_shares<R: Tallied>(rows: &RowList<R>, org: &Map, contacts: &ContactList) -> Res<INT> {
    let domain = org
        .get("domain")
        .and_then(|d| d.clone().into_immutable_string().ok());
    let people: Vec<&ContactRow> = contacts.iter().collect();
    let colleagues = Colleagues::new(
        people.iter().map(|c| (c.id.as_str(), c.email.as_deref())),
        domain.as_deref(),
    );
    let n = rows
        .iter()
        .filter(|r| r.kind() == EventKind::Share)
        .filter(|r| {
            r.recipient().is_some_and(|to| {
                colleagues.is_internal_share(r.contact().map(ImmutableString::as_str), to)
            })
        })
        .map(Tallied::events)
        .sum();
    check_deadline()?;
    Ok(n)
}

fn register_events<T: AsTallies>(engine: &mut Engine) {
    engine.register_fn("count", |l: &mut T, kind: &str| -> Res<INT> {
        let kind = parse_kind("count", kind)?;
        let rows = l.rows("count")?;
        Ok(rows
            .iter()
            .filter(|r| r.kind() == kind)
            .map(Tallied::events)
            .sum())
    });
    engine.register_fn("count_by_kind", |l: &mut T| -> Res<Map> {
        let mut counts = [0 as INT; EventKind::ALL.len()];
        for r in l.rows("count_by_kind")?.iter() {
            if let Some(c) = counts.get_mut(r.kind() as usize) {
                *c += r.events();
            }
        }
        Ok(EventKind::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.as_str().into(), Dynamic::from_int(n)))
            .collect())
    });
    engine.register_fn("contacts_with", |l: &mut T, kind: &str| -> Res<Array> {
        let kind = parse_kind("contacts_with", kind)?;
        Ok(contacts_where(&*l.rows("contacts_with")?, |r| {
            r.kind() == kind
        }))
    });
    engine.register_fn("attended_seconds", |l: &mut T| {
        attended_seconds(&*l.rows("attended_seconds")?, None)
    });
    engine.register_fn("attended_seconds", |l: &mut T, asset: &str| {
        attended_seconds(&*l.rows("attended_seconds")?, Some(asset))
    });
    register_full_stay::<T, AssetMap>(engine);
    register_full_stay::<T, Map>(engine);
    register_internal_shares::<T, ContactList>(engine);
    register_internal_shares::<T, Array>(engine);
}

fn register_full_stay<T: AsTallies, D: Durations>(engine: &mut Engine) {
    engine.register_fn("full_stay", |l: &mut T, d: D, threshold: FLOAT| {
        full_stay(&*l.rows("full_stay")?, &d, threshold)
    });
    engine.register_fn("full_stay", |l: &mut T, d: D, threshold: INT| {
        full_stay(&*l.rows("full_stay")?, &d, threshold as FLOAT)
    });
}

fn register_internal_shares<T: AsTallies, C: AsContacts>(engine: &mut Engine) {
    engine.register_fn("internal_shares", |l: &mut T, org: Map, c: C| {
        internal_shares(
            &*l.rows("internal_shares")?,
            &org,
            &*c.contacts("internal_shares")?,
        )
    });
}

/// `of_kind` and `of_asset` on a list of events or facts: a selection of it.
fn register_selections<R: Tallied>(engine: &mut Engine) {
    engine.register_fn(
        "of_kind",
        |l: &mut RowList<R>, kind: &str| -> Res<RowList<R>> {
            let kind = parse_kind("of_kind", kind)?;
            Ok(l.select_where(|r| r.kind() == kind))
        },
    );
    engine.register_fn("of_asset", |l: &mut RowList<R>, asset: &str| {
        l.select_where(|r| r.asset().map(ImmutableString::as_str) == Some(asset))
    });
}

fn field_is(item: &Dynamic, field: &str, expected: &str) -> bool {
    item.as_map_ref()
        .ok()
        .and_then(|m| {
            m.get(field)
                .and_then(|k| k.clone().into_immutable_string().ok())
        })
        .is_some_and(|k| k == expected)
}

fn at_least(item: &Dynamic, ms: INT) -> bool {
    item.as_map_ref()
        .ok()
        .and_then(|m| m.get("at").and_then(|v| v.as_int().ok()))
        .is_some_and(|at| at >= ms)
}

fn number_arg(helper: &str, v: &Dynamic) -> Res<FLOAT> {
    as_number(v).ok_or_else(|| {
        helper_error(format!(
            "{helper}: expected a number (milliseconds since 1970, like `now` or `e.at`), not {}",
            type_name(v.type_name())
        ))
    })
}

/// Registers every helper.
pub(crate) fn register(engine: &mut Engine) {
    register_events::<EventList>(engine);
    register_events::<FactList>(engine);
    register_events::<Array>(engine);
    register_selections::<EventRow>(engine);
    register_selections::<FactRow>(engine);

    engine.register_fn("of_kind", |l: &mut Array, kind: &str| -> Res<Array> {
        let kind = parse_kind("of_kind", kind)?;
        Ok(l.iter()
            .filter(|i| field_is(i, "kind", &kind_name(kind)))
            .cloned()
            .collect())
    });
    engine.register_fn("of_asset", |l: &mut Array, asset: &str| -> Array {
        l.iter()
            .filter(|i| field_is(i, "asset", asset))
            .cloned()
            .collect()
    });
    engine.register_fn("since", |l: &mut EventList, ms: INT| {
        l.select_where(|e| e.at >= ms)
    });
    engine.register_fn("since", |l: &mut Array, ms: INT| -> Array {
        l.iter().filter(|i| at_least(i, ms)).cloned().collect()
    });
    engine.register_fn("days_between", |a: Dynamic, b: Dynamic| -> Res<FLOAT> {
        let (a, b) = (
            number_arg("days_between", &a)?,
            number_arg("days_between", &b)?,
        );
        Ok((b - a) / MS_PER_DAY)
    });
    engine.register_fn("days", |n: INT| n.saturating_mul(86_400_000));
    engine.register_fn("days", |n: FLOAT| -> Res<INT> {
        let ms = (n * MS_PER_DAY).round();
        if ms.is_finite() && ms.abs() < 9.0e18 {
            Ok(ms as INT)
        } else {
            Err(helper_error(format!("days: {n} days is out of range")))
        }
    });
}
