//! Fuzzing the running server over HTTP, on both backends.
//!
//! GraphQL documents are generated from `schema.graphql` (random root fields,
//! arguments of right and wrong types, nesting, aliases, fragments, directives,
//! variables with random JSON, huge numbers, unicode), corrupted now and then, and
//! sent with random envelopes, methods, content types and keys, next to byte-level
//! garbage and a few hand-made deep or large cases. NDJSON bodies mix valid events,
//! events mutated field by field, garbage bytes, huge lines, invalid UTF-8, blank
//! lines and `\r\n`.
//!
//! Every answer must be below 500, JSON where JSON is promised, and every GraphQL
//! error must carry `extensions.code` (never `INTERNAL` or `TIMEOUT`). NDJSON reports
//! must account for every non-blank line, and never reject an untouched valid event.
//! Afterwards the server must still answer normally.
//!
//! The generator is seeded: a failure prints the seed, and `FUZZ_SEED=<n>` replays
//! it. (proptest is not a dependency of this crate, so this uses `rand`.)

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::{Positioned, parse_schema};
use chrono::{DateTime, Utc};
use hourglass_tests::{Backend, TestApp, on_both_backends};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};
use table::*;

const SCHEMA: &str = include_str!("../../schema.graphql");
const WORKSPACE: &str = "fuzz";
/// Where the events of `WORKSPACE` are posted.
const EVENTS: &str = "/v1/events?workspace=fuzz";
/// Stop generating new random cases after this long (the hand-made ones still run).
const SOFT_BUDGET: Duration = Duration::from_secs(40);

// =================================================================================
// The schema, read with async-graphql's parser

/// The types of `schema.graphql` by name (built-in scalars are not among them).
struct Schema(BTreeMap<String, TypeKind>);

static TYPES: LazyLock<Schema> = LazyLock::new(Schema::parse);

type Inputs = [Positioned<InputValueDefinition>];

impl Schema {
    fn parse() -> Self {
        let document = parse_schema(SCHEMA).expect("schema.graphql parses");
        let types = document.definitions.into_iter().filter_map(|d| match d {
            TypeSystemDefinition::Type(t) if !t.node.extend => Some(t.node),
            _ => None,
        });
        Self(types.map(|t| (t.name.node.to_string(), t.kind)).collect())
    }

    /// The fields of an object or interface type; none for any other type.
    fn fields(&self, name: &str) -> Vec<&FieldDefinition> {
        let fields = match self.0.get(name) {
            Some(TypeKind::Object(o)) => &o.fields,
            Some(TypeKind::Interface(i)) => &i.fields,
            _ => return Vec::new(),
        };
        fields.iter().map(|f| &f.node).collect()
    }

    fn is_leaf(&self, ty: &Type) -> bool {
        let kind = self.0.get(named(ty));
        matches!(kind, Some(TypeKind::Scalar | TypeKind::Enum(_)) | None)
    }

    fn enum_values(&self, name: &str) -> Vec<&str> {
        let Some(TypeKind::Enum(e)) = self.0.get(name) else {
            panic!("schema.graphql has no enum {name}");
        };
        let values = e.values.iter().map(|v| v.node.value.node.as_str());
        values.collect()
    }
}

/// The named type inside `ty` (`ID` for `[ID!]!`).
fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name,
        BaseType::List(inner) => named(inner),
    }
}

fn required(value: &InputValueDefinition) -> bool {
    !value.ty.node.nullable && value.default_value.is_none()
}

// =================================================================================
// What the generator draws from

#[rustfmt::skip]
mod table {
    pub const STRINGS: &[&str] = &[
        "lp", "web", "camp-1", "org-1", "p1", "hot_account", "acme", "fuzz-2", "LEAD", "OQL",
        "EUR", "XXXX", "email", "Social", "ü𝔘💥", "\u{202e}evil", "a\u{0}b", "\u{FFFF}\u{FFFE}",
        "Ω≈ç√∫˜µ≤≥÷", "a\u{300}\u{301}\u{302}\u{303}", "' OR 1=1 --", "%", "_", "\\", "\"", "${}",
        "../../etc/passwd", "<script>alert(1)</script>", " padded ", "\t", "a\nb", "-leading",
        "slug_with_underscore", "UPPER", "1 + 1", "loop {}", "let x = ",
        "#{ value: 1, label: \"x\", breakdown: #{ a: 1 } }", "count(events, \"ATTENDANCE\")",
        "fn f(n) { f(n) } f(1)", "let s = \"ab\"; loop { s += s; }", "throw \"boom\"", "()",
        "[1, 2, 3]", "print(\"hi\"); 1", "evnts.len()", "params.threshold * 2", "1 / 0",
        "9223372036854775807 + 1",
    ];
    pub const DATES: &[&str] = &[
        "2026-11-01T00:00:00Z", "2026-10-15T10:30:00+02:00", "2026-13-45T99:00:00Z", "nope",
        "-99999-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "2026-11-01", "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z", "2026-06-30T23:59:60Z", "2026-11-01T00:00:00+14:00",
        "2099-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "",
    ];
    pub const EXTREME_DATES: &[&str] =
        &["1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999Z"];
    /// Valid `NaiveDate`s; then odd ones too.
    pub const DAYS: &[&str] = &["2026-11-01", "2026-10-25", "2026-02-28", "0001-01-01", "9999-12-31"];
    pub const ODD_DAYS: &[&str] = &[
        "2026-11-01", "2026-10-25", "2026-02-30", "0000-01-01", "9999-12-31", "+262143-12-31",
        "-262144-01-01", "2026-1-1", "yesterday", "",
    ];
    /// Ints that fit GraphQL's `Int` (32 bits); then ones that do not. As GraphQL
    /// literals and as JSON.
    pub const INTS: &[&str] = &["0", "1", "-1", "2", "5", "30", "100", "101", "2147483647", "-2147483648"];
    pub const BAD_INTS: &[&str] = &[
        "2147483648", "9007199254740993", "-99999999999999999999999999", "18446744073709551616",
        "18446744073709551615", "1.5", "1e30",
    ];
    /// Finite floats; then ones that overflow.
    pub const FLOATS: &[&str] = &[
        "0", "0.5", "0.9", "1.5", "-1", "-0.0", "1e308", "-1e308", "5e-324", "123456789.123", "1E2",
        "2147483648", "9223372036854775807",
    ];
    pub const BAD_FLOATS: &[&str] = &["1e309", "-1e400"];
    /// Numbers for random JSON.
    pub const EDGE_NUMBERS: &[&str] =
        &["0", "-1", "-9223372036854775808", "18446744073709551615", "1e300", "-0.0", "0.1", "2147483648"];
    pub const KEYS: &[&str] =
        &["a", "min_attendees", "threshold", "to", "currency", "", "__proto__", "ü", "constructor", "x y"];
    pub const JSON_NAMES: &[&str] = &["a", "min_attendees", "threshold", "to", "b_2", "x"];
    pub const WRONG_LITERALS: &[&str] = &[
        "123", "\"str\"", "true", "null", "[1, 2]", "{a: 1}", "PAGE_VIEW", "$undeclared", "1e999",
        "\"\\u0000\"", "[[[]]]", "{}", "-0",
    ];
    pub const WRONG_ENUM_VALUES: &[&str] = &["NOPE", "\"PAGE_VIEW\"", "page_view", "true"];
    pub const WRONG_VARIABLE_TYPES: &[&str] =
        &["Int", "String!", "[ID!]!", "JSON", "KpiFilterInput", "Nope", "Boolean!"];
    pub const WRONG_DIRECTIVES: &[&str] = &[" @deprecated", " @skip", " @include(if: 1)"];
    /// Ids of things the seed data holds, by argument name, so that resolvers get
    /// past NOT_FOUND.
    pub const KNOWN_IDS: &[(&[&str], &[&str])] = &[
        (&["asset", "assetId", "landingPage"], &["lp", "web"]),
        (&["campaign", "campaignId"], &["camp-1"]),
        (&["organization", "organizationId"], &["org-0", "org-1", "org-2"]),
        (&["contact", "contactId"], &["p0", "p1", "p2"]),
        (&["key"], &["hot_account"]),
        (&["id"], &["lp", "web", "camp-1", "org-1", "p1"]),
        (&["source"], STRINGS),
    ];
    /// Keys of cursors the server never gave out.
    pub const CURSOR_KEYS: &[&str] = &[
        "0", "-1", "9223372036854775807", "-9223372036854775808", "[0,0]",
        "[9223372036854775807,9223372036854775807]", "[-9223372036854775808,-1]", "[1]",
        "[1,2,3]", "1e400", "\"x\"", "null", "{}",
    ];
    pub const JUNK: &[&str] = &[
        "{", "}", "(", ")", "[", "]", ":", "$", "@", "!", "\"", "\\", "#", "…", "\u{0}", "...",
        "on", "0x",
    ];
    pub const ACCEPTS: &[(u32, Option<&str>)] = &[
        (4, None), (2, Some("application/json")), (2, Some("application/graphql-response+json")),
        (1, Some("*/*")), (1, Some("text/html, application/json;q=0.9")),
    ];
    pub const GRAPHQL_CONTENT_TYPES: &[(u32, &str)] = &[
        (76, "application/json"), (1, "application/json; charset=utf-8"), (1, "APPLICATION/JSON"),
        (1, "text/plain"), (1, "application/graphql"),
    ];
    pub const GET_JUNK: &[&str] = &["&variables=%7B", "&query=%7B", "&%FF=%FF", "&variables=[1]"];
    pub const METHODS: &[(u32, &str)] = &[
        (3, "GET"), (6, "POST"), (3, "PUT"), (3, "DELETE"), (3, "PATCH"), (3, "OPTIONS"),
        (3, "HEAD"), (1, "FOO"), (1, "PROPFIND"), (1, "X-GRAPHQL"),
    ];
    pub const PATHS: &[&str] = &[
        "/graphql", "/graphql?query=%7Bviewer%7Brole%7D%7D", "/graphql?query=",
        "/graphql?query=%ZZ",
        "/graphql?query=mutation%7BcreateWorkspace(slug:%22g%22,name:%22g%22)%7Bslug%7D%7D",
        "/v1/events", "/v1/events?workspace=fuzz", "/v1/events?workspace=",
        "/v1/events?workspace=%FF", "/v1/events?workspace=nope",
        "/v1/events?workspace=fuzz&workspace=x", "/health", "/assets/graphiql/graphiql.min.css",
        "/assets/graphiql/..%2F..%2FCargo.toml", "/assets/graphiql/nope.js", "/", "/nope",
        "//graphql", "/graphql/",
    ];
    pub const CONTENT_TYPES: &[(u32, Option<&[u8]>)] = &[
        (1, None), (2, Some(b"application/json")), (1, Some(b"application/json; charset=utf-8")),
        (2, Some(b"application/x-ndjson")), (1, Some(b"text/plain")),
        (1, Some(b"multipart/form-data; boundary=x")), (1, Some(b"application/json;;;")),
        (1, Some(b"\x80\xffweird")), (1, Some(b"application/graphql")),
    ];
    pub const REQUEST_IDS: &[(u32, Option<&[u8]>)] =
        &[(16, None), (1, Some(b"abc-123")), (1, Some(b"")), (1, Some(b"\xff")), (1, Some(&[b'r'; 500]))];
    pub const EVENTS_PATHS: &[&str] = &[
        "/v1/events", "/v1/events?workspace=nope", "/v1/events?workspace=",
        "/v1/events?workspace=%FF%FE", "/v1/events?workspace=fuzz&x=1",
    ];
    pub const NDJSON_CONTENT_TYPES: &[(u32, Option<&str>)] = &[
        (54, Some("application/x-ndjson")), (1, Some("application/ndjson")),
        (1, Some("application/jsonl")), (1, Some("application/x-ndjson; charset=utf-8")),
        (1, Some("application/json")), (1, Some("text/plain")), (1, None),
    ];
    /// One valid event of each sort; `{n}` is a small number and `{org}` one below 3.
    pub const VALID_EVENTS: &[&str] = &[
        r#"{"kind": "PAGE_VIEW", "contactId": "p{n}", "organizationId": "org-{org}", "assetId": "lp", "channel": "Email"}"#,
        r#"{"kind": "CLICK", "anonymousId": "anon-{n}", "campaignId": "camp-1", "channel": "social"}"#,
        r#"{"kind": "ATTENDANCE", "contactId": "p{n}", "assetId": "web", "value": 1200}"#,
        r#"{"kind": "SURVEY_RESPONSE", "contactId": "p{n}", "value": 9, "properties": {"survey": "s1"}}"#,
        r#"{"kind": "STAGE_CHANGE", "contactId": "p{n}", "properties": {"to": "LEAD", "from": "VISITOR"}}"#,
        r#"{"kind": "REVENUE", "contactId": "p{n}", "value": 1000.5, "properties": {"currency": "EUR", "deal": "d-1"}}"#,
        r#"{"kind": "SHARE", "contactId": "p{n}", "properties": {"recipient": "someone@org-1.example"}}"#,
        r#"{"kind": "IMPRESSION", "organizationId": "org-{org}", "campaignId": "camp-1"}"#,
    ];
    pub const EVENT_FIELDS: &[&str] = &[
        "messageId", "kind", "occurredAt", "contactId", "anonymousId", "organizationId",
        "campaignId", "assetId", "channel", "value", "properties", "unknownField",
    ];
    pub const WRONG_KINDS: &[&str] = &["page_view", "PAGE_VIEW ", "", "UNKNOWN", "Page_View", "PAGE_VIEW\u{0}"];
    /// Odd event field values, as JSON.
    pub const ODD_VALUES: &[&str] = &[
        "-1", "0", "11", "10.5", "1e308", "-1e308", "18446744073709551615", "-9223372036854775808",
        "5e-324", r#""12""#, "null",
    ];
    pub const ODD_PROPERTIES: &[&str] = &[
        r#"{"to": 123}"#, r#"{"to": "lead"}"#, r#"{"to": ""}"#, r#"{"currency": "XXXX", "deal": "d"}"#,
        r#"{"currency": "eur"}"#, r#"{"survey": null}"#, r#"{"recipient": ["a"]}"#, "[]", r#""str""#,
        r#"{"text": "a\u0000b"}"#, r#"{"to": "OQL", "from": "CUSTOMER", "referred": "p1", "text": "ü𝔘💥"}"#,
    ];
    pub const ODD_STRINGS: &[&str] = &[
        r#""""#, r#"" padded""#, r#""padded ""#, r#""a\u0000b""#, r#""\u007f""#, r#""ü""#,
        r#""\u200b""#, r#""a/b""#, "123", r#""EMAIL""#,
    ];
    pub const BLANK_LINES: &[&str] = &["", " ", "\t", "\r", " \r", "\u{c}"];
    pub const INVALID_UTF8: &[&[u8]] = &[b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"];
    pub const NOT_EVENTS: &[&str] = &["[]", "null", "1", "\"x\"", "{}", "true", "[{\"messageId\":\"a\"}]"];
    /// Hand-made documents: (name, document).
    pub const FIXED_DOCUMENTS: &[(&str, &str)] = &[
        ("fragment cycle", "query { ...A } fragment A on Query { ...B viewer { role } }
            fragment B on Query { ...A }"),
        ("huge page sizes", r#"{ events(workspace: "fuzz", first: 2147483647) { nodes { messageId } }
            hourglass(workspace: "fuzz", shortListSize: 2147483647) { bottom { organizationCount } } }"#),
        ("script bombs", r#"{ a: previewKpiScript(workspace: "fuzz", source: "loop {}") { errors { code } }
            b: previewKpiScript(workspace: "fuzz", source: "fn f(n) { f(n + 1) } f(0)") { errors { code } }
            c: previewKpiScript(workspace: "fuzz", source: "let s = \"ab\"; loop { s += s; }") { errors { code } }
            d: previewKpiScript(workspace: "fuzz", source: "let a = []; loop { a.push(a.len()); }") { errors { code } } }"#),
        ("NUL in a workspace slug", r#"{ workspace(slug: "a\u0000b") { slug } }"#),
        ("NUL in a name", r#"mutation {
            createOrganization(workspace: "fuzz", input: {id: "nul-org", name: "a\u0000b"}) { id } }"#),
        ("NUL in a filter", r#"{ kpis(workspace: "fuzz", filter: {channel: "a\u0000b"}) { clicks } }"#),
        ("NUL in an event property", r#"mutation { ingestEvents(workspace: "fuzz", events: [{messageId: "gql-nul",
            kind: QUESTION, occurredAt: "2026-11-01T10:00:00Z", contactId: "p1", properties: {text: "a\u0000b"}}])
            { accepted rejected { code } } }"#),
        ("spend near f64::MAX, recorded", r#"mutation { w: createWorkspace(slug: "fuzz-spend", name: "Spend") { slug }
            c: createCampaign(workspace: "fuzz-spend", input: {id: "c", name: "C", goal: FIND}) { id }
            a: recordSpend(workspace: "fuzz-spend", campaign: "c", channel: "a", day: "2026-11-01", amount: 1e308) { amount }
            b: recordSpend(workspace: "fuzz-spend", campaign: "c", channel: "b", day: "2026-11-01", amount: 1e308) { amount } }"#),
        ("spend near f64::MAX, reported", r#"{ kpis(workspace: "fuzz-spend") { clicks spend }
            hourglass(workspace: "fuzz-spend") { top { spend } } }"#),
        ("non-finite floats", r#"mutation {
            recordSpend(workspace: "fuzz", campaign: "camp-1", channel: "email", day: "2026-11-01", amount: 1e309) { amount }
            updateWorkspace(slug: "fuzz", input: {fullStayThreshold: 1e309}) { fullStayThreshold } }"#),
    ];
}

// =================================================================================
// Random values

/// A GraphQL or JSON string literal (JSON escapes are valid GraphQL escapes).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Base64url without padding, as `OpaqueCursor` encodes.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn nested(open: &str, close: &str, middle: &str, depth: usize) -> String {
    format!("{}{middle}{}", open.repeat(depth), close.repeat(depth))
}

fn graphql_body(document: &str, variables: &Value, operation_name: Option<&str>) -> Vec<u8> {
    let mut body = json!({ "query": document, "variables": variables });
    if let Some(name) = operation_name {
        body["operationName"] = json!(name);
    }
    body.to_string().into_bytes()
}

/// Makes the `i`th request of a round.
type MakeRequest = fn(&mut Gen, usize) -> Request;

struct Gen {
    rng: StdRng,
    /// The app's ADMIN key.
    key: String,
    /// False for a document meant to be valid (so that it reaches the resolvers),
    /// true for one with deliberate mistakes sprinkled in.
    noisy: bool,
    var_defs: Vec<String>,
    variables: Map<String, Value>,
    fragments: Vec<String>,
    counter: usize,
    now: DateTime<Utc>,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A deliberate mistake, with probability `p` in a noisy document, never in a
    /// clean one.
    fn oops(&mut self, p: f64) -> bool {
        self.noisy && self.rng.random_bool(p)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items.choose(&mut self.rng).unwrap().clone()
    }

    fn weighted<T: Clone>(&mut self, items: &[(u32, T)]) -> T {
        let (_, item) = items.choose_weighted(&mut self.rng, |i| i.0).unwrap();
        item.clone()
    }

    /// One of `texts`, parsed as JSON.
    fn pick_json(&mut self, texts: &[&str]) -> Value {
        serde_json::from_str(self.pick(texts)).unwrap()
    }

    fn fresh(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    /// Up to three items made by `item`, comma-separated.
    fn items(&mut self, mut item: impl FnMut(&mut Self) -> String) -> String {
        let n = self.rng.random_range(0..4);
        (0..n).map(|_| item(self)).collect::<Vec<_>>().join(", ")
    }

    fn string(&mut self) -> String {
        match self.rng.random_range(0..12) {
            0..=3 => WORKSPACE.into(),
            4 => String::new(),
            5 => (0..self.rng.random_range(1..24))
                .map(|_| char::from(self.rng.random_range(b'!'..=b'~')))
                .collect(),
            6 => "x".repeat(self.rng.random_range(150..400)),
            7 => "y".repeat(if self.chance(0.15) { 70_000 } else { 3_000 }),
            8 => (0..self.rng.random_range(1..12))
                .map(|_| char::from_u32(self.rng.random_range(0..0x11_0000)))
                .map(|c| c.unwrap_or('\u{FFFD}'))
                .collect(),
            _ => self.pick(STRINGS).into(),
        }
    }

    /// An RFC 3339 time near now, or (half the time in noisy documents) an odd one.
    fn date(&mut self) -> String {
        if self.noisy && self.chance(0.5) {
            self.pick(DATES).into()
        } else if self.chance(0.1) {
            self.pick(EXTREME_DATES).into()
        } else {
            let back = self.rng.random_range(-3 * 86_400..90 * 86_400);
            (self.now - chrono::Duration::seconds(back)).to_rfc3339()
        }
    }

    fn naive_date(&mut self) -> String {
        let days = if self.noisy { ODD_DAYS } else { DAYS };
        self.pick(days).into()
    }

    /// The arguments or input fields to set: the required ones (but for a mistake,
    /// with probability `p.0`) and each optional one with probability `p.1`.
    fn chosen<'a>(&mut self, values: &'a Inputs, p: (f64, f64)) -> Vec<&'a InputValueDefinition> {
        let mut keep = |v: &InputValueDefinition| {
            let required = required(v);
            (required && !self.oops(p.0)) || (!required && self.chance(p.1))
        };
        values.iter().map(|v| &v.node).filter(|v| keep(v)).collect()
    }

    // ---- GraphQL literals -------------------------------------------------------

    fn literal(&mut self, ty: &Type, depth: usize) -> String {
        if self.oops(0.06) {
            return self.pick(WRONG_LITERALS).into();
        }
        if (ty.nullable && self.chance(0.03)) || (!ty.nullable && self.oops(0.02)) {
            return "null".into();
        }
        match &ty.base {
            // A single value where a list is expected is coerced.
            BaseType::List(l) if depth > 6 || self.chance(0.15) => self.literal(l, depth + 1),
            BaseType::List(l) => format!("[{}]", self.items(|g| g.literal(l, depth + 1))),
            BaseType::Named(name) => self.named_literal(name, depth),
        }
    }

    fn named_literal(&mut self, name: &str, depth: usize) -> String {
        match name {
            "Int" if self.oops(0.1) => self.pick(BAD_INTS).into(),
            "Int" => self.pick(INTS).into(),
            "Float" if self.oops(0.1) => self.pick(BAD_FLOATS).into(),
            "Float" if self.chance(0.3) => format!("{:?}", self.rng.random_range(-1e6..1e6)),
            "Float" => self.pick(FLOATS).into(),
            "Boolean" => self.rng.random_bool(0.5).to_string(),
            "ID" if self.chance(0.15) => self.pick(INTS).into(),
            "String" | "ID" => {
                let s = self.string();
                let block = self.chance(0.05) && !s.contains(r#"""""#) && !s.contains('\\');
                if block {
                    format!(r#""""{s}""""#)
                } else {
                    quote(&s)
                }
            }
            "DateTime" => quote(&self.date()),
            "NaiveDate" => quote(&self.naive_date()),
            "JSON" => self.json_literal(depth),
            _ => match TYPES.0.get(name) {
                Some(TypeKind::Enum(_)) if self.oops(0.1) => self.pick(WRONG_ENUM_VALUES).into(),
                Some(TypeKind::Enum(_)) => self.pick(&TYPES.enum_values(name)).into(),
                Some(TypeKind::InputObject(o)) => self.object_literal(&o.fields, depth + 1),
                _ => self.pick(WRONG_LITERALS).into(),
            },
        }
    }

    fn object_literal(&mut self, fields: &Inputs, depth: usize) -> String {
        let mut parts = Vec::new();
        for field in self.chosen(fields, (0.07, 0.45)) {
            let value = self.input_literal(field, depth);
            parts.push(format!("{}: {value}", field.name.node));
        }
        if self.oops(0.04) {
            parts.push("zzzUnknown: 1".into());
        }
        if self.oops(0.03) && !parts.is_empty() {
            parts.push(parts[0].clone());
        }
        parts.shuffle(&mut self.rng);
        format!("{{{}}}", parts.join(", "))
    }

    /// A literal for an argument or input field: often an id the seed data holds, or
    /// a cursor as the server makes them (base64url of the JSON key) but never gave out.
    fn input_literal(&mut self, field: &InputValueDefinition, depth: usize) -> String {
        let name = field.name.node.as_str();
        let known = KNOWN_IDS.iter().find(|(names, _)| names.contains(&name));
        if let Some((_, ids)) = known
            && matches!(named(&field.ty.node), "ID" | "String")
            && self.chance(0.6)
        {
            return quote(self.pick(ids));
        }
        if name == "after" && self.chance(0.6) {
            return quote(&base64url(self.pick(CURSOR_KEYS).as_bytes()));
        }
        self.literal(&field.ty.node, depth)
    }

    fn json_literal(&mut self, depth: usize) -> String {
        match self.rng.random_range(0..8) {
            0 => "null".into(),
            1 => self.rng.random_bool(0.5).to_string(),
            2 => self.pick(INTS).into(),
            3 => self.pick(FLOATS).into(),
            4 => quote(&self.string()),
            5 if depth < 5 => format!("[{}]", self.items(|g| g.json_literal(depth + 1))),
            _ if depth < 5 => {
                let n = self.rng.random_range(0..4);
                let names: Vec<&str> = JSON_NAMES
                    .choose_multiple(&mut self.rng, n)
                    .copied()
                    .collect();
                let field = |g: &mut Self, name| format!("{name}: {}", g.json_literal(depth + 1));
                let fields: Vec<String> = names.into_iter().map(|name| field(self, name)).collect();
                format!("{{{}}}", fields.join(", "))
            }
            _ => "1".into(),
        }
    }

    // ---- JSON values (variables, NDJSON) ----------------------------------------

    fn random_json(&mut self, depth: usize) -> Value {
        let n = self.rng.random_range(0..4);
        match self.rng.random_range(0..9) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.random_bool(0.5)),
            2 => self.pick_json(EDGE_NUMBERS),
            3 => json!(self.rng.random::<i32>()),
            4 | 5 => Value::String(self.string()),
            6 if depth < 4 => (0..n).map(|_| self.random_json(depth + 1)).collect(),
            _ if depth < 4 => {
                let entry = |g: &mut Self| (g.pick(KEYS).to_owned(), g.random_json(depth + 1));
                Value::Object((0..n).map(|_| entry(self)).collect())
            }
            _ => json!("leaf"),
        }
    }

    /// A variable value for `ty`: of the right type in clean documents.
    fn json_value(&mut self, ty: &Type, depth: usize) -> Value {
        if self.oops(0.07) {
            return self.random_json(depth);
        }
        let name = match &ty.base {
            BaseType::List(l) if depth > 6 || self.chance(0.15) => {
                return self.json_value(l, depth + 1);
            }
            BaseType::List(l) => {
                let n = self.rng.random_range(0..4);
                return (0..n).map(|_| self.json_value(l, depth + 1)).collect();
            }
            BaseType::Named(name) => name.as_str(),
        };
        match name {
            "Int" if self.oops(0.2) => self.pick_json(BAD_INTS),
            "Int" => self.pick_json(INTS),
            "Float" => self.pick_json(FLOATS),
            "Boolean" => Value::Bool(self.rng.random_bool(0.5)),
            "DateTime" => Value::String(self.date()),
            "NaiveDate" => Value::String(self.naive_date()),
            "JSON" => self.random_json(depth),
            "String" | "ID" => Value::String(self.string()),
            _ => match TYPES.0.get(name) {
                Some(TypeKind::Enum(_)) => json!(self.pick(&TYPES.enum_values(name))),
                Some(TypeKind::InputObject(o)) => {
                    let mut map = Map::new();
                    for field in self.chosen(&o.fields, (0.07, 0.45)) {
                        let value = self.json_value(&field.ty.node, depth + 1);
                        map.insert(field.name.node.to_string(), value);
                    }
                    if self.oops(0.04) {
                        map.insert("zzzUnknown".into(), json!(1));
                    }
                    Value::Object(map)
                }
                _ => self.random_json(depth),
            },
        }
    }

    // ---- documents --------------------------------------------------------------

    fn variable(&mut self, ty: &Type) -> String {
        let name = format!("v{}", self.fresh());
        let mut definition = format!("${name}: {ty}");
        if self.oops(0.1) {
            definition = format!("${name}: {}", self.pick(WRONG_VARIABLE_TYPES));
        }
        if self.oops(0.05) {
            definition.push_str(&format!(" = {}", self.literal(ty, 0)));
        }
        self.var_defs.push(definition);
        if !self.oops(0.08) {
            let value = self.json_value(ty, 0);
            self.variables.insert(name.clone(), value);
        }
        format!("${name}")
    }

    fn arguments(&mut self, args: &Inputs) -> String {
        let mut parts = Vec::new();
        for arg in self.chosen(args, (0.05, 0.4)) {
            let name = arg.name.node.as_str();
            let value = if matches!(name, "workspace" | "slug") && self.chance(0.85) {
                quote(WORKSPACE)
            } else if self.chance(0.15) {
                self.variable(&arg.ty.node)
            } else {
                self.input_literal(arg, 0)
            };
            parts.push(format!("{name}: {value}"));
        }
        if self.oops(0.04) {
            parts.push("bogusArg: 1".into());
        }
        match parts.is_empty() {
            true => String::new(),
            false => format!("({})", parts.join(", ")),
        }
    }

    fn directive(&mut self) -> String {
        if self.oops(0.4) {
            return self.pick(WRONG_DIRECTIVES).into();
        }
        match self.rng.random_range(0..3) {
            0 => " @skip(if: false)".into(),
            1 => " @include(if: true)".into(),
            _ => format!(
                " @include(if: {})",
                self.variable(&Type::new("Boolean!").unwrap())
            ),
        }
    }

    fn selection(&mut self, type_name: &str, depth: usize, max_depth: usize) -> String {
        let fields = TYPES.fields(type_name);
        if fields.is_empty() {
            return "__typename".into();
        }
        let is_leaf = |f: &&FieldDefinition| TYPES.is_leaf(&f.ty.node);
        let leaves: Vec<_> = fields.iter().copied().filter(is_leaf).collect();
        let mut used = BTreeSet::new();
        let mut parts = Vec::new();
        for _ in 0..self.rng.random_range(1..=3.min(fields.len())) {
            if self.chance(0.03) {
                parts.push("__typename".into());
                continue;
            }
            if self.oops(0.015) {
                parts.push("notAField".into());
                continue;
            }
            if depth == 0 && type_name == "Query" && self.chance(0.01) {
                parts.push("__schema { types { name fields { name } } }".into());
                continue;
            }
            let mut field = self.pick(&fields);
            let leaf_only = depth > max_depth + 3 || (depth >= max_depth && self.chance(0.7));
            if leaf_only && !is_leaf(&field) && !leaves.is_empty() {
                field = self.pick(&leaves);
            }
            let mut text = String::new();
            if self.chance(0.1) {
                text = format!("a{}: ", self.fresh());
            } else if !used.insert(field.name.node.as_str()) && !self.oops(0.5) {
                // The same field twice with other arguments cannot be merged.
                continue;
            }
            text.push_str(&field.name.node);
            text.push_str(&self.arguments(&field.arguments));
            if self.chance(0.04) {
                text.push_str(&self.directive());
            }
            let leaf = is_leaf(&field);
            if leaf && self.oops(0.015) {
                text.push_str(" { value }");
            } else if !leaf && !self.oops(0.015) {
                let inner = self.selection(named(&field.ty.node), depth + 1, max_depth);
                text.push_str(&format!(" {{ {inner} }}"));
            }
            if self.chance(0.07) {
                let on = if self.oops(0.1) { "Asset" } else { type_name };
                text = format!("... on {on} {{ {text} }}");
            } else if self.chance(0.05) {
                let name = format!("F{}", self.fresh());
                let on = if self.oops(0.05) { "Rate" } else { type_name };
                self.fragments
                    .push(format!("fragment {name} on {on} {{ {text} }}"));
                text = format!("...{name}");
            }
            parts.push(text);
        }
        if parts.is_empty() {
            parts.push("__typename".into());
        }
        parts.join(" ")
    }

    /// A document, its variables and its operation name; clean or noisy at random.
    fn document(&mut self) -> (String, Value, Option<String>) {
        self.noisy = self.chance(0.5);
        let operations = if self.chance(0.08) { 2 } else { 1 };
        let mut texts = Vec::new();
        let mut names = Vec::new();
        for i in 0..operations {
            self.var_defs.clear();
            let root = match self.rng.random_range(0..100) {
                0..3 if self.noisy && TYPES.0.contains_key("Subscription") => "Subscription",
                0..65 => "Query",
                _ => "Mutation",
            };
            let max_depth = match self.chance(0.1) {
                true => self.rng.random_range(6..16),
                false => self.rng.random_range(1..4),
            };
            let selection = self.selection(root, 0, max_depth);
            let name = (operations > 1 || self.chance(0.3)).then(|| format!("Op{i}"));
            let vars = match self.var_defs.is_empty() {
                true => String::new(),
                false => format!("({})", self.var_defs.join(", ")),
            };
            if name.is_none() && vars.is_empty() && root == "Query" && self.chance(0.5) {
                texts.push(format!("{{ {selection} }}"));
            } else {
                let (root, name) = (root.to_lowercase(), name.clone().unwrap_or_default());
                texts.push(format!("{root} {name}{vars} {{ {selection} }}"));
            }
            names.extend(name);
        }
        texts.append(&mut self.fragments);
        let mut document = texts.join("\n");
        if self.oops(0.12) {
            document = self.corrupt(&document);
        }
        let operation_name = if names.len() > 1 && self.oops(0.5) {
            self.chance(0.5).then(|| "Missing".to_owned())
        } else if names.len() > 1 {
            Some(self.pick(&names))
        } else if self.oops(0.1) {
            Some("Wrong".into())
        } else {
            names.pop()
        };
        let variables = Value::Object(std::mem::take(&mut self.variables));
        (document, variables, operation_name)
    }

    fn corrupt(&mut self, document: &str) -> String {
        let at = self.rng.random_range(0..=document.len());
        let at = (at..=document.len()).find(|i| document.is_char_boundary(*i));
        let (head, tail) = document.split_at(at.unwrap());
        match self.rng.random_range(0..4) {
            0 => head.to_owned(),
            1 => format!("{head}{}{tail}", self.pick(JUNK)),
            2 => format!("{document}\n{document}"),
            _ => format!("{tail}{head}"),
        }
    }

    // ---- requests -----------------------------------------------------------------

    /// The Authorization header: the app's key most of the time.
    fn authorization(&mut self) -> Option<Vec<u8>> {
        let key = self.key.clone();
        let mut changed = key.clone();
        changed.pop();
        changed.push(if key.ends_with('x') { 'y' } else { 'x' });
        let odd: Vec<Vec<u8>> = vec![
            b"Bearer".to_vec(),
            b"Bearer ".to_vec(),
            b"Bearer hg_x_y".to_vec(),
            format!("Bearer {changed}").into_bytes(),
            b"Basic dXNlcjpwYXNz".to_vec(),
            format!("bearer {key}").into_bytes(),
            format!("Bearer  {key} ").into_bytes(),
            format!("Bearer {}", "k".repeat(10_000)).into_bytes(),
            b"Bearer \xff\xfe\x80".to_vec(),
            format!("Bearer {key}, Bearer {key}").into_bytes(),
        ];
        if self.chance(0.88) {
            Some(format!("Bearer {key}").into_bytes())
        } else {
            self.chance(0.8).then(|| self.pick(&odd))
        }
    }

    fn garbage(&mut self, max: usize) -> Vec<u8> {
        let len = self.rng.random_range(0..max);
        (0..len).map(|_| self.rng.random()).collect()
    }

    /// `request` with the ADMIN key.
    fn admin(&self, request: Request) -> Request {
        request.header("authorization", Some(format!("Bearer {}", self.key)))
    }

    /// A generated document POSTed as JSON.
    fn posted_document(&mut self, _: usize) -> Request {
        let (document, variables, operation_name) = self.document();
        let body = graphql_body(&document, &variables, operation_name.as_deref());
        Request::new(Method::POST, "/graphql", body)
            .header("content-type", Some(self.weighted(GRAPHQL_CONTENT_TYPES)))
            .header("authorization", self.authorization())
            .header("accept", self.weighted(ACCEPTS))
    }

    /// A generated document over GET.
    fn get_document(&mut self, _: usize) -> Request {
        let (document, variables, operation_name) = self.document();
        let mut url = reqwest::Url::parse("http://server/graphql").unwrap();
        url.query_pairs_mut().append_pair("query", &document);
        if self.chance(0.7) {
            url.query_pairs_mut()
                .append_pair("variables", &variables.to_string());
        }
        if let Some(name) = operation_name {
            url.query_pairs_mut().append_pair("operationName", &name);
        }
        let junk = if self.chance(0.1) {
            self.pick(GET_JUNK)
        } else {
            ""
        };
        let path = format!("/graphql?{}{junk}", url.query().unwrap());
        if path.len() > 60_000 {
            // Longer than the client's URI limit (64 KiB): another one.
            return self.get_document(0);
        }
        Request::new(Method::GET, path, [])
            .header("authorization", self.authorization())
            .header("accept", self.weighted(ACCEPTS))
    }

    /// An odd envelope around a valid or generated document.
    fn envelope(&mut self, _: usize) -> Request {
        let (document, variables, _) = self.document();
        let body = match self.rng.random_range(0..12) {
            0 => json!({ "query": document, "variables": self.pick(&["str", "", "null"]) }),
            1 => json!({ "query": document, "variables": [1, 2] }),
            2 => json!({ "query": 123 }),
            3 => json!({ "query": null }),
            4 => json!({}),
            5 => json!([]),
            6 => (0..self.rng.random_range(1..=12))
                .map(|_| self.document())
                .map(|(query, variables, name)| json!({ "query": query, "variables": variables, "operationName": name }))
                .collect(),
            7 => json!({ "query": document, "variables": variables, "operationName": 5 }),
            8 => json!({ "query": document, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "abc" } } }),
            9 => json!({ "query": document, "variables": variables, "extra": self.random_json(0) }),
            10 => json!([[{ "query": document }]]),
            _ => json!({ "query": [document] }),
        };
        let request = Request::new(Method::POST, "/graphql", body.to_string());
        self.admin(request)
            .header("content-type", Some("application/json"))
    }

    /// Byte-level garbage, each sort in turn.
    fn garbage_body(&mut self, i: usize) -> Request {
        let valid = graphql_body("{ viewer { role } }", &json!({}), None);
        let body = match i % 9 {
            0 => self.garbage(2_000),
            1 => self.random_json(0).to_string().into_bytes(),
            2 => valid[..self.rng.random_range(0..valid.len())].to_vec(),
            3 => b"{\"query\":\"{ viewer { role \xff\xfe } }\"}".to_vec(),
            4 => [&b"\xef\xbb\xbf"[..], &valid].concat(),
            5 => br#"{"query":"{ viewer { role } }","query":"{ workspaces { slug } }"}"#.to_vec(),
            6 => nested("[", "]", "", 100_000).into_bytes(),
            7 => format!(r#"{{"query":"{}"}}"#, "a".repeat(1_199_990)).into_bytes(),
            _ => {
                let mut body = valid.clone();
                let at = self.rng.random_range(0..body.len());
                body[at] = self.rng.random();
                body
            }
        };
        let request = Request::new(Method::POST, "/graphql", body);
        self.admin(request)
            .header("content-type", Some("application/json"))
    }

    /// A method, path and content type at random.
    fn method_mix(&mut self, _: usize) -> Request {
        let method = Method::from_bytes(self.weighted(METHODS).as_bytes()).unwrap();
        let body = match self.rng.random_range(0..4) {
            0 => Vec::new(),
            1 => graphql_body("{ viewer { role } }", &json!({}), None),
            2 => self.ndjson_line("mix").0,
            _ => self.garbage(300),
        };
        Request::new(method, self.pick(PATHS), body)
            .header("authorization", self.authorization())
            .header("accept", self.weighted(ACCEPTS))
            .header("content-type", self.weighted(CONTENT_TYPES))
            .header("x-request-id", self.weighted(REQUEST_IDS))
    }

    // ---- NDJSON -------------------------------------------------------------------

    fn valid_event(&mut self, id: &str) -> Value {
        let back = chrono::Duration::seconds(self.rng.random_range(60..60 * 86_400));
        let n = self.rng.random_range(0..20);
        let event = self.pick(VALID_EVENTS).replace("{n}", &n.to_string());
        let event = event.replace("{org}", &(n % 3).to_string());
        let mut event: Map<String, Value> = serde_json::from_str(&event).unwrap();
        event.insert("messageId".into(), json!(id));
        event.insert("occurredAt".into(), json!((self.now - back).to_rfc3339()));
        Value::Object(event)
    }

    fn edge_value(&mut self, field: &str) -> Value {
        let now = self.now;
        let hours = |h| json!((now + chrono::Duration::hours(h)).to_rfc3339());
        match field {
            "kind" if self.chance(0.5) => json!(self.pick(&TYPES.enum_values("EventKind"))),
            "kind" => json!(self.pick(WRONG_KINDS)),
            "occurredAt" => match self.rng.random_range(0..4) {
                0 => hours(25),
                1 => hours(23),
                2 => json!(1_700_000_000),
                _ => json!(self.pick(DATES)),
            },
            "value" => self.pick_json(ODD_VALUES),
            "properties" => match self.rng.random_range(0..13) {
                0 => json!({"x": "y".repeat(40_000)}),
                1 => serde_json::from_str(&nested("{\"a\":", "}", "1", 200)).unwrap_or(Value::Null),
                _ => self.pick_json(ODD_PROPERTIES),
            },
            _ => match self.rng.random_range(0..12) {
                0 => json!("x".repeat(200)),
                1 => json!("x".repeat(201)),
                _ => self.pick_json(ODD_STRINGS),
            },
        }
    }

    /// One NDJSON line (never holding `\n`) and whether it is an untouched valid event.
    fn ndjson_line(&mut self, id: &str) -> (Vec<u8>, bool) {
        let mut event = self.valid_event(id);
        let valid = event.to_string();
        let line = match self.rng.random_range(0..100) {
            0..=44 => return (valid.into_bytes(), true),
            45..=74 => {
                for _ in 0..self.rng.random_range(1..=3) {
                    let field = self.pick(EVENT_FIELDS);
                    let value = match self.rng.random_range(0..4) {
                        0 => None,
                        1 => Some(self.random_json(2)),
                        2 => Some(self.edge_value(field)),
                        _ => Some(Value::String(self.string())),
                    };
                    event.as_object_mut().unwrap().remove(field);
                    if let Some(value) = value {
                        event[field] = value;
                    }
                }
                event.to_string().into()
            }
            75..=79 => self.pick(BLANK_LINES).into(),
            80..=83 => self
                .garbage(200)
                .into_iter()
                .map(|b| if b == b'\n' { b' ' } else { b })
                .collect(),
            84 | 85 if self.chance(0.5) => {
                event["properties"] = json!({"pad": "p".repeat(40_000)});
                event.to_string().into()
            }
            84 | 85 => vec![b'x'; 200_000],
            86..=88 => {
                // Right after the opening quote of the first value (keys are sorted,
                // so that is a string: anonymousId, assetId, campaignId, … or kind).
                let mut bytes = valid.into_bytes();
                let at = bytes.iter().position(|b| *b == b':').map_or(1, |i| i + 2);
                bytes.splice(at..at, self.pick(INVALID_UTF8).iter().copied());
                bytes
            }
            89..=92 if self.chance(0.125) => nested("[", "]", "", 5_000).into(),
            89..=92 => self.pick(NOT_EVENTS).into(),
            93..=95 => format!("{{\"messageId\":\"dup-{id}\",{}", &valid[1..]).into(),
            96 | 97 => format!("\u{feff}{valid}").into(),
            _ if self.chance(0.5) => format!("{valid}{valid}").into(),
            _ => format!("{valid} x").into(),
        };
        (line, false)
    }

    /// An NDJSON body, mostly to the fuzzed workspace with the ADMIN key.
    fn ndjson_request(&mut self, case: usize) -> Request {
        let lines = match self.rng.random_range(0..100) {
            0..=2 => 501, // more events than one request may carry: refused whole
            3 | 4 => 0,
            _ => self.rng.random_range(1..=30),
        };
        let (mut body, mut must_accept) = (Vec::new(), Vec::new());
        for i in 0..lines {
            let id = format!("nd-{case}-{i}");
            let (line, valid) = match lines {
                501 => (self.valid_event(&id).to_string().into(), false),
                _ => self.ndjson_line(&id),
            };
            if valid {
                must_accept.push(i);
            }
            body.extend_from_slice(&line);
            if i + 1 < lines || self.chance(0.7) {
                body.extend_from_slice(if self.chance(0.2) { b"\r\n" } else { b"\n" });
            }
        }
        let content_type = self.weighted(NDJSON_CONTENT_TYPES);
        let mut request = if self.chance(0.88) {
            self.admin(Request::new(Method::POST, EVENTS, body))
        } else {
            Request::new(Method::POST, self.pick(EVENTS_PATHS), body)
                .header("authorization", self.authorization())
        };
        request.must_accept = must_accept;
        request.header("content-type", content_type)
    }
}

// =================================================================================
// Sending and checking

struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    /// For NDJSON: the lines (untouched valid events) that must not be rejected.
    must_accept: Vec<usize>,
}

impl Request {
    fn new(method: Method, path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: body.into(),
            must_accept: Vec::new(),
        }
    }

    /// Adds a header, unless `value` is `None` or no valid header value.
    fn header(mut self, name: &'static str, value: Option<impl AsRef<[u8]>>) -> Self {
        if let Some(Ok(value)) = value.map(|v| HeaderValue::from_bytes(v.as_ref())) {
            self.headers.append(name, value);
        }
        self
    }

    fn describe(&self) -> String {
        let (path, headers) = (self.path.as_bytes(), format!("{:?}", self.headers));
        format!(
            "{} {} {} body ({} bytes): {}",
            self.method,
            excerpt(path, 600),
            excerpt(headers.as_bytes(), 600),
            self.body.len(),
            excerpt(&self.body, 1500)
        )
    }
}

fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.chars().count() > max {
        true => format!("{}…", text.chars().take(max).collect::<String>()),
        false => text.into_owned(),
    }
}

fn check_code(code: Option<&str>, context: &Value) -> Result<(), String> {
    let code = code.ok_or_else(|| format!("an error without a code: {context}"))?;
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        return Err(format!("a malformed error code {code:?}: {context}"));
    }
    if code == "INTERNAL" || code == "TIMEOUT" {
        return Err(format!("{code}: {context}"));
    }
    Ok(())
}

fn check_graphql_response(response: &Value) -> Result<(), String> {
    let Some(object) = response.as_object() else {
        return Err(format!(
            "a GraphQL response that is not an object: {response}"
        ));
    };
    match object.get("errors").map(Value::as_array) {
        None if object.contains_key("data") => Ok(()),
        None => Err(format!("neither data nor errors: {response}")),
        Some(None) => Err(format!("`errors` is not a list: {response}")),
        Some(Some(errors)) if errors.is_empty() => Err(format!("empty `errors`: {response}")),
        Some(Some(errors)) => errors.iter().try_for_each(|error| {
            if !error["message"].is_string() {
                return Err(format!("an error without a message: {error}"));
            }
            check_code(error["extensions"]["code"].as_str(), error)
        }),
    }
}

/// Checks an NDJSON ingest answer to `request`, counting the rejection codes in `seen`.
fn check_ndjson(
    status: u16,
    answer: &Value,
    request: &Request,
    seen: &mut BTreeMap<String, usize>,
) -> Result<(), String> {
    if status != 200 {
        if !answer["error"]["message"].is_string() {
            return Err(format!("an error without a message: {answer}"));
        }
        return check_code(answer["error"]["code"].as_str(), answer);
    }
    let (Some(accepted), Some(duplicates), Some(rejected)) = (
        answer["accepted"].as_u64(),
        answer["duplicates"].as_u64(),
        answer["rejected"].as_array(),
    ) else {
        return Err(format!("not an ingest report: {answer}"));
    };
    let lines: Vec<usize> = request
        .body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| (!line.trim_ascii().is_empty()).then_some(i))
        .collect();
    let mut indexes = BTreeSet::new();
    for rejection in rejected {
        let index = rejection["index"].as_u64().map(|i| i as usize);
        let Some(index) = index.filter(|i| lines.contains(i) && indexes.insert(*i)) else {
            return Err(format!(
                "not the index of a distinct non-blank line: {rejection}"
            ));
        };
        let Some(code) = rejection["code"].as_str() else {
            return Err(format!("a rejection without a code: {rejection}"));
        };
        if !rejection["message"].is_string() {
            return Err(format!("a rejection without a message: {rejection}"));
        }
        if !rejection["messageId"].is_string() && !rejection["messageId"].is_null() {
            return Err(format!("a malformed messageId: {rejection}"));
        }
        *seen.entry(format!("rejected {code}")).or_default() += 1;
        if request.must_accept.contains(&index) {
            return Err(format!(
                "an untouched valid event was rejected: {rejection}"
            ));
        }
    }
    let counted = accepted + duplicates + rejected.len() as u64;
    if counted != lines.len() as u64 {
        let lines = lines.len();
        return Err(format!(
            "{lines} non-blank lines, but {counted} in the report: {answer}"
        ));
    }
    Ok(())
}

struct Fuzzer {
    app: TestApp,
    /// A client without default headers.
    http: reqwest::Client,
    seed: u64,
    failures: Vec<String>,
    requests: usize,
    /// Statuses, GraphQL error codes, answers with data and NDJSON rejection codes:
    /// how far the generated cases get (parsing, validation, resolvers).
    seen: BTreeMap<String, usize>,
}

impl Fuzzer {
    fn fail(&mut self, request: &Request, what: String) {
        let (seed, n) = (self.seed, self.requests);
        let what = excerpt(what.as_bytes(), 1500);
        let request = request.describe();
        self.failures.push(format!(
            "seed {seed} request #{n}: {what}\n    request: {request}"
        ));
    }

    /// Sends a request and checks the answer.
    async fn run(&mut self, request: Request) {
        self.requests += 1;
        let send = self
            .http
            .request(request.method.clone(), self.app.url(&request.path))
            .headers(request.headers.clone())
            .body(request.body.clone())
            .send();
        let response = match tokio::time::timeout(Duration::from_secs(30), send).await {
            Err(_) => return self.fail(&request, "no answer within 30 s".into()),
            // A body over the limit may be cut off while still uploading.
            Ok(Err(_)) if request.body.len() > 1_000_000 => return,
            Ok(Err(e)) => return self.fail(&request, format!("the connection failed: {e}")),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").cloned();
        let content_type = content_type
            .as_ref()
            .map_or("", |v| v.to_str().unwrap_or(""));
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let json = ["application/json", "application/graphql-response+json"]
            .iter()
            .any(|json| mime.eq_ignore_ascii_case(json));
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return self.fail(&request, format!("HTTP {status}; reading the body: {e}")),
        };
        *self.seen.entry(format!("HTTP {status}")).or_default() += 1;
        let fail = |what: &str| format!("HTTP {status} {content_type:?}: {what}");
        if status >= 500 {
            return self.fail(&request, fail(&excerpt(&body, 1000)));
        }
        let path = request.path.split('?').next().unwrap_or_default();
        let post = request.method == Method::POST;
        let json_promised = match path {
            "/graphql" => {
                post || (request.method == Method::GET && request.path.contains("query="))
            }
            "/v1/events" => post,
            _ => false,
        };
        if !json {
            if json_promised {
                self.fail(
                    &request,
                    fail(&format!("not JSON: {}", excerpt(&body, 500))),
                );
            }
            return;
        }
        let checked = match serde_json::from_slice::<Value>(&body) {
            Err(e) => Err(format!("labelled JSON but not JSON ({e})")),
            Ok(value) if path == "/graphql" => {
                let responses = match &value {
                    Value::Array(items) => items.iter().collect(),
                    _ => vec![&value],
                };
                for response in &responses {
                    let data = response.get("data").is_some_and(|d| !d.is_null());
                    *self.seen.entry("GraphQL data".into()).or_default() += usize::from(data);
                    for error in response["errors"].as_array().into_iter().flatten() {
                        let code = error["extensions"]["code"].as_str().unwrap_or("(none)");
                        *self.seen.entry(format!("GraphQL {code}")).or_default() += 1;
                    }
                }
                responses.into_iter().try_for_each(check_graphql_response)
            }
            Ok(value) if path == "/v1/events" => {
                check_ndjson(status, &value, &request, &mut self.seen)
            }
            Ok(_) => Ok(()),
        };
        if let Err(what) = checked {
            self.fail(&request, fail(&format!("{what}: {}", excerpt(&body, 500))));
        }
    }
}

// =================================================================================
// The cases

async fn seed_data(app: &TestApp) {
    app.create_workspace(WORKSPACE).await;
    app.graphql_ok(
        "mutation($ws: ID!) {
           lp: createAsset(workspace: $ws, input: {id: \"lp\", kind: LANDING_PAGE}) { id }
           web: createAsset(workspace: $ws, input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600, landingPage: \"lp\"}) { id }
           camp: createCampaign(workspace: $ws, input: {id: \"camp-1\", name: \"Camp\", goal: FIND}) { id }
           org: createOrganization(workspace: $ws, input: {id: \"org-1\", name: \"Org\", domain: \"org-1.example\"}) { id }
           kpi: createKpiScript(workspace: $ws, input: {key: \"hot_account\", name: \"Hot\", goal: FIND,
             source: \"count(events, \\\"ATTENDANCE\\\") * params.k\", params: [{name: \"k\", default: 2}]}) { key }
         }",
        json!({ "ws": WORKSPACE }),
    )
    .await;
    let kinds = [
        r#""kind": "PAGE_VIEW", "assetId": "lp""#,
        r#""kind": "REGISTRATION", "assetId": "web""#,
        r#""kind": "ATTENDANCE", "assetId": "web", "value": 3300"#,
        r#""kind": "STAGE_CHANGE", "properties": {"to": "LEAD"}"#,
        r#""kind": "QUESTION", "assetId": "web""#,
    ];
    let event = |i: usize| {
        let at = (Utc::now() - chrono::Duration::hours(i as i64 + 1)).to_rfc3339();
        let (kind, contact, organization) = (kinds[i % 5], i % 8, i % 3);
        format!(
            r#"{{"messageId": "seed-{i}", {kind}, "occurredAt": "{at}", "contactId": "p{contact}", "organizationId": "org-{organization}", "campaignId": "camp-1", "channel": "email"}}"#
        )
    };
    let body: String = (0..40).map(|i| event(i) + "\n").collect();
    let response = app.post_ndjson(WORKSPACE, body).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["accepted"], 40, "{report:#}");
}

/// Hand-made deep, wide and large documents: (name, document, variables).
fn special_documents() -> Vec<(&'static str, String, Value)> {
    let ws = "workspace: \"fuzz\"";
    let fragment = |i: usize| {
        format!(
            "fragment F{i} on Query {{ ...F{0} ...F{0} viewer {{ role }} }}\n",
            i - 1
        )
    };
    let fragments: String = (1..=20).map(fragment).collect();
    let aliases: String = (0..1000)
        .map(|i| format!("a{i}: viewer {{ role }} "))
        .collect();
    let variables: Vec<String> = (0..5000).map(|i| format!("$v{i}: Int")).collect();
    let params = nested("{a: ", "}", "1", 10_000);
    #[rustfmt::skip]
    let generated = [
        ("deep selection", format!("{{ {} }}", nested("a { ", "} ", "b", 5_000))),
        ("deep list literal", format!("{{ kpis({ws}, filter: {}) {{ clicks }} }}", nested("[", "]", "", 20_000))),
        ("deep object literal", format!("{{ previewKpiScript({ws}, source: \"1\", params: {params}) {{ aggregate {{ count }} }} }}")),
        ("deep inline fragments", format!("{{ {} }}", nested("... on Query { ", "} ", "viewer { role }", 5_000))),
        ("deep history", format!("{{ kpiScripts({ws}) {{ nodes {{ {} key {} }} }} }}", "history { ".repeat(40), "}".repeat(40))),
        ("1000 aliases", format!("{{ {aliases} }}")),
        ("10000 identical fields", format!("{{ {} }}", "kpiCatalog { key } ".repeat(10_000))),
        ("fragment bomb", format!("query {{ ...F20 }}\nfragment F0 on Query {{ viewer {{ role }} }}\n{fragments}")),
        ("5000 variables", format!("query({}) {{ viewer {{ role }} }}", variables.join(", "))),
        ("1000 directives", format!("{{ viewer {} {{ role }} }}", "@skip(if: false) ".repeat(1_000))),
        ("huge string", format!("{{ validateKpiScript(source: {}) {{ valid }} }}", quote(&"1+".repeat(400_000)))),
    ];
    let fixed = FIXED_DOCUMENTS
        .iter()
        .map(|(name, doc)| (*name, doc.to_string()));
    let all = generated.into_iter().chain(fixed);
    let mut cases: Vec<_> = all.map(|(name, doc)| (name, doc, json!({}))).collect();
    let deep_json = (0..100).fold(json!(1), |value, _| json!({ "a": value }));
    let document = "query($p: JSON) { previewKpiScript(workspace: \"fuzz\", source: \"params.a.a\", \
                    params: $p) { aggregate { count } errors { code } } }";
    cases.push((
        "deep JSON variable",
        document.into(),
        json!({ "p": deep_json }),
    ));
    cases
}

async fn fuzz_the_api(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let started = Instant::now();
    seed_data(&app).await;
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("fuzz seed for {backend:?}: {seed} (replay with FUZZ_SEED={seed})");
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        key: app.key.clone(),
        noisy: true,
        var_defs: Vec::new(),
        variables: Map::new(),
        fragments: Vec::new(),
        counter: 0,
        now: Utc::now(),
    };
    let mut f = Fuzzer {
        app,
        http: reqwest::Client::new(),
        seed,
        failures: Vec::new(),
        requests: 0,
        seen: BTreeMap::new(),
    };

    // Random cases, a few hundred requests per backend in all: (how many, what each
    // is). A round stops early once the soft budget is spent.
    let rounds: [(usize, MakeRequest); 6] = [
        (300, Gen::posted_document),
        (30, Gen::get_document),
        (30, Gen::envelope),
        (25, Gen::garbage_body),
        (40, Gen::method_mix),
        (80, Gen::ndjson_request),
    ];
    for (count, make) in rounds {
        for i in (0..count).take_while(|_| started.elapsed() < SOFT_BUDGET) {
            f.run(make(&mut g, i)).await;
        }
    }

    // Deep, wide and large documents.
    for (name, document, variables) in special_documents() {
        let before = Instant::now();
        let body = graphql_body(&document, &variables, None);
        let request = g.admin(Request::new(Method::POST, "/graphql", body));
        f.run(request.header("content-type", Some("application/json")))
            .await;
        if before.elapsed() > Duration::from_secs(5) {
            eprintln!("{backend:?}: the {name} case took {:?}", before.elapsed());
        }
    }

    // Hand-made NDJSON: a valid event next to one carrying U+0000, which the database
    // may not store; the valid one must be stored and the other rejected alone, never
    // the whole request failing.
    let event = |id: &str, kind: &str, properties: Value| {
        let at = Utc::now().to_rfc3339();
        let mut event = json!({ "messageId": format!("{id}-{seed}"), "kind": kind, "occurredAt": at, "contactId": "p1" });
        if !properties.is_null() {
            event["properties"] = properties;
        }
        event
    };
    let valid = event("nul-ok", "PAGE_VIEW", Value::Null);
    let nul_value = event("nul-value", "QUESTION", json!({"text": "a\u{0}b"}));
    let nul_key = event("nul-key", "PAGE_VIEW", json!({"a\u{0}": "x"}));
    let events = format!("{valid}\n{nul_value}\n{nul_key}\n");
    let cases = [
        (EVENTS, events, vec![0]),
        ("/v1/events?workspace=a%00b", format!("{valid}\n"), vec![]),
    ];
    for (path, body, must_accept) in cases {
        let mut request = g.admin(Request::new(Method::POST, path, body));
        request.must_accept = must_accept;
        f.run(request.header("content-type", Some("application/x-ndjson")))
            .await;
    }

    // Afterwards the server answers as usual.
    let app = &f.app;
    let data = app
        .graphql_ok(
            "query($ws: ID!) { workspace(slug: $ws) { slug } kpis(workspace: $ws) { pageViews attendances } viewer { role } }",
            json!({ "ws": WORKSPACE }),
        )
        .await;
    assert_eq!(data["workspace"]["slug"], WORKSPACE);
    assert_eq!(data["viewer"]["role"], "ADMIN");
    let after = event("after", "PAGE_VIEW", Value::Null).to_string();
    let response = app.post_ndjson(WORKSPACE, after).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["accepted"], 1);
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let (elapsed, n, seen) = (started.elapsed().as_secs_f64(), f.requests, &f.seen);
    eprintln!("{backend:?}: {n} requests in {elapsed:.1} s; {seen:?}");
    assert!(
        f.failures.is_empty(),
        "{} of {} fuzz requests broke a rule (seed {seed}; replay with FUZZ_SEED={seed}):\n{}",
        f.failures.len(),
        f.requests,
        f.failures[..f.failures.len().min(15)].join("\n")
    );
}

on_both_backends!(fuzz_the_api);

#[test]
fn cursors_are_encoded_like_the_server_does() {
    assert_eq!(base64url(b"[0,0]"), "WzAsMF0");
    assert_eq!(base64url(b"0"), "MA");
    assert_eq!(base64url(b"-1"), "LTE");
    assert_eq!(base64url(b"\xfb\xff"), "-_8");
}
