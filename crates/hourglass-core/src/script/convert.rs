//! Rust records -> what a script sees, and back from script-built arrays to rows.
//!
//! Conversion is per run and must be cheap: strings repeated across events (contacts,
//! assets, campaigns, channels) are interned per organization, kind names are shared
//! static strings, map keys are inline (no allocation), and properties are converted
//! straight from `serde_json` values without a text round-trip.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rhai::{Array, Dynamic, INT, ImmutableString, Map, Scope};
use serde_json::Value;

use super::error::helper_error;
use super::records::{
    AssetMap, AssetRow, ContactList, ContactRow, EventList, EventRow, FactList, FactRow,
};
use crate::engagement::{AssetInfo, EngagementFact, OrgRecords, tally};
use crate::kinds::EventKind;

/// What is the same for every organization of one query.
#[derive(Debug, Clone)]
pub struct SharedInput {
    pub assets: Vec<AssetInfo>,
    pub params: serde_json::Map<String, Value>,
    /// The filter's end: scripts never see the real clock.
    pub now: DateTime<Utc>,
    pub campaign: Option<String>,
    pub asset: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The names a script can use without declaring them, in scope order.
pub(crate) const INPUT_NAMES: &[&str] = &[
    "org", "events", "facts", "contacts", "assets", "params", "now", "from", "to", "filter",
];

/// Which of the large inputs a script names: each costs a conversion per
/// organization, and `events` decides what storage loads for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reads {
    pub events: bool,
    pub facts: bool,
}

/// Nesting beyond this in `properties` or `params` is shown as JSON text.
const MAX_JSON_DEPTH: usize = 32;

/// [`SharedInput`] converted once per query.
#[derive(Debug, Clone)]
pub(crate) struct PreparedShared {
    assets: AssetMap,
    params: Map,
    now: INT,
    from: Dynamic,
    to: Dynamic,
    filter: Map,
}

impl PreparedShared {
    pub fn new(shared: &SharedInput) -> Self {
        let mut interner = Interner::default();
        let assets = shared
            .assets
            .iter()
            .map(|a| AssetRow {
                id: interner.get(&a.id),
                kind: a.kind.map(|k| interner.get(k.as_str())),
                title: a.title.as_deref().map(|t| interner.get(t)),
                duration: a.duration_seconds.map(INT::from),
            })
            .collect();
        let mut filter = Map::new();
        filter.insert("campaign".into(), opt(shared.campaign.as_deref()));
        filter.insert("asset".into(), opt(shared.asset.as_deref()));
        Self {
            assets: AssetMap::new(assets),
            params: json_map(&shared.params, 0),
            now: shared.now.timestamp_millis(),
            from: shared
                .from
                .map_or(Dynamic::UNIT, |t| t.timestamp_millis().into()),
            to: shared
                .to
                .map_or(Dynamic::UNIT, |t| t.timestamp_millis().into()),
            filter,
        }
    }
}

/// The scope `compile` checks names against: the inputs (but `without`), as plain
/// variables so the optimizer never folds a placeholder value into the script.
pub(crate) fn compile_scope(without: Option<&str>) -> Scope<'static> {
    let mut scope = Scope::with_capacity(INPUT_NAMES.len());
    for name in INPUT_NAMES.iter().filter(|n| Some(**n) != without) {
        scope.push_dynamic(*name, Dynamic::UNIT);
    }
    scope
}

/// The scope one organization's run starts with; every input is a constant. Inputs
/// the script never names are left empty rather than converted.
pub(crate) fn run_scope(org: &OrgRecords, shared: &PreparedShared, reads: Reads) -> Scope<'static> {
    // Declared before the interner, which borrows from it.
    let tallied: Vec<EngagementFact>;
    let mut interner = Interner::default();
    let info = &org.organization;
    let mut org_map = Map::new();
    org_map.insert("id".into(), interner.get(&info.id).into());
    org_map.insert("name".into(), opt(info.name.as_deref()));
    org_map.insert("domain".into(), opt(info.domain.as_deref()));
    org_map.insert("stage".into(), opt(info.stage.as_deref()));
    org_map.insert(
        "contact_count".into(),
        INT::try_from(info.contact_count).unwrap_or(INT::MAX).into(),
    );

    let mut events = Vec::new();
    let (mut contact, mut asset) = (Last::default(), Last::default());
    let (mut campaign, mut channel) = (Last::default(), Last::default());
    for e in org.events.iter().filter(|_| reads.events) {
        let recipient = match e.properties.get("recipient") {
            Some(Value::String(r)) => Some(interner.get(r)),
            _ => None,
        };
        events.push(EventRow {
            kind: e.kind,
            at: e.at.timestamp_millis(),
            contact: contact.get(e.contact.as_deref(), &mut interner),
            asset: asset.get(e.asset.as_deref(), &mut interner),
            campaign: campaign.get(e.campaign.as_deref(), &mut interner),
            channel: channel.get(e.channel.as_deref(), &mut interner),
            value: e.value,
            recipient,
            properties: if e.properties.is_empty() {
                Map::new()
            } else {
                json_map(&e.properties, 0)
            },
        });
    }
    let facts: &[EngagementFact] = match (reads.facts, org.facts.is_empty()) {
        (false, _) => &[],
        (true, false) => &org.facts,
        (true, true) => {
            tallied = tally(org.events.iter().map(EngagementFact::of_event));
            &tallied
        }
    };
    let facts: Vec<FactRow> = facts
        .iter()
        .map(|f| FactRow {
            kind: f.kind,
            contact: f.contact.as_deref().map(|c| interner.get(c)),
            asset: f.asset.as_deref().map(|a| interner.get(a)),
            recipient: f.recipient.as_deref().map(|r| interner.get(r)),
            events: INT::try_from(f.events).unwrap_or(INT::MAX),
            value: f.value_sum,
            first_at: f.first_at,
        })
        .collect();
    let contacts = org
        .contacts
        .iter()
        .map(|c| ContactRow {
            id: interner.get(&c.id),
            stage: interner.get(&c.stage),
            email: c.email.as_deref().map(|s| interner.get(s)),
        })
        .collect();

    let mut scope = Scope::with_capacity(INPUT_NAMES.len());
    scope.push_constant("org", org_map);
    scope.push_constant("events", EventList::new(events));
    scope.push_constant("facts", FactList::new(facts));
    scope.push_constant("contacts", ContactList::new(contacts));
    scope.push_constant("assets", shared.assets.clone());
    scope.push_constant("params", shared.params.clone());
    scope.push_constant("now", shared.now);
    scope.push_constant_dynamic("from", shared.from.clone());
    scope.push_constant_dynamic("to", shared.to.clone());
    scope.push_constant("filter", shared.filter.clone());
    scope
}

fn opt(s: Option<&str>) -> Dynamic {
    s.map_or(Dynamic::UNIT, |s| Dynamic::from(ImmutableString::from(s)))
}

/// Shares one Rhai string per distinct text within a conversion.
#[derive(Default)]
struct Interner<'a> {
    seen: HashMap<&'a str, ImmutableString>,
}

impl<'a> Interner<'a> {
    fn get(&mut self, s: &'a str) -> ImmutableString {
        self.seen
            .entry(s)
            .or_insert_with(|| ImmutableString::from(s))
            .clone()
    }
}

/// Remembers the last string of one field: consecutive events often repeat it
/// (the same campaign, channel, asset or contact), and comparing is cheaper than hashing.
#[derive(Default)]
struct Last<'a>(Option<(&'a str, ImmutableString)>);

impl<'a> Last<'a> {
    fn get(&mut self, s: Option<&'a str>, interner: &mut Interner<'a>) -> Option<ImmutableString> {
        let s = s?;
        match &self.0 {
            Some((text, shared)) if *text == s => Some(shared.clone()),
            _ => {
                let shared = interner.get(s);
                self.0 = Some((s, shared.clone()));
                Some(shared)
            }
        }
    }
}

/// A JSON object as a Rhai map.
pub(crate) fn json_map(map: &serde_json::Map<String, Value>, depth: usize) -> Map {
    map.iter()
        .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v, depth + 1)))
        .collect()
}

/// A JSON value as a Rhai value: integers that fit stay integers, other numbers are floats.
pub(crate) fn json_to_dynamic(value: &Value, depth: usize) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().map_or(Dynamic::UNIT, Dynamic::from_float),
        },
        Value::String(s) => s.as_str().into(),
        _ if depth >= MAX_JSON_DEPTH => value.to_string().into(),
        Value::Array(items) => Dynamic::from_array(
            items
                .iter()
                .map(|v| json_to_dynamic(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Dynamic::from_map(json_map(map, depth)),
    }
}

fn not_a_map(item: &Dynamic, i: usize, helper: &str) -> Box<rhai::EvalAltResult> {
    helper_error(format!(
        "{helper}: item {i} of the array is {}, not a map",
        super::error::type_name(item.type_name())
    ))
}

fn str_field(m: &Map, key: &str) -> Option<ImmutableString> {
    m.get(key)
        .and_then(|v| v.clone().into_immutable_string().ok())
}

/// A script-built array of event maps as an event list (for helpers given arrays).
pub(crate) fn events_from_array(
    items: &Array,
    helper: &str,
) -> Result<EventList, Box<rhai::EvalAltResult>> {
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let m = item.as_map_ref().map_err(|_| not_a_map(item, i, helper))?;
        let m: &Map = &m;
        let kind_text = str_field(m, "kind").unwrap_or_default();
        let kind: EventKind = kind_text.parse().map_err(|_| {
            helper_error(format!(
                "{helper}: item {i} has kind '{kind_text}', which is not an event kind"
            ))
        })?;
        let properties = m
            .get("properties")
            .and_then(|p| p.clone().try_cast::<Map>())
            .unwrap_or_default();
        rows.push(EventRow {
            kind,
            at: m.get("at").and_then(|v| v.as_int().ok()).unwrap_or(0),
            contact: str_field(m, "contact"),
            asset: str_field(m, "asset"),
            campaign: str_field(m, "campaign"),
            channel: str_field(m, "channel"),
            value: m.get("value").and_then(super::library::as_number),
            recipient: str_field(&properties, "recipient"),
            properties,
        });
    }
    Ok(EventList::new(rows))
}

/// A script-built array of contact maps as a contact list.
pub(crate) fn contacts_from_array(
    items: &Array,
    helper: &str,
) -> Result<ContactList, Box<rhai::EvalAltResult>> {
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let m = item.as_map_ref().map_err(|_| not_a_map(item, i, helper))?;
        let m: &Map = &m;
        rows.push(ContactRow {
            id: str_field(m, "id").unwrap_or_default(),
            stage: str_field(m, "stage").unwrap_or_default(),
            email: str_field(m, "email"),
        });
    }
    Ok(ContactList::new(rows))
}
