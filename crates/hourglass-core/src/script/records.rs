//! The read-only record lists scripts receive: `events`, `facts`, `contacts` and
//! `assets`.
//!
//! They are cheap handles (an `Arc` and an optional selection of row numbers), not Rhai
//! arrays: passing a Rhai array of 200,000 maps to a function copies every map, and
//! Rhai's size limits measure the whole array on every method call, so a large
//! organization could not even ask `events.len()`. A handle costs nothing to pass, is
//! never counted against the size limits (only what a script builds is), and native
//! helpers read its rows directly. An element becomes a Rhai map only when a script
//! looks at it (`for e in events`, `events[0]`, a closure given to `filter`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use rhai::{Dynamic, FLOAT, INT, ImmutableString, Map};

use crate::kinds::EventKind;

/// The kinds' names as shared Rhai strings, indexed by `EventKind as usize`.
static KIND_NAMES: LazyLock<Vec<ImmutableString>> =
    LazyLock::new(|| EventKind::ALL.iter().map(|k| k.as_str().into()).collect());

/// The kind's name as a shared Rhai string (no allocation).
pub(crate) fn kind_name(kind: EventKind) -> ImmutableString {
    KIND_NAMES
        .get(kind as usize)
        .cloned()
        .unwrap_or_else(|| kind.as_str().into())
}

fn opt_str(v: &Option<ImmutableString>) -> Dynamic {
    v.as_ref()
        .map_or(Dynamic::UNIT, |s| Dynamic::from(s.clone()))
}

/// A kind of row a list holds.
pub(crate) trait Row: Clone + Send + Sync + 'static {
    /// What scripts see as the list's type.
    const LIST_NAME: &'static str;
    /// The fields an element has, for error messages.
    const FIELDS: &'static str;
    /// A field, resolved once per helper call.
    type Field;
    fn field(name: &str) -> Option<Self::Field>;
    fn get(&self, field: &Self::Field) -> Dynamic;
    /// The element as the Rhai map scripts see.
    fn to_map(&self) -> Map;
}

/// One event, converted once per run.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub kind: EventKind,
    pub at: INT,
    pub contact: Option<ImmutableString>,
    pub asset: Option<ImmutableString>,
    pub campaign: Option<ImmutableString>,
    pub channel: Option<ImmutableString>,
    pub value: Option<FLOAT>,
    /// `properties.recipient` when it is a string (SHARE events), for `internal_shares`.
    pub recipient: Option<ImmutableString>,
    pub properties: Map,
}

/// A field of an event; `properties.NAME` reaches into the properties.
#[derive(Debug, Clone)]
pub(crate) enum EventField {
    Kind,
    At,
    Contact,
    Asset,
    Campaign,
    Channel,
    Value,
    Properties,
    Property(String),
}

impl Row for EventRow {
    const LIST_NAME: &'static str = "event list";
    const FIELDS: &'static str =
        "kind, at, contact, asset, campaign, channel, value, properties, properties.NAME";
    type Field = EventField;

    fn field(name: &str) -> Option<EventField> {
        Some(match name {
            "kind" => EventField::Kind,
            "at" => EventField::At,
            "contact" => EventField::Contact,
            "asset" => EventField::Asset,
            "campaign" => EventField::Campaign,
            "channel" => EventField::Channel,
            "value" => EventField::Value,
            "properties" => EventField::Properties,
            other => EventField::Property(other.strip_prefix("properties.")?.to_owned()),
        })
    }

    fn get(&self, field: &EventField) -> Dynamic {
        match field {
            EventField::Kind => kind_name(self.kind).into(),
            EventField::At => self.at.into(),
            EventField::Contact => opt_str(&self.contact),
            EventField::Asset => opt_str(&self.asset),
            EventField::Campaign => opt_str(&self.campaign),
            EventField::Channel => opt_str(&self.channel),
            EventField::Value => self.value.map_or(Dynamic::UNIT, Dynamic::from_float),
            EventField::Properties => Dynamic::from_map(self.properties.clone()),
            EventField::Property(name) => self
                .properties
                .get(name.as_str())
                .cloned()
                .unwrap_or(Dynamic::UNIT),
        }
    }

    fn to_map(&self) -> Map {
        let mut m = Map::new();
        m.insert("kind".into(), kind_name(self.kind).into());
        m.insert("at".into(), self.at.into());
        m.insert("contact".into(), opt_str(&self.contact));
        m.insert("asset".into(), opt_str(&self.asset));
        m.insert("campaign".into(), opt_str(&self.campaign));
        m.insert("channel".into(), opt_str(&self.channel));
        m.insert(
            "value".into(),
            self.value.map_or(Dynamic::UNIT, Dynamic::from_float),
        );
        m.insert(
            "properties".into(),
            Dynamic::from_map(self.properties.clone()),
        );
        m
    }
}

/// One engagement fact: events of one kind by one contact on one asset (and, for
/// shares, to one recipient), tallied.
#[derive(Debug, Clone)]
pub(crate) struct FactRow {
    pub kind: EventKind,
    pub contact: Option<ImmutableString>,
    pub asset: Option<ImmutableString>,
    pub recipient: Option<ImmutableString>,
    pub events: INT,
    pub value: FLOAT,
    pub first_at: INT,
}

/// A field of a fact.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FactField {
    Kind,
    Contact,
    Asset,
    Recipient,
    Events,
    Value,
    FirstAt,
}

impl Row for FactRow {
    const LIST_NAME: &'static str = "fact list";
    const FIELDS: &'static str = "kind, contact, asset, recipient, events, value, first_at";
    type Field = FactField;

    fn field(name: &str) -> Option<FactField> {
        Some(match name {
            "kind" => FactField::Kind,
            "contact" => FactField::Contact,
            "asset" => FactField::Asset,
            "recipient" => FactField::Recipient,
            "events" => FactField::Events,
            "value" => FactField::Value,
            "first_at" => FactField::FirstAt,
            _ => return None,
        })
    }

    fn get(&self, field: &FactField) -> Dynamic {
        match field {
            FactField::Kind => kind_name(self.kind).into(),
            FactField::Contact => opt_str(&self.contact),
            FactField::Asset => opt_str(&self.asset),
            FactField::Recipient => opt_str(&self.recipient),
            FactField::Events => self.events.into(),
            FactField::Value => Dynamic::from_float(self.value),
            FactField::FirstAt => self.first_at.into(),
        }
    }

    fn to_map(&self) -> Map {
        let mut m = Map::new();
        m.insert("kind".into(), kind_name(self.kind).into());
        m.insert("contact".into(), opt_str(&self.contact));
        m.insert("asset".into(), opt_str(&self.asset));
        m.insert("recipient".into(), opt_str(&self.recipient));
        m.insert("events".into(), self.events.into());
        m.insert("value".into(), Dynamic::from_float(self.value));
        m.insert("first_at".into(), self.first_at.into());
        m
    }
}

/// Rows that stand for events — one event, or a fact tallying several — so that the
/// event helpers (`count`, `contacts_with`, `attended_seconds`, `full_stay`,
/// `internal_shares`, …) answer the same on `events` and on `facts`.
pub(crate) trait Tallied: Row {
    fn kind(&self) -> EventKind;
    fn contact(&self) -> Option<&ImmutableString>;
    fn asset(&self) -> Option<&ImmutableString>;
    /// A share's recipient.
    fn recipient(&self) -> Option<&ImmutableString>;
    /// How many events the row stands for.
    fn events(&self) -> INT;
    /// The sum of their values (a missing value adds nothing).
    fn value_sum(&self) -> FLOAT;
}

/// `Tallied` for a row whose fields carry the trait's names; only how many events it
/// stands for and its value sum differ between events and facts.
macro_rules! tallied {
    ($row:ty, events: |$e:ident| $events:expr, value_sum: |$v:ident| $value_sum:expr) => {
        impl Tallied for $row {
            fn kind(&self) -> EventKind {
                self.kind
            }
            fn contact(&self) -> Option<&ImmutableString> {
                self.contact.as_ref()
            }
            fn asset(&self) -> Option<&ImmutableString> {
                self.asset.as_ref()
            }
            fn recipient(&self) -> Option<&ImmutableString> {
                self.recipient.as_ref()
            }
            fn events(&self) -> INT {
                let $e = self;
                $events
            }
            fn value_sum(&self) -> FLOAT {
                let $v = self;
                $value_sum
            }
        }
    };
}

tallied!(EventRow, events: |_event| 1, value_sum: |event| event.value.unwrap_or(0.0));
tallied!(FactRow, events: |fact| fact.events, value_sum: |fact| fact.value);

/// One contact of the organization.
#[derive(Debug, Clone)]
pub(crate) struct ContactRow {
    pub id: ImmutableString,
    pub stage: ImmutableString,
    pub email: Option<ImmutableString>,
}

/// A field of a contact.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ContactField {
    Id,
    Stage,
    Email,
}

impl Row for ContactRow {
    const LIST_NAME: &'static str = "contact list";
    const FIELDS: &'static str = "id, stage, email";
    type Field = ContactField;

    fn field(name: &str) -> Option<ContactField> {
        match name {
            "id" => Some(ContactField::Id),
            "stage" => Some(ContactField::Stage),
            "email" => Some(ContactField::Email),
            _ => None,
        }
    }

    fn get(&self, field: &ContactField) -> Dynamic {
        match field {
            ContactField::Id => self.id.clone().into(),
            ContactField::Stage => self.stage.clone().into(),
            ContactField::Email => opt_str(&self.email),
        }
    }

    fn to_map(&self) -> Map {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("stage".into(), self.stage.clone().into());
        m.insert("email".into(), opt_str(&self.email));
        m
    }
}

/// A read-only list of rows, or a selection of them. Cloning shares the rows.
#[derive(Clone)]
pub(crate) struct RowList<R> {
    rows: Arc<Vec<R>>,
    /// Row numbers of this selection, in order; `None` means every row.
    sel: Option<Arc<[u32]>>,
}

pub(crate) type EventList = RowList<EventRow>;
pub(crate) type FactList = RowList<FactRow>;
pub(crate) type ContactList = RowList<ContactRow>;

impl<R> fmt::Debug for RowList<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowList({} rows)", self.len())
    }
}

impl<R> RowList<R> {
    pub fn len(&self) -> usize {
        self.sel.as_ref().map_or(self.rows.len(), |s| s.len())
    }
}

impl<R: Row> RowList<R> {
    pub fn new(rows: Vec<R>) -> Self {
        Self {
            rows: Arc::new(rows),
            sel: None,
        }
    }

    pub fn get(&self, i: usize) -> Option<&R> {
        match &self.sel {
            None => self.rows.get(i),
            Some(sel) => sel.get(i).and_then(|&r| self.rows.get(r as usize)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &R> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The rows at `positions` (positions in this list, ascending).
    pub fn select(&self, positions: &[usize]) -> Self {
        let sel: Arc<[u32]> = positions
            .iter()
            .filter_map(|&p| match &self.sel {
                None => u32::try_from(p).ok(),
                Some(s) => s.get(p).copied(),
            })
            .collect();
        Self {
            rows: self.rows.clone(),
            sel: Some(sel),
        }
    }

    /// The rows for which `keep` holds.
    pub fn select_where(&self, mut keep: impl FnMut(&R) -> bool) -> Self {
        let positions: Vec<usize> = self
            .iter()
            .enumerate()
            .filter(|(_, r)| keep(r))
            .map(|(i, _)| i)
            .collect();
        self.select(&positions)
    }

    /// Every element as a map (what `to_array()` gives scripts).
    pub fn to_maps(&self) -> rhai::Array {
        self.iter().map(|r| Dynamic::from_map(r.to_map())).collect()
    }
}

/// Iterates a list's elements as maps for `for e in events`.
#[derive(Debug)]
pub(crate) struct RowIter<R> {
    list: RowList<R>,
    pos: usize,
}

impl<R: Row> Iterator for RowIter<R> {
    type Item = Dynamic;
    fn next(&mut self) -> Option<Dynamic> {
        let row = self.list.get(self.pos)?;
        self.pos += 1;
        Some(Dynamic::from_map(row.to_map()))
    }
}

impl<R: Row> IntoIterator for RowList<R> {
    type Item = Dynamic;
    type IntoIter = RowIter<R>;
    fn into_iter(self) -> RowIter<R> {
        RowIter { list: self, pos: 0 }
    }
}

/// One asset of the workspace.
#[derive(Debug, Clone)]
pub(crate) struct AssetRow {
    pub id: ImmutableString,
    pub kind: Option<ImmutableString>,
    pub title: Option<ImmutableString>,
    pub duration: Option<INT>,
}

impl AssetRow {
    pub fn to_map(&self) -> Map {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("kind".into(), opt_str(&self.kind));
        m.insert("title".into(), opt_str(&self.title));
        m.insert(
            "duration".into(),
            self.duration.map_or(Dynamic::UNIT, Dynamic::from_int),
        );
        m
    }
}

/// The workspace's assets by id: read-only, shared by every organization of a query.
#[derive(Clone, Default)]
pub(crate) struct AssetMap {
    inner: Arc<AssetData>,
}

#[derive(Default)]
struct AssetData {
    rows: Vec<AssetRow>,
    by_id: HashMap<String, usize>,
}

impl fmt::Debug for AssetMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssetMap({} assets)", self.inner.rows.len())
    }
}

impl AssetMap {
    /// Later duplicates of an id replace earlier ones, as in a map.
    pub fn new(rows: Vec<AssetRow>) -> Self {
        let mut by_id = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            by_id.insert(row.id.to_string(), i);
        }
        Self {
            inner: Arc::new(AssetData { rows, by_id }),
        }
    }

    pub fn get(&self, id: &str) -> Option<&AssetRow> {
        self.inner
            .by_id
            .get(id)
            .and_then(|&i| self.inner.rows.get(i))
    }

    pub fn len(&self) -> usize {
        self.inner.by_id.len()
    }

    /// Assets in the order given, each id once.
    pub fn iter(&self) -> impl Iterator<Item = &AssetRow> + '_ {
        self.inner
            .rows
            .iter()
            .enumerate()
            .filter(|(i, r)| self.inner.by_id.get(r.id.as_str()) == Some(i))
            .map(|(_, r)| r)
    }
}
