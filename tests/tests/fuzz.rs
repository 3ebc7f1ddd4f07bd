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
use std::time::{Duration, Instant};

use hourglass_tests::{Backend, TestApp, on_both_backends};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

const SCHEMA: &str = include_str!("../../schema.graphql");
const WORKSPACE: &str = "fuzz";

/// Cases per backend; a few hundred requests in all.
const GENERATED_DOCUMENTS: usize = 300;
const GET_DOCUMENTS: usize = 30;
const ENVELOPES: usize = 30;
const GARBAGE_BODIES: usize = 25;
const METHOD_MIXES: usize = 40;
const NDJSON_BODIES: usize = 80;
/// Stop generating new random cases after this long (the hand-made ones still run).
const SOFT_BUDGET: Duration = Duration::from_secs(40);

// =================================================================================
// The schema, read from its SDL

#[derive(Debug, Clone)]
enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn named(&self) -> &str {
        match self {
            TypeRef::Named(name) => name,
            TypeRef::List(inner) | TypeRef::NonNull(inner) => inner.named(),
        }
    }

    fn is_non_null(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }

    fn sdl(&self) -> String {
        match self {
            TypeRef::Named(name) => name.clone(),
            TypeRef::List(inner) => format!("[{}]", inner.sdl()),
            TypeRef::NonNull(inner) => format!("{}!", inner.sdl()),
        }
    }
}

#[derive(Debug, Clone)]
struct InputValue {
    name: String,
    ty: TypeRef,
    has_default: bool,
}

impl InputValue {
    fn required(&self) -> bool {
        self.ty.is_non_null() && !self.has_default
    }
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    args: Vec<InputValue>,
    ty: TypeRef,
}

#[derive(Debug, Clone)]
enum Def {
    Object(Vec<Field>),
    Input(Vec<InputValue>),
    Enum(Vec<String>),
    Scalar,
    Union,
}

#[derive(Debug)]
struct Schema {
    types: BTreeMap<String, Def>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Punct(char),
    Str,
    Num,
}

fn tokenize(source: &str) -> Vec<Tok> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if chars[i..].starts_with(&['"'; 3]) {
            i += 3;
            while i < chars.len() && !chars[i..].starts_with(&['"'; 3]) {
                i += 1;
            }
            i += 3;
            tokens.push(Tok::Str);
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            tokens.push(Tok::Str);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok::Name(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '-' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "+-.".contains(chars[i]))
            {
                i += 1;
            }
            tokens.push(Tok::Num);
        } else {
            tokens.push(Tok::Punct(c));
            i += 1;
        }
    }
    tokens
}

struct SdlParser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl SdlParser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn peek_is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek_is(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, c: char) {
        assert!(
            self.eat(c),
            "schema.graphql: expected {c:?} at token {}",
            self.pos
        );
    }

    fn name(&mut self) -> String {
        match self.tokens.get(self.pos) {
            Some(Tok::Name(name)) => {
                self.pos += 1;
                name.clone()
            }
            other => panic!(
                "schema.graphql: expected a name at token {}, got {other:?}",
                self.pos
            ),
        }
    }

    fn skip_descriptions(&mut self) {
        while self.peek() == Some(&Tok::Str) {
            self.pos += 1;
        }
    }

    /// Skips a bracketed group starting at the current token.
    fn skip_group(&mut self) {
        let mut depth = 0_usize;
        loop {
            match self.tokens.get(self.pos) {
                Some(Tok::Punct('(' | '[' | '{')) => depth += 1,
                Some(Tok::Punct(')' | ']' | '}')) => depth -= 1,
                None => return,
                _ => {}
            }
            self.pos += 1;
            if depth == 0 {
                return;
            }
        }
    }

    fn skip_directives(&mut self) {
        while self.eat('@') {
            self.name();
            if self.peek_is('(') {
                self.skip_group();
            }
        }
    }

    fn skip_value(&mut self) {
        if self.peek_is('[') || self.peek_is('{') {
            self.skip_group();
        } else {
            self.pos += 1;
        }
    }

    fn ty(&mut self) -> TypeRef {
        let ty = if self.eat('[') {
            let inner = self.ty();
            self.expect(']');
            TypeRef::List(Box::new(inner))
        } else {
            TypeRef::Named(self.name())
        };
        if self.eat('!') {
            TypeRef::NonNull(Box::new(ty))
        } else {
            ty
        }
    }

    fn input_values(&mut self, close: char) -> Vec<InputValue> {
        let mut values = Vec::new();
        loop {
            self.skip_descriptions();
            if self.eat(close) {
                return values;
            }
            let name = self.name();
            self.expect(':');
            let ty = self.ty();
            let has_default = self.eat('=');
            if has_default {
                self.skip_value();
            }
            self.skip_directives();
            values.push(InputValue {
                name,
                ty,
                has_default,
            });
        }
    }

    fn fields(&mut self) -> Vec<Field> {
        let mut fields = Vec::new();
        loop {
            self.skip_descriptions();
            if self.eat('}') {
                return fields;
            }
            let name = self.name();
            let args = if self.eat('(') {
                self.input_values(')')
            } else {
                Vec::new()
            };
            self.expect(':');
            let ty = self.ty();
            self.skip_directives();
            fields.push(Field { name, args, ty });
        }
    }
}

impl Schema {
    fn parse(source: &str) -> Self {
        let mut p = SdlParser {
            tokens: tokenize(source),
            pos: 0,
        };
        let mut types = BTreeMap::new();
        loop {
            p.skip_descriptions();
            if p.peek().is_none() {
                break;
            }
            let keyword = p.name();
            match keyword.as_str() {
                "type" | "interface" => {
                    let name = p.name();
                    while !p.peek_is('{') {
                        p.pos += 1;
                    }
                    p.expect('{');
                    types.insert(name, Def::Object(p.fields()));
                }
                "input" => {
                    let name = p.name();
                    p.skip_directives();
                    p.expect('{');
                    types.insert(name, Def::Input(p.input_values('}')));
                }
                "enum" => {
                    let name = p.name();
                    p.skip_directives();
                    p.expect('{');
                    let mut values = Vec::new();
                    loop {
                        p.skip_descriptions();
                        if p.eat('}') {
                            break;
                        }
                        values.push(p.name());
                        p.skip_directives();
                    }
                    types.insert(name, Def::Enum(values));
                }
                "scalar" => {
                    let name = p.name();
                    p.skip_directives();
                    types.insert(name, Def::Scalar);
                }
                "union" => {
                    let name = p.name();
                    p.skip_directives();
                    p.expect('=');
                    p.eat('|');
                    p.name();
                    while p.eat('|') {
                        p.name();
                    }
                    types.insert(name, Def::Union);
                }
                "directive" => {
                    p.expect('@');
                    p.name();
                    if p.peek_is('(') {
                        p.skip_group();
                    }
                    if p.peek() == Some(&Tok::Name("repeatable".into())) {
                        p.pos += 1;
                    }
                    assert_eq!(p.name(), "on");
                    p.eat('|');
                    p.name();
                    while p.eat('|') {
                        p.name();
                    }
                }
                "schema" | "extend" => {
                    while !p.peek_is('{') {
                        p.pos += 1;
                    }
                    p.skip_group();
                }
                other => panic!("schema.graphql: unexpected {other:?}"),
            }
        }
        for scalar in ["Int", "Float", "String", "Boolean", "ID"] {
            types.insert(scalar.into(), Def::Scalar);
        }
        Self { types }
    }

    fn is_leaf(&self, name: &str) -> bool {
        matches!(
            self.types.get(name),
            Some(Def::Scalar | Def::Enum(_)) | None
        )
    }

    fn enum_values(&self, name: &str) -> Vec<String> {
        match self.types.get(name) {
            Some(Def::Enum(values)) => values.clone(),
            _ => panic!("schema.graphql has no enum {name}"),
        }
    }
}

// =================================================================================
// Random values

/// A GraphQL or JSON string literal (JSON escapes are valid GraphQL escapes).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(b) {
            out.push(char::from(*b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

const STRINGS: &[&str] = &[
    "lp",
    "web",
    "camp-1",
    "org-1",
    "p1",
    "hot_account",
    "acme",
    "fuzz-2",
    "LEAD",
    "OQL",
    "EUR",
    "XXXX",
    "email",
    "Social",
    "ü𝔘💥",
    "\u{202e}evil",
    "a\u{0}b",
    "\u{FFFF}\u{FFFE}",
    "Ω≈ç√∫˜µ≤≥÷",
    "a\u{300}\u{301}\u{302}\u{303}",
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\"",
    "${}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    " padded ",
    "\t",
    "a\nb",
    "-leading",
    "slug_with_underscore",
    "UPPER",
    "1 + 1",
    "loop {}",
    "let x = ",
    "#{ value: 1, label: \"x\", breakdown: #{ a: 1 } }",
    "count(events, \"ATTENDANCE\")",
    "fn f(n) { f(n) } f(1)",
    "let s = \"ab\"; loop { s += s; }",
    "throw \"boom\"",
    "()",
    "[1, 2, 3]",
    "print(\"hi\"); 1",
    "evnts.len()",
    "params.threshold * 2",
    "1 / 0",
    "9223372036854775807 + 1",
];

const DATES: &[&str] = &[
    "2026-11-01T00:00:00Z",
    "2026-10-15T10:30:00+02:00",
    "2026-13-45T99:00:00Z",
    "nope",
    "-99999-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "2026-11-01",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2026-06-30T23:59:60Z",
    "2026-11-01T00:00:00+14:00",
    "2099-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "",
];

const NAIVE_DATES: &[&str] = &[
    "2026-11-01",
    "2026-10-25",
    "2026-02-30",
    "0000-01-01",
    "9999-12-31",
    "+262143-12-31",
    "-262144-01-01",
    "2026-1-1",
    "yesterday",
    "",
];

/// Ints that fit GraphQL's `Int` (32 bits); the others are out of range.
const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "5",
    "30",
    "100",
    "101",
    "2147483647",
    "-2147483648",
];
const BAD_INTS: &[&str] = &[
    "2147483648",
    "9007199254740993",
    "-99999999999999999999999999",
    "18446744073709551616",
    "1.5",
];

/// Finite floats; then ones that overflow.
const FLOATS: &[&str] = &[
    "0",
    "0.5",
    "0.9",
    "1.5",
    "-1",
    "-0.0",
    "1e308",
    "-1e308",
    "5e-324",
    "123456789.123",
    "1E2",
    "2147483648",
];
const BAD_FLOATS: &[&str] = &["1e309", "-1e400"];

const KEYS: &[&str] = &[
    "a",
    "min_attendees",
    "threshold",
    "to",
    "currency",
    "",
    "__proto__",
    "ü",
    "constructor",
    "x y",
];

struct Gen<'s> {
    rng: StdRng,
    schema: &'s Schema,
    /// 0 for a document meant to be valid (so that it reaches the resolvers), 1 for
    /// one with deliberate mistakes sprinkled in.
    noise: f64,
    var_defs: Vec<String>,
    variables: Map<String, Value>,
    fragments: Vec<String>,
    counter: usize,
    now: chrono::DateTime<chrono::Utc>,
}

impl<'s> Gen<'s> {
    fn new(seed: u64, schema: &'s Schema) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            schema,
            noise: 1.0,
            var_defs: Vec::new(),
            variables: Map::new(),
            fragments: Vec::new(),
            counter: 0,
            now: chrono::Utc::now(),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A deliberate mistake, with probability `p` in a noisy document, never in a
    /// clean one.
    fn oops(&mut self, p: f64) -> bool {
        self.noise > 0.0 && self.rng.random_bool(p * self.noise)
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &'a [&'a T]) -> &'a T {
        items.choose(&mut self.rng).unwrap()
    }

    fn fresh(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    fn string(&mut self) -> String {
        match self.rng.random_range(0..12) {
            0..=3 => WORKSPACE.into(),
            4 => String::new(),
            5 => {
                let len = self.rng.random_range(1..24);
                (0..len)
                    .map(|_| char::from(self.rng.random_range(b'!'..=b'~')))
                    .collect()
            }
            6 => "x".repeat(self.rng.random_range(150..400)),
            7 => {
                if self.chance(0.15) {
                    "y".repeat(70_000)
                } else {
                    "y".repeat(3_000)
                }
            }
            8 => {
                let len = self.rng.random_range(1..12);
                (0..len)
                    .map(|_| {
                        char::from_u32(self.rng.random_range(0..0x11_0000)).unwrap_or('\u{FFFD}')
                    })
                    .collect()
            }
            _ => self.pick(STRINGS).to_owned(),
        }
    }

    /// An RFC 3339 time near now, or (mostly in noisy documents) an odd one.
    fn date(&mut self) -> String {
        if self.noise == 0.0 || self.chance(0.5) {
            if self.chance(0.1) {
                return self
                    .pick(&[
                        "1970-01-01T00:00:00Z",
                        "1969-12-31T23:59:59Z",
                        "9999-12-31T23:59:59.999999999Z",
                    ])
                    .to_owned();
            }
            let back = chrono::Duration::seconds(self.rng.random_range(-3 * 86_400..90 * 86_400));
            (self.now - back).to_rfc3339()
        } else {
            self.pick(DATES).to_owned()
        }
    }

    fn naive_date(&mut self) -> String {
        if self.noise == 0.0 {
            self.pick(&[
                "2026-11-01",
                "2026-10-25",
                "2026-02-28",
                "0001-01-01",
                "9999-12-31",
            ])
            .to_owned()
        } else {
            self.pick(NAIVE_DATES).to_owned()
        }
    }

    // ---- GraphQL literals -------------------------------------------------------

    fn wrong_literal(&mut self) -> String {
        let options: &[&str] = &[
            "123",
            "\"str\"",
            "true",
            "null",
            "[1, 2]",
            "{a: 1}",
            "PAGE_VIEW",
            "$undeclared",
            "1e999",
            "\"\\u0000\"",
            "[[[]]]",
            "{}",
            "-0",
        ];
        self.pick(options).to_owned()
    }

    fn literal(&mut self, ty: &TypeRef, depth: usize) -> String {
        if self.oops(0.06) {
            return self.wrong_literal();
        }
        match ty {
            TypeRef::NonNull(inner) => {
                if self.oops(0.02) {
                    "null".into()
                } else {
                    self.literal_of(inner, depth)
                }
            }
            _ => {
                if self.chance(0.03) {
                    "null".into()
                } else {
                    self.literal_of(ty, depth)
                }
            }
        }
    }

    /// A non-null literal of `ty`.
    fn literal_of(&mut self, ty: &TypeRef, depth: usize) -> String {
        match ty {
            TypeRef::NonNull(inner) => self.literal_of(inner, depth),
            TypeRef::List(inner) => {
                if self.chance(0.15) || depth > 6 {
                    // A single value where a list is expected is coerced.
                    return self.literal(inner, depth + 1);
                }
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.literal(inner, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            TypeRef::Named(name) => self.named_literal(name, depth),
        }
    }

    fn named_literal(&mut self, name: &str, depth: usize) -> String {
        let schema = self.schema;
        match name {
            "Int" if self.oops(0.1) => self.pick(BAD_INTS).to_owned(),
            "Int" => self.pick(INTS).to_owned(),
            "Float" if self.oops(0.1) => self.pick(BAD_FLOATS).to_owned(),
            "Float" => {
                if self.chance(0.3) {
                    format!("{:?}", self.rng.random_range(-1e6..1e6))
                } else {
                    self.pick(FLOATS).to_owned()
                }
            }
            "Boolean" => self.rng.random_bool(0.5).to_string(),
            "ID" if self.chance(0.15) => self.pick(INTS).to_owned(),
            "String" | "ID" => {
                let s = self.string();
                if self.chance(0.05) && !s.contains("\"\"\"") && !s.contains('\\') {
                    format!("\"\"\"{s}\"\"\"")
                } else {
                    quote(&s)
                }
            }
            "DateTime" => {
                let d = self.date();
                quote(&d)
            }
            "NaiveDate" => {
                let d = self.naive_date();
                quote(&d)
            }
            "JSON" => self.json_literal(depth),
            _ => match schema.types.get(name) {
                Some(Def::Enum(values)) => {
                    if self.oops(0.1) {
                        self.pick(&["NOPE", "\"PAGE_VIEW\"", "page_view", "true"])
                            .to_owned()
                    } else {
                        values.choose(&mut self.rng).unwrap().clone()
                    }
                }
                Some(Def::Input(fields)) => {
                    let mut parts = Vec::new();
                    for field in fields {
                        let include = if field.required() {
                            !self.oops(0.07)
                        } else {
                            self.chance(0.45)
                        };
                        if include {
                            let value = self.input_field_literal(field, depth + 1);
                            parts.push(format!("{}: {value}", field.name));
                        }
                    }
                    if self.oops(0.04) {
                        parts.push("zzzUnknown: 1".into());
                    }
                    if self.oops(0.03)
                        && let Some(first) = parts.first().cloned()
                    {
                        parts.push(first);
                    }
                    parts.shuffle(&mut self.rng);
                    format!("{{{}}}", parts.join(", "))
                }
                _ => self.wrong_literal(),
            },
        }
    }

    fn input_field_literal(&mut self, field: &InputValue, depth: usize) -> String {
        let scalar_id = matches!(field.ty.named(), "ID" | "String");
        // Ids of things the seed data holds, so that resolvers get past NOT_FOUND.
        let known: &[&str] = match field.name.as_str() {
            "asset" | "assetId" | "landingPage" => &["lp", "web"],
            "campaign" | "campaignId" => &["camp-1"],
            "organization" | "organizationId" => &["org-0", "org-1", "org-2"],
            "contact" | "contactId" => &["p0", "p1", "p2"],
            "key" => &["hot_account"],
            "id" => &["lp", "web", "camp-1", "org-1", "p1"],
            "source" => STRINGS,
            _ => &[],
        };
        if scalar_id && !known.is_empty() && self.chance(0.6) {
            return quote(self.pick(known));
        }
        if field.name == "after" && self.chance(0.6) {
            // Cursors as the server makes them (base64url of the JSON key), with
            // keys it never gave out.
            let key = self.pick(&[
                "0",
                "-1",
                "9223372036854775807",
                "-9223372036854775808",
                "[0,0]",
                "[9223372036854775807,9223372036854775807]",
                "[-9223372036854775808,-1]",
                "[1]",
                "[1,2,3]",
                "1e400",
                "\"x\"",
                "null",
                "{}",
            ]);
            return quote(&base64url(key.as_bytes()));
        }
        self.literal(&field.ty, depth)
    }

    fn json_literal(&mut self, depth: usize) -> String {
        match self.rng.random_range(0..8) {
            0 => "null".into(),
            1 => self.rng.random_bool(0.5).to_string(),
            2 => self.pick(INTS).to_owned(),
            3 => self.pick(FLOATS).to_owned(),
            4 => {
                let s = self.string();
                quote(&s)
            }
            5 if depth < 5 => {
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.json_literal(depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            _ if depth < 5 => {
                let n = self.rng.random_range(0..4);
                let names = ["a", "min_attendees", "threshold", "to", "b_2", "x"];
                let mut used = BTreeSet::new();
                let items: Vec<String> = (0..n)
                    .filter_map(|_| {
                        let name = *names.choose(&mut self.rng).unwrap();
                        used.insert(name)
                            .then(|| format!("{name}: {}", self.json_literal(depth + 1)))
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            _ => "1".into(),
        }
    }

    // ---- JSON values (variables, NDJSON) ----------------------------------------

    fn random_json(&mut self, depth: usize) -> Value {
        match self.rng.random_range(0..9) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.random_bool(0.5)),
            2 => [
                json!(0),
                json!(-1),
                json!(i64::MIN),
                json!(u64::MAX),
                json!(1e300),
                json!(-0.0),
                json!(0.1),
                json!(2_147_483_648_u64),
            ]
            .choose(&mut self.rng)
            .unwrap()
            .clone(),
            3 => json!(self.rng.random::<i32>()),
            4 | 5 => Value::String(self.string()),
            6 if depth < 4 => {
                let n = self.rng.random_range(0..4);
                Value::Array((0..n).map(|_| self.random_json(depth + 1)).collect())
            }
            _ if depth < 4 => {
                let n = self.rng.random_range(0..4);
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.pick(KEYS).to_owned();
                    map.insert(key, self.random_json(depth + 1));
                }
                Value::Object(map)
            }
            _ => json!("leaf"),
        }
    }

    /// A variable value for `ty`: of the right type in clean documents.
    fn json_value(&mut self, ty: &TypeRef, depth: usize) -> Value {
        if self.oops(0.07) {
            return self.random_json(depth);
        }
        let schema = self.schema;
        match ty {
            TypeRef::NonNull(inner) => self.json_value(inner, depth),
            TypeRef::List(inner) => {
                if self.chance(0.15) || depth > 6 {
                    return self.json_value(inner, depth + 1);
                }
                let n = self.rng.random_range(0..4);
                Value::Array((0..n).map(|_| self.json_value(inner, depth + 1)).collect())
            }
            TypeRef::Named(name) => match name.as_str() {
                "Int" if self.oops(0.2) => [
                    json!(2_147_483_648_u64),
                    json!(1.5),
                    json!(1e30),
                    json!(u64::MAX),
                ]
                .choose(&mut self.rng)
                .unwrap()
                .clone(),
                "Int" => [
                    json!(0),
                    json!(1),
                    json!(5),
                    json!(100),
                    json!(101),
                    json!(-1),
                    json!(i32::MAX),
                    json!(i32::MIN),
                ]
                .choose(&mut self.rng)
                .unwrap()
                .clone(),
                "Float" => [
                    json!(0.5),
                    json!(-1),
                    json!(1e308),
                    json!(5e-324),
                    json!(0.9),
                    json!(i64::MAX),
                ]
                .choose(&mut self.rng)
                .unwrap()
                .clone(),
                "Boolean" => Value::Bool(self.rng.random_bool(0.5)),
                "DateTime" => Value::String(self.date()),
                "NaiveDate" => Value::String(self.naive_date()),
                "JSON" => self.random_json(depth),
                "String" | "ID" => Value::String(self.string()),
                _ => match schema.types.get(name.as_str()) {
                    Some(Def::Enum(values)) => {
                        Value::String(values.choose(&mut self.rng).unwrap().clone())
                    }
                    Some(Def::Input(fields)) => {
                        let mut map = Map::new();
                        for field in fields {
                            let include = if field.required() {
                                !self.oops(0.07)
                            } else {
                                self.chance(0.45)
                            };
                            if include {
                                let value = self.json_value(&field.ty, depth + 1);
                                map.insert(field.name.clone(), value);
                            }
                        }
                        if self.oops(0.04) {
                            map.insert("zzzUnknown".into(), json!(1));
                        }
                        Value::Object(map)
                    }
                    _ => self.random_json(depth),
                },
            },
        }
    }

    // ---- documents --------------------------------------------------------------

    fn variable(&mut self, ty: &TypeRef) -> String {
        let name = format!("v{}", self.fresh());
        let declared = if self.oops(0.1) {
            self.pick(&[
                "Int",
                "String!",
                "[ID!]!",
                "JSON",
                "KpiFilterInput",
                "Nope",
                "Boolean!",
            ])
            .to_owned()
        } else {
            ty.sdl()
        };
        let default = if self.oops(0.05) {
            format!(" = {}", self.literal(ty, 0))
        } else {
            String::new()
        };
        self.var_defs.push(format!("${name}: {declared}{default}"));
        if !self.oops(0.08) {
            let value = self.json_value(ty, 0);
            self.variables.insert(name.clone(), value);
        }
        format!("${name}")
    }

    fn arguments(&mut self, args: &[InputValue]) -> String {
        let mut parts = Vec::new();
        for arg in args {
            let include = if arg.required() {
                !self.oops(0.05)
            } else {
                self.chance(0.4)
            };
            if !include {
                continue;
            }
            let value = if (arg.name == "workspace" || arg.name == "slug") && self.chance(0.85) {
                quote(WORKSPACE)
            } else if self.chance(0.15) {
                self.variable(&arg.ty)
            } else {
                self.input_field_literal(arg, 0)
            };
            parts.push(format!("{}: {value}", arg.name));
        }
        if self.oops(0.04) {
            parts.push("bogusArg: 1".into());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join(", "))
        }
    }

    fn directive(&mut self) -> String {
        if self.oops(0.4) {
            return self
                .pick(&[" @deprecated", " @skip", " @include(if: 1)"])
                .to_owned();
        }
        match self.rng.random_range(0..3) {
            0 => " @skip(if: false)".into(),
            1 => " @include(if: true)".into(),
            _ => {
                let v = self.variable(&TypeRef::NonNull(Box::new(TypeRef::Named(
                    "Boolean".into(),
                ))));
                format!(" @include(if: {v})")
            }
        }
    }

    fn selection(&mut self, type_name: &str, depth: usize, max_depth: usize) -> String {
        let schema = self.schema;
        let Some(Def::Object(fields)) = schema.types.get(type_name) else {
            return "__typename".into();
        };
        let leaves: Vec<&Field> = fields
            .iter()
            .filter(|f| schema.is_leaf(f.ty.named()))
            .collect();
        let n = self.rng.random_range(1..=3.min(fields.len()));
        let mut used = BTreeSet::new();
        let mut parts = Vec::new();
        for _ in 0..n {
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
            let mut field = fields.choose(&mut self.rng).unwrap();
            let leaf_only = depth > max_depth + 3 || (depth >= max_depth && self.chance(0.7));
            if leaf_only && !schema.is_leaf(field.ty.named()) && !leaves.is_empty() {
                field = *leaves.choose(&mut self.rng).unwrap();
            }
            let mut text = String::new();
            if self.chance(0.1) {
                text.push_str(&format!("a{}: ", self.fresh()));
            } else if !used.insert(field.name.as_str()) && !self.oops(0.5) {
                // The same field twice with other arguments cannot be merged.
                continue;
            }
            text.push_str(&field.name);
            text.push_str(&self.arguments(&field.args));
            if self.chance(0.04) {
                text.push_str(&self.directive());
            }
            if schema.is_leaf(field.ty.named()) {
                if self.oops(0.015) {
                    text.push_str(" { value }");
                }
            } else if !self.oops(0.015) {
                let inner = self.selection(field.ty.named(), depth + 1, max_depth);
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
        self.noise = if self.chance(0.5) { 0.0 } else { 1.0 };
        self.var_defs.clear();
        self.variables = Map::new();
        self.fragments.clear();
        let schema = self.schema;
        let operations = if self.chance(0.08) { 2 } else { 1 };
        let mut texts = Vec::new();
        let mut names = Vec::new();
        for i in 0..operations {
            self.var_defs.clear();
            let roll = self.rng.random_range(0..100);
            let root = if roll < 3 && schema.types.contains_key("Subscription") && self.noise > 0.0
            {
                "Subscription"
            } else if roll < 65 {
                "Query"
            } else {
                "Mutation"
            };
            let max_depth = if self.chance(0.1) {
                self.rng.random_range(6..16)
            } else {
                self.rng.random_range(1..4)
            };
            let selection = self.selection(root, 0, max_depth);
            let name = (operations > 1 || self.chance(0.3)).then(|| format!("Op{i}"));
            let text = if name.is_none()
                && self.var_defs.is_empty()
                && root == "Query"
                && self.chance(0.5)
            {
                format!("{{ {selection} }}")
            } else {
                let vars = if self.var_defs.is_empty() {
                    String::new()
                } else {
                    format!("({})", self.var_defs.join(", "))
                };
                format!(
                    "{} {}{vars} {{ {selection} }}",
                    root.to_lowercase(),
                    name.clone().unwrap_or_default()
                )
            };
            texts.push(text);
            names.extend(name);
        }
        texts.append(&mut self.fragments);
        let mut document = texts.join("\n");
        if self.oops(0.12) {
            document = self.corrupt(&document);
        }
        let operation_name = if names.len() > 1 {
            if self.oops(0.5) {
                self.chance(0.5).then(|| "Missing".to_owned())
            } else {
                names.choose(&mut self.rng).cloned()
            }
        } else if self.oops(0.1) {
            Some("Wrong".into())
        } else {
            names.first().cloned()
        };
        (
            document,
            Value::Object(self.variables.clone()),
            operation_name,
        )
    }

    fn corrupt(&mut self, document: &str) -> String {
        let boundaries: Vec<usize> = document
            .char_indices()
            .map(|(i, _)| i)
            .chain([document.len()])
            .collect();
        let at = *boundaries.choose(&mut self.rng).unwrap();
        match self.rng.random_range(0..4) {
            0 => document[..at].to_owned(),
            1 => {
                let junk = self.pick(&[
                    "{", "}", "(", ")", "[", "]", ":", "$", "@", "!", "\"", "\\", "#", "…",
                    "\u{0}", "...", "on", "0x",
                ]);
                format!("{}{junk}{}", &document[..at], &document[at..])
            }
            2 => format!("{document}\n{document}"),
            _ => format!("{}{}", &document[at..], &document[..at]),
        }
    }

    // ---- requests -----------------------------------------------------------------

    fn accept(&mut self) -> Option<&'static str> {
        match self.rng.random_range(0..10) {
            0..=3 => None,
            4 | 5 => Some("application/json"),
            6 | 7 => Some("application/graphql-response+json"),
            8 => Some("*/*"),
            _ => Some("text/html, application/json;q=0.9"),
        }
    }

    /// The Authorization header: the app's key most of the time.
    fn authorization(&mut self, key: &str) -> Option<Vec<u8>> {
        if self.chance(0.88) {
            return Some(format!("Bearer {key}").into_bytes());
        }
        let mut changed = key.to_owned();
        changed.pop();
        changed.push(if key.ends_with('x') { 'y' } else { 'x' });
        let options: Vec<Vec<u8>> = vec![
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
        if self.chance(0.2) {
            None
        } else {
            options.choose(&mut self.rng).cloned()
        }
    }

    fn garbage(&mut self, max: usize) -> Vec<u8> {
        let len = self.rng.random_range(0..max);
        (0..len).map(|_| self.rng.random()).collect()
    }

    // ---- NDJSON -------------------------------------------------------------------

    fn valid_event(&mut self, id: &str) -> Map<String, Value> {
        let back = chrono::Duration::seconds(self.rng.random_range(60..60 * 86_400));
        let at = (self.now - back).to_rfc3339();
        let n = self.rng.random_range(0..20);
        let mut event = json!({ "messageId": id, "occurredAt": at });
        let extra = match self.rng.random_range(0..8) {
            0 => {
                json!({"kind": "PAGE_VIEW", "contactId": format!("p{n}"), "organizationId": format!("org-{}", n % 3), "assetId": "lp", "channel": "Email"})
            }
            1 => {
                json!({"kind": "CLICK", "anonymousId": format!("anon-{n}"), "campaignId": "camp-1", "channel": "social"})
            }
            2 => {
                json!({"kind": "ATTENDANCE", "contactId": format!("p{n}"), "assetId": "web", "value": 1200})
            }
            3 => {
                json!({"kind": "SURVEY_RESPONSE", "contactId": format!("p{n}"), "value": 9, "properties": {"survey": "s1"}})
            }
            4 => {
                json!({"kind": "STAGE_CHANGE", "contactId": format!("p{n}"), "properties": {"to": "LEAD", "from": "VISITOR"}})
            }
            5 => {
                json!({"kind": "REVENUE", "contactId": format!("p{n}"), "value": 1000.5, "properties": {"currency": "EUR", "deal": "d-1"}})
            }
            6 => {
                json!({"kind": "SHARE", "contactId": format!("p{n}"), "properties": {"recipient": "someone@org-1.example"}})
            }
            _ => {
                json!({"kind": "IMPRESSION", "organizationId": format!("org-{}", n % 3), "campaignId": "camp-1"})
            }
        };
        let map = event.as_object_mut().unwrap();
        map.extend(extra.as_object().unwrap().clone());
        map.clone()
    }

    fn edge_value(&mut self, field: &str) -> Value {
        match field {
            "kind" => {
                let kinds = self.schema.enum_values("EventKind");
                if self.chance(0.5) {
                    Value::String(kinds.choose(&mut self.rng).unwrap().clone())
                } else {
                    json!(self.pick(&[
                        "page_view",
                        "PAGE_VIEW ",
                        "",
                        "UNKNOWN",
                        "Page_View",
                        "PAGE_VIEW\u{0}"
                    ]))
                }
            }
            "occurredAt" => match self.rng.random_range(0..4) {
                0 => Value::String((self.now + chrono::Duration::hours(25)).to_rfc3339()),
                1 => Value::String((self.now + chrono::Duration::hours(23)).to_rfc3339()),
                2 => json!(1_700_000_000),
                _ => Value::String(self.pick(DATES).to_owned()),
            },
            "value" => [
                json!(-1),
                json!(0),
                json!(11),
                json!(10.5),
                json!(1e308),
                json!(-1e308),
                json!(u64::MAX),
                json!(i64::MIN),
                json!(5e-324),
                json!("12"),
                Value::Null,
            ]
            .choose(&mut self.rng)
            .unwrap()
            .clone(),
            "properties" => match self.rng.random_range(0..13) {
                0 => json!({"to": 123}),
                1 => json!({"to": "lead"}),
                2 => json!({"to": ""}),
                3 => json!({"currency": "XXXX", "deal": "d"}),
                4 => json!({"currency": "eur"}),
                5 => json!({"survey": null}),
                6 => json!({"recipient": ["a"]}),
                7 => json!([]),
                8 => json!("str"),
                9 => json!({"x": "y".repeat(40_000)}),
                10 => json!({"text": "a\u{0}b"}),
                11 => {
                    serde_json::from_str(&nested("{\"a\":", "}", "1", 200)).unwrap_or(Value::Null)
                }
                _ => json!({"to": "OQL", "from": "CUSTOMER", "referred": "p1", "text": "ü𝔘💥"}),
            },
            _ => {
                let options = [
                    json!(""),
                    json!(" padded"),
                    json!("padded "),
                    json!("a\u{0}b"),
                    json!("\u{7f}"),
                    json!("x".repeat(200)),
                    json!("x".repeat(201)),
                    json!("ü"),
                    json!("\u{200b}"),
                    json!("a/b"),
                    json!(123),
                    json!("EMAIL"),
                ];
                options.choose(&mut self.rng).unwrap().clone()
            }
        }
    }

    fn mutate_event(&mut self, event: &mut Map<String, Value>) {
        let fields = [
            "messageId",
            "kind",
            "occurredAt",
            "contactId",
            "anonymousId",
            "organizationId",
            "campaignId",
            "assetId",
            "channel",
            "value",
            "properties",
            "unknownField",
        ];
        let field = *fields.choose(&mut self.rng).unwrap();
        match self.rng.random_range(0..4) {
            0 => {
                event.remove(field);
            }
            1 => {
                let value = self.random_json(2);
                event.insert(field.into(), value);
            }
            2 => {
                let value = self.edge_value(field);
                event.insert(field.into(), value);
            }
            _ => {
                let value = Value::String(self.string());
                event.insert(field.into(), value);
            }
        }
    }

    /// One NDJSON line (never holding `\n`) and whether it is an untouched valid event.
    fn ndjson_line(&mut self, id: &str) -> (Vec<u8>, bool) {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=44 => (
                Value::Object(self.valid_event(id)).to_string().into_bytes(),
                true,
            ),
            45..=74 => {
                let mut event = self.valid_event(id);
                for _ in 0..self.rng.random_range(1..=3) {
                    self.mutate_event(&mut event);
                }
                (Value::Object(event).to_string().into_bytes(), false)
            }
            75..=79 => (
                self.pick(&["", " ", "\t", "\r", " \r", "\u{c}"])
                    .as_bytes()
                    .to_vec(),
                false,
            ),
            80..=83 => {
                let mut bytes = self.garbage(200);
                for b in &mut bytes {
                    if *b == b'\n' {
                        *b = b' ';
                    }
                }
                (bytes, false)
            }
            84 | 85 => {
                if self.chance(0.5) {
                    let mut event = self.valid_event(id);
                    event.insert("properties".into(), json!({"pad": "p".repeat(40_000)}));
                    (Value::Object(event).to_string().into_bytes(), false)
                } else {
                    (vec![b'x'; 200_000], false)
                }
            }
            86..=88 => {
                let valid = Value::Object(self.valid_event(id)).to_string();
                let mut bytes = valid.into_bytes();
                // Right after the opening quote of the first value (keys are sorted,
                // so that is a string: anonymousId, assetId, campaignId, … or kind).
                let at = bytes.iter().position(|b| *b == b':').map_or(1, |i| i + 2);
                let junk: &[u8] = [
                    &b"\xff\xfe"[..],
                    b"\xc3\x28",
                    b"\xed\xa0\x80",
                    b"\xf4\x90\x80\x80",
                ]
                .choose(&mut self.rng)
                .unwrap();
                bytes.splice(at..at, junk.iter().copied());
                (bytes, false)
            }
            89..=92 => {
                let deep = nested("[", "]", "", 5_000);
                let options = [
                    "[]",
                    "null",
                    "1",
                    "\"x\"",
                    "{}",
                    "true",
                    "[{\"messageId\":\"a\"}]",
                    deep.as_str(),
                ];
                (
                    options.choose(&mut self.rng).unwrap().as_bytes().to_vec(),
                    false,
                )
            }
            93..=95 => {
                let valid = Value::Object(self.valid_event(id)).to_string();
                (
                    format!("{{\"messageId\":\"dup-{id}\",{}", &valid[1..]).into_bytes(),
                    false,
                )
            }
            96 | 97 => {
                let valid = Value::Object(self.valid_event(id)).to_string();
                (format!("\u{feff}{valid}").into_bytes(), false)
            }
            _ => {
                let valid = Value::Object(self.valid_event(id)).to_string();
                let twice = if self.chance(0.5) {
                    format!("{valid}{valid}")
                } else {
                    format!("{valid} x")
                };
                (twice.into_bytes(), false)
            }
        }
    }

    /// A body and the line numbers of its untouched valid events.
    fn ndjson_body(&mut self, case: usize) -> (Vec<u8>, Vec<usize>) {
        let lines = match self.rng.random_range(0..100) {
            0..=2 => {
                // More events than one request may carry: refused whole.
                let mut body = Vec::new();
                for i in 0..501 {
                    let line = Value::Object(self.valid_event(&format!("big-{case}-{i}")));
                    body.extend_from_slice(line.to_string().as_bytes());
                    body.push(b'\n');
                }
                return (body, Vec::new());
            }
            3 | 4 => 0,
            _ => self.rng.random_range(1..=30),
        };
        let mut body = Vec::new();
        let mut must_accept = Vec::new();
        for i in 0..lines {
            let (line, valid) = self.ndjson_line(&format!("nd-{case}-{i}"));
            if valid {
                must_accept.push(i);
            }
            body.extend_from_slice(&line);
            if i + 1 < lines || self.chance(0.7) {
                body.extend_from_slice(if self.chance(0.2) { b"\r\n" } else { b"\n" });
            }
        }
        (body, must_accept)
    }
}

// =================================================================================
// Sending and checking

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A GraphQL answer (POST /graphql, GET /graphql?query=…).
    Graphql,
    /// An NDJSON ingest answer.
    Ndjson,
    /// Anything below 500; JSON checked only when labelled JSON.
    Any,
}

struct Request {
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    expect: Expect,
}

impl Request {
    fn post(path: &str, content_type: Option<&str>, body: Vec<u8>, expect: Expect) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            headers: content_type
                .map(|ct| vec![("content-type", ct.as_bytes().to_vec())])
                .unwrap_or_default(),
            body,
            expect,
        }
    }

    fn header(mut self, name: &'static str, value: Option<Vec<u8>>) -> Self {
        if let Some(value) = value {
            self.headers.push((name, value));
        }
        self
    }

    fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v);
                let v = if v.len() > 80 {
                    format!("{}…", v.chars().take(80).collect::<String>())
                } else {
                    v.into_owned()
                };
                format!("{n}: {v}")
            })
            .collect();
        format!(
            "{} {} [{}] body ({} bytes): {}",
            self.method,
            self.path.chars().take(600).collect::<String>(),
            headers.join("; "),
            self.body.len(),
            excerpt(&self.body, 1500)
        )
    }
}

fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.into_owned()
    }
}

struct Fuzzer {
    app: TestApp,
    raw: reqwest::Client,
    seed: u64,
    failures: Vec<String>,
    requests: usize,
    statuses: BTreeMap<u16, usize>,
    rejection_codes: BTreeSet<String>,
    /// GraphQL error codes seen, and answers that carried data: how far the
    /// generated documents get (parsing, validation, resolvers).
    error_codes: BTreeMap<String, usize>,
    with_data: usize,
}

fn is_json_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("application/json")
        || mime.eq_ignore_ascii_case("application/graphql-response+json")
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
    let object = response
        .as_object()
        .ok_or_else(|| format!("a GraphQL response that is not an object: {response}"))?;
    match object.get("errors") {
        Some(errors) => {
            let errors = errors
                .as_array()
                .ok_or_else(|| format!("`errors` is not a list: {response}"))?;
            if errors.is_empty() {
                return Err(format!("an empty `errors` list: {response}"));
            }
            for error in errors {
                if !error["message"].is_string() {
                    return Err(format!("an error without a message: {error}"));
                }
                check_code(error["extensions"]["code"].as_str(), error)?;
            }
            Ok(())
        }
        None if object.contains_key("data") => Ok(()),
        None => Err(format!("neither data nor errors: {response}")),
    }
}

fn non_blank_lines(body: &[u8]) -> Vec<usize> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(i, _)| i)
        .collect()
}

impl Fuzzer {
    async fn send(&mut self, request: &Request) -> Option<(u16, String, Vec<u8>)> {
        self.requests += 1;
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        let send = self
            .raw
            .request(request.method.clone(), self.app.url(&request.path))
            .headers(headers)
            .body(request.body.clone())
            .send();
        let response = match tokio::time::timeout(Duration::from_secs(30), send).await {
            Err(_) => {
                self.fail(request, "no answer within 30 s".into());
                return None;
            }
            // A body over the limit may be cut off while still uploading.
            Ok(Err(_)) if request.body.len() > 1_000_000 => return None,
            Ok(Err(e)) => {
                self.fail(request, format!("the connection failed: {e}"));
                return None;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(e) => {
                self.fail(
                    request,
                    format!("HTTP {status}; reading the body failed: {e}"),
                );
                return None;
            }
        };
        *self.statuses.entry(status).or_default() += 1;
        if status >= 500 {
            self.fail(request, format!("HTTP {status}: {}", excerpt(&body, 1000)));
            return None;
        }
        Some((status, content_type, body))
    }

    fn fail(&mut self, request: &Request, what: String) {
        self.failures.push(format!(
            "seed {} request #{}: {}\n    request: {}",
            self.seed,
            self.requests,
            excerpt(what.as_bytes(), 1500),
            request.describe()
        ));
    }

    /// Sends and checks a request; returns the JSON answer when there is one.
    async fn run(&mut self, request: Request) -> Option<Value> {
        let (status, content_type, body) = self.send(&request).await?;
        let path_only = request.path.split('?').next().unwrap_or_default();
        let json_promised = match request.expect {
            Expect::Graphql => true,
            Expect::Ndjson => path_only == "/v1/events",
            Expect::Any => {
                (path_only == "/graphql"
                    && (request.method == Method::POST
                        || (request.method == Method::GET && request.path.contains("query="))))
                    || (path_only == "/v1/events" && request.method == Method::POST)
            }
        };
        if !is_json_type(&content_type) {
            if json_promised {
                self.fail(
                    &request,
                    format!(
                        "HTTP {status} with content type {content_type:?}, not JSON: {}",
                        excerpt(&body, 500)
                    ),
                );
            }
            return None;
        }
        let value: Value = match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => {
                self.fail(
                    &request,
                    format!(
                        "HTTP {status} labelled {content_type} but not JSON ({e}): {}",
                        excerpt(&body, 500)
                    ),
                );
                return None;
            }
        };
        let checked = if path_only == "/graphql" {
            let responses = match &value {
                Value::Array(items) => items.iter().collect(),
                _ => vec![&value],
            };
            for response in responses {
                if response.get("data").is_some_and(|d| !d.is_null()) {
                    self.with_data += 1;
                }
                for error in response["errors"].as_array().into_iter().flatten() {
                    let code = error["extensions"]["code"].as_str().unwrap_or("(none)");
                    *self.error_codes.entry(code.to_owned()).or_default() += 1;
                }
            }
            match &value {
                Value::Array(items) => items.iter().try_for_each(check_graphql_response),
                _ => check_graphql_response(&value),
            }
        } else if path_only == "/v1/events" {
            self.check_ndjson(status, &value, &request.body, &[])
        } else {
            Ok(())
        };
        if let Err(what) = checked {
            self.fail(&request, format!("HTTP {status}: {what}"));
        }
        Some(value)
    }

    fn check_ndjson(
        &mut self,
        status: u16,
        answer: &Value,
        body: &[u8],
        must_accept: &[usize],
    ) -> Result<(), String> {
        if status != 200 {
            let error = &answer["error"];
            if !error["message"].is_string() {
                return Err(format!("an error without a message: {answer}"));
            }
            return check_code(error["code"].as_str(), answer);
        }
        let (Some(accepted), Some(duplicates), Some(rejected)) = (
            answer["accepted"].as_u64(),
            answer["duplicates"].as_u64(),
            answer["rejected"].as_array(),
        ) else {
            return Err(format!("not an ingest report: {answer}"));
        };
        let lines = non_blank_lines(body);
        let mut seen = BTreeSet::new();
        for rejection in rejected {
            let index = rejection["index"]
                .as_u64()
                .ok_or_else(|| format!("a rejection without an index: {rejection}"))?
                as usize;
            if !lines.contains(&index) || !seen.insert(index) {
                return Err(format!(
                    "rejection index {index} is not a distinct non-blank line: {rejection}"
                ));
            }
            let code = rejection["code"]
                .as_str()
                .ok_or_else(|| format!("a rejection without a code: {rejection}"))?;
            if !rejection["message"].is_string() {
                return Err(format!("a rejection without a message: {rejection}"));
            }
            if !rejection["messageId"].is_string() && !rejection["messageId"].is_null() {
                return Err(format!("a malformed messageId: {rejection}"));
            }
            self.rejection_codes.insert(code.to_owned());
            if must_accept.contains(&index) {
                return Err(format!(
                    "an untouched valid event was rejected: {rejection}"
                ));
            }
        }
        let counted = accepted + duplicates + rejected.len() as u64;
        if counted != lines.len() as u64 {
            return Err(format!(
                "{} non-blank lines, but the report counts {counted}: {answer}",
                lines.len()
            ));
        }
        Ok(())
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
    let now = chrono::Utc::now();
    let mut body = String::new();
    for i in 0..40 {
        let at = (now - chrono::Duration::hours(i + 1)).to_rfc3339();
        let (kind, extra) = match i % 5 {
            0 => ("PAGE_VIEW", json!({"assetId": "lp"})),
            1 => ("REGISTRATION", json!({"assetId": "web"})),
            2 => ("ATTENDANCE", json!({"assetId": "web", "value": 3300})),
            3 => ("STAGE_CHANGE", json!({"properties": {"to": "LEAD"}})),
            _ => ("QUESTION", json!({"assetId": "web"})),
        };
        let mut event = json!({
            "messageId": format!("seed-{i}"), "kind": kind, "occurredAt": at,
            "contactId": format!("p{}", i % 8), "organizationId": format!("org-{}", i % 3),
            "campaignId": "camp-1", "channel": "email",
        });
        event
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body.push_str(&event.to_string());
        body.push('\n');
    }
    let response = app.post_ndjson(WORKSPACE, body).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["accepted"], 40, "{report:#}");
}

fn graphql_body(document: &str, variables: &Value, operation_name: Option<&str>) -> Vec<u8> {
    let mut request = json!({ "query": document, "variables": variables });
    if let Some(name) = operation_name {
        request["operationName"] = json!(name);
    }
    request.to_string().into_bytes()
}

/// Hand-made deep, wide and large documents.
fn special_documents() -> Vec<(&'static str, String, Value)> {
    let history = format!(
        "{{ kpiScripts(workspace: \"fuzz\") {{ nodes {{ {} key {} }} }} }}",
        "history { ".repeat(40),
        "}".repeat(40)
    );
    let aliases: String = (0..1000)
        .map(|i| format!("a{i}: viewer {{ role }} "))
        .collect();
    let fragment_bomb = {
        let mut text = String::from("query { ...F20 }\nfragment F0 on Query { viewer { role } }\n");
        for i in 1..=20 {
            text.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} viewer {{ role }} }}\n",
                i - 1,
                i - 1
            ));
        }
        text
    };
    let many_variables = {
        let defs: Vec<String> = (0..5000).map(|i| format!("$v{i}: Int")).collect();
        format!("query({}) {{ viewer {{ role }} }}", defs.join(", "))
    };
    let nested_json_vars = {
        let mut value = json!(1);
        for _ in 0..100 {
            value = json!({ "a": value });
        }
        value
    };
    vec![
        ("deep selection", format!("{{ {} }}", nested("a { ", "} ", "b", 5_000)), json!({})),
        (
            "deep list literal",
            format!("{{ kpis(workspace: \"fuzz\", filter: {}) {{ clicks }} }}", nested("[", "]", "", 20_000)),
            json!({}),
        ),
        (
            "deep object literal",
            format!(
                "{{ previewKpiScript(workspace: \"fuzz\", source: \"1\", params: {}) {{ aggregate {{ count }} }} }}",
                nested("{a: ", "}", "1", 10_000)
            ),
            json!({}),
        ),
        (
            "deep inline fragments",
            format!("{{ {} }}", nested("... on Query { ", "} ", "viewer { role }", 5_000)),
            json!({}),
        ),
        ("deep history", history, json!({})),
        ("1000 aliases", format!("{{ {aliases} }}"), json!({})),
        (
            "10000 identical fields",
            format!("{{ {} }}", "kpiCatalog { key } ".repeat(10_000)),
            json!({}),
        ),
        ("fragment bomb", fragment_bomb, json!({})),
        (
            "fragment cycle",
            "query { ...A } fragment A on Query { ...B viewer { role } } fragment B on Query { ...A }".into(),
            json!({}),
        ),
        ("5000 variables", many_variables, json!({})),
        (
            "1000 directives",
            format!("{{ viewer {} {{ role }} }}", "@skip(if: false) ".repeat(1_000)),
            json!({}),
        ),
        (
            "deep JSON variable",
            "query($p: JSON) { previewKpiScript(workspace: \"fuzz\", source: \"params.a.a\", params: $p) { aggregate { count } errors { code } } }".into(),
            json!({ "p": nested_json_vars }),
        ),
        (
            "huge page sizes",
            "{ events(workspace: \"fuzz\", first: 2147483647) { nodes { messageId } } hourglass(workspace: \"fuzz\", shortListSize: 2147483647) { bottom { organizationCount } } }".into(),
            json!({}),
        ),
        (
            "huge string",
            format!("{{ validateKpiScript(source: {}) {{ valid }} }}", quote(&"1+".repeat(400_000))),
            json!({}),
        ),
        (
            "script bombs",
            "{ a: previewKpiScript(workspace: \"fuzz\", source: \"loop {}\") { errors { code } }
               b: previewKpiScript(workspace: \"fuzz\", source: \"fn f(n) { f(n + 1) } f(0)\") { errors { code } }
               c: previewKpiScript(workspace: \"fuzz\", source: \"let s = \\\"ab\\\"; loop { s += s; }\") { errors { code } }
               d: previewKpiScript(workspace: \"fuzz\", source: \"let a = []; loop { a.push(a.len()); }\") { errors { code } } }".into(),
            json!({}),
        ),
        (
            "NUL in a workspace slug",
            "{ workspace(slug: \"a\\u0000b\") { slug } }".into(),
            json!({}),
        ),
        (
            "NUL in a name",
            "mutation { createOrganization(workspace: \"fuzz\", input: {id: \"nul-org\", name: \"a\\u0000b\"}) { id } }".into(),
            json!({}),
        ),
        (
            "NUL in a filter",
            "{ kpis(workspace: \"fuzz\", filter: {channel: \"a\\u0000b\"}) { clicks } }".into(),
            json!({}),
        ),
        (
            "NUL in an event property",
            "mutation { ingestEvents(workspace: \"fuzz\", events: [{messageId: \"gql-nul\", kind: QUESTION, occurredAt: \"2026-11-01T10:00:00Z\", contactId: \"p1\", properties: {text: \"a\\u0000b\"}}]) { accepted rejected { code } } }".into(),
            json!({}),
        ),
        (
            "spend near f64::MAX, recorded",
            "mutation { w: createWorkspace(slug: \"fuzz-spend\", name: \"Spend\") { slug }
               c: createCampaign(workspace: \"fuzz-spend\", input: {id: \"c\", name: \"C\", goal: FIND}) { id }
               a: recordSpend(workspace: \"fuzz-spend\", campaign: \"c\", channel: \"a\", day: \"2026-11-01\", amount: 1e308) { amount }
               b: recordSpend(workspace: \"fuzz-spend\", campaign: \"c\", channel: \"b\", day: \"2026-11-01\", amount: 1e308) { amount } }".into(),
            json!({}),
        ),
        (
            "spend near f64::MAX, reported",
            "{ kpis(workspace: \"fuzz-spend\") { clicks spend } hourglass(workspace: \"fuzz-spend\") { top { spend } } }".into(),
            json!({}),
        ),
        (
            "non-finite floats",
            "mutation { recordSpend(workspace: \"fuzz\", campaign: \"camp-1\", channel: \"email\", day: \"2026-11-01\", amount: 1e309) { amount }
               updateWorkspace(slug: \"fuzz\", input: {fullStayThreshold: 1e309}) { fullStayThreshold } }".into(),
            json!({}),
        ),
    ]
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
    let schema = Schema::parse(SCHEMA);
    let mut g = Gen::new(seed, &schema);
    let key = app.key.clone();
    let mut f = Fuzzer {
        app,
        raw: reqwest::Client::new(),
        seed,
        failures: Vec::new(),
        requests: 0,
        statuses: BTreeMap::new(),
        rejection_codes: BTreeSet::new(),
        error_codes: BTreeMap::new(),
        with_data: 0,
    };
    let within_budget = |started: Instant| started.elapsed() < SOFT_BUDGET;

    // (1a) generated documents, POSTed as JSON.
    for _ in 0..GENERATED_DOCUMENTS {
        if !within_budget(started) {
            break;
        }
        let (document, variables, operation_name) = g.document();
        let accept = g.accept();
        let content_type = if g.chance(0.95) {
            "application/json"
        } else {
            g.pick(&[
                "application/json; charset=utf-8",
                "APPLICATION/JSON",
                "text/plain",
                "application/graphql",
            ])
        };
        let auth = g.authorization(&key);
        let request = Request::post(
            "/graphql",
            Some(content_type),
            graphql_body(&document, &variables, operation_name.as_deref()),
            Expect::Graphql,
        )
        .header("authorization", auth)
        .header("accept", accept.map(|a| a.as_bytes().to_vec()));
        f.run(request).await;
    }

    // (1b) generated documents over GET.
    for _ in 0..GET_DOCUMENTS {
        if !within_budget(started) {
            break;
        }
        let (document, variables, operation_name) = g.document();
        let mut path = format!("/graphql?query={}", percent_encode(document.as_bytes()));
        if g.chance(0.7) {
            path.push_str(&format!(
                "&variables={}",
                percent_encode(variables.to_string().as_bytes())
            ));
        }
        if let Some(name) = operation_name {
            path.push_str(&format!(
                "&operationName={}",
                percent_encode(name.as_bytes())
            ));
        }
        if g.chance(0.1) {
            path.push_str(g.pick(&["&variables=%7B", "&query=%7B", "&%FF=%FF", "&variables=[1]"]));
        }
        if path.len() > 60_000 {
            // Longer than the client's URI limit (64 KiB); the case cannot be sent.
            continue;
        }
        let auth = g.authorization(&key);
        let accept = g.accept();
        let request = Request {
            method: Method::GET,
            path,
            headers: Vec::new(),
            body: Vec::new(),
            expect: Expect::Graphql,
        }
        .header("authorization", auth)
        .header("accept", accept.map(|a| a.as_bytes().to_vec()));
        f.run(request).await;
    }

    // (1c) odd envelopes around valid or generated documents.
    for _ in 0..ENVELOPES {
        if !within_budget(started) {
            break;
        }
        let (document, variables, _) = g.document();
        let body = match g.rng.random_range(0..12) {
            0 => json!({ "query": document, "variables": g.pick(&["str", "", "null"]) }),
            1 => json!({ "query": document, "variables": [1, 2] }),
            2 => json!({ "query": 123 }),
            3 => json!({ "query": null }),
            4 => json!({}),
            5 => json!([]),
            6 => {
                let n = g.rng.random_range(1..=12);
                let items: Vec<Value> = (0..n)
                    .map(|_| {
                        let (document, variables, name) = g.document();
                        json!({ "query": document, "variables": variables, "operationName": name })
                    })
                    .collect();
                Value::Array(items)
            }
            7 => json!({ "query": document, "variables": variables, "operationName": 5 }),
            8 => {
                json!({ "query": document, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "abc" } } })
            }
            9 => json!({ "query": document, "variables": variables, "extra": g.random_json(0) }),
            10 => json!([[{ "query": document }]]),
            _ => json!({ "query": [document] }),
        };
        let request = Request::post(
            "/graphql",
            Some("application/json"),
            body.to_string().into_bytes(),
            Expect::Graphql,
        )
        .header("authorization", Some(format!("Bearer {key}").into_bytes()));
        f.run(request).await;
    }

    // (1d) byte-level garbage bodies.
    for i in 0..GARBAGE_BODIES {
        if !within_budget(started) {
            break;
        }
        let valid = graphql_body("{ viewer { role } }", &json!({}), None);
        let body = match i % 9 {
            0 => g.garbage(2_000),
            1 => g.random_json(0).to_string().into_bytes(),
            2 => {
                let cut = g.rng.random_range(0..valid.len());
                valid[..cut].to_vec()
            }
            3 => b"{\"query\":\"{ viewer { role \xff\xfe } }\"}".to_vec(),
            4 => [&b"\xef\xbb\xbf"[..], &valid].concat(),
            5 => b"{\"query\":\"{ viewer { role } }\",\"query\":\"{ workspaces { slug } }\"}"
                .to_vec(),
            6 => nested("[", "]", "", 100_000).into_bytes(),
            7 => {
                let mut body = b"{\"query\":\"".to_vec();
                body.resize(1_200_000, b'a');
                body.extend_from_slice(b"\"}");
                body
            }
            _ => {
                let mut body = valid.clone();
                let at = g.rng.random_range(0..body.len());
                body[at] = g.rng.random();
                body
            }
        };
        let request = Request::post("/graphql", Some("application/json"), body, Expect::Graphql)
            .header("authorization", Some(format!("Bearer {key}").into_bytes()));
        f.run(request).await;
    }

    // (1e) methods, paths and content types at random.
    for _ in 0..METHOD_MIXES {
        if !within_budget(started) {
            break;
        }
        let method = match g.rng.random_range(0..9) {
            0 => Method::GET,
            1 | 2 => Method::POST,
            3 => Method::PUT,
            4 => Method::DELETE,
            5 => Method::PATCH,
            6 => Method::OPTIONS,
            7 => Method::HEAD,
            _ => Method::from_bytes(g.pick(&[&b"FOO"[..], b"PROPFIND", b"X-GRAPHQL"])).unwrap(),
        };
        let path = g
            .pick(&[
                "/graphql",
                "/graphql?query=%7Bviewer%7Brole%7D%7D",
                "/graphql?query=",
                "/graphql?query=%ZZ",
                "/graphql?query=mutation%7BcreateWorkspace(slug:%22g%22,name:%22g%22)%7Bslug%7D%7D",
                "/v1/events",
                "/v1/events?workspace=fuzz",
                "/v1/events?workspace=",
                "/v1/events?workspace=%FF",
                "/v1/events?workspace=nope",
                "/v1/events?workspace=fuzz&workspace=x",
                "/health",
                "/assets/graphiql/graphiql.min.css",
                "/assets/graphiql/..%2F..%2FCargo.toml",
                "/assets/graphiql/nope.js",
                "/",
                "/nope",
                "//graphql",
                "/graphql/",
            ])
            .to_owned();
        let content_type: Option<Vec<u8>> = match g.rng.random_range(0..11) {
            0 => None,
            1 | 2 => Some(b"application/json".to_vec()),
            3 => Some(b"application/json; charset=utf-8".to_vec()),
            4 | 5 => Some(b"application/x-ndjson".to_vec()),
            6 => Some(b"text/plain".to_vec()),
            7 => Some(b"multipart/form-data; boundary=x".to_vec()),
            8 => Some(b"application/json;;;".to_vec()),
            9 => Some(b"\x80\xffweird".to_vec()),
            _ => Some(b"application/graphql".to_vec()),
        };
        let body = match g.rng.random_range(0..4) {
            0 => Vec::new(),
            1 => graphql_body("{ viewer { role } }", &json!({}), None),
            2 => g.ndjson_line("mix").0,
            _ => g.garbage(300),
        };
        let auth = g.authorization(&key);
        let accept = g.accept();
        let mut request = Request {
            method,
            path,
            headers: Vec::new(),
            body,
            expect: Expect::Any,
        }
        .header("authorization", auth)
        .header("accept", accept.map(|a| a.as_bytes().to_vec()))
        .header("content-type", content_type);
        if g.chance(0.2) {
            request = request.header(
                "x-request-id",
                Some(
                    g.pick(&[&b"abc-123"[..], b"", b"\xff", &[b'r'; 500]])
                        .to_vec(),
                ),
            );
        }
        f.run(request).await;
    }

    // (1f) deep, wide and large documents.
    for (name, document, variables) in special_documents() {
        let request = Request::post(
            "/graphql",
            Some("application/json"),
            graphql_body(&document, &variables, None),
            Expect::Graphql,
        )
        .header("authorization", Some(format!("Bearer {key}").into_bytes()));
        let before = Instant::now();
        f.run(request).await;
        if before.elapsed() > Duration::from_secs(5) {
            eprintln!("{backend:?}: the {name} case took {:?}", before.elapsed());
        }
    }

    // (2a) Hand-made NDJSON: a valid event next to one carrying U+0000, which the
    // database may not store; the valid one must be stored and the other rejected
    // alone, never the whole request failing.
    let valid = json!({"messageId": format!("nul-ok-{seed}"), "kind": "PAGE_VIEW", "occurredAt": chrono::Utc::now().to_rfc3339(), "contactId": "p1"});
    let nul_value = json!({"messageId": format!("nul-value-{seed}"), "kind": "QUESTION", "occurredAt": chrono::Utc::now().to_rfc3339(), "contactId": "p1", "properties": {"text": "a\u{0}b"}});
    let nul_key = json!({"messageId": format!("nul-key-{seed}"), "kind": "PAGE_VIEW", "occurredAt": chrono::Utc::now().to_rfc3339(), "contactId": "p1", "properties": {"a\u{0}": "x"}});
    for (path, body, must_accept) in [
        (
            format!("/v1/events?workspace={WORKSPACE}"),
            format!("{valid}\n{nul_value}\n{nul_key}\n"),
            vec![0],
        ),
        (
            "/v1/events?workspace=a%00b".to_owned(),
            format!("{valid}\n"),
            vec![],
        ),
    ] {
        let request = Request::post(
            &path,
            Some("application/x-ndjson"),
            body.into_bytes(),
            Expect::Ndjson,
        )
        .header("authorization", Some(format!("Bearer {key}").into_bytes()));
        if let Some((status, content_type, answer)) = f.send(&request).await {
            match serde_json::from_slice::<Value>(&answer) {
                Ok(answer) if is_json_type(&content_type) => {
                    if let Err(what) = f.check_ndjson(status, &answer, &request.body, &must_accept)
                    {
                        f.fail(&request, format!("HTTP {status}: {what}"));
                    }
                }
                _ => f.fail(
                    &request,
                    format!("HTTP {status}: not JSON: {}", excerpt(&answer, 300)),
                ),
            }
        }
    }

    // (2b) NDJSON bodies.
    for case in 0..NDJSON_BODIES {
        if !within_budget(started) {
            break;
        }
        let (body, must_accept) = g.ndjson_body(case);
        let standard = g.chance(0.88);
        let path = if standard {
            format!("/v1/events?workspace={WORKSPACE}")
        } else {
            g.pick(&[
                "/v1/events",
                "/v1/events?workspace=nope",
                "/v1/events?workspace=",
                "/v1/events?workspace=%FF%FE",
                "/v1/events?workspace=fuzz&x=1",
            ])
            .to_owned()
        };
        let content_type = if g.chance(0.9) {
            Some("application/x-ndjson")
        } else {
            *[
                Some("application/ndjson"),
                Some("application/jsonl"),
                Some("application/x-ndjson; charset=utf-8"),
                Some("application/json"),
                Some("text/plain"),
                None,
            ]
            .choose(&mut g.rng)
            .unwrap()
        };
        let auth = if standard {
            Some(format!("Bearer {key}").into_bytes())
        } else {
            g.authorization(&key)
        };
        let request =
            Request::post(&path, content_type, body, Expect::Ndjson).header("authorization", auth);
        let Some((status, content_type, answer)) = f.send(&request).await else {
            continue;
        };
        if !is_json_type(&content_type) {
            f.fail(
                &request,
                format!("HTTP {status} with content type {content_type:?}"),
            );
            continue;
        }
        let answer: Value = match serde_json::from_slice(&answer) {
            Ok(answer) => answer,
            Err(e) => {
                f.fail(
                    &request,
                    format!("HTTP {status}: not JSON ({e}): {}", excerpt(&answer, 500)),
                );
                continue;
            }
        };
        if let Err(what) = f.check_ndjson(status, &answer, &request.body, &must_accept) {
            f.fail(&request, format!("HTTP {status}: {what}"));
        }
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
    let response = app
        .post_ndjson(
            WORKSPACE,
            json!({"messageId": format!("after-{seed}"), "kind": "PAGE_VIEW", "occurredAt": chrono::Utc::now().to_rfc3339(), "contactId": "p1"}).to_string(),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["accepted"], 1);
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    eprintln!(
        "{backend:?}: {} requests in {:.1} s; statuses {:?}; GraphQL answers with data: {}; \
         GraphQL error codes {:?}; NDJSON rejection codes {:?}",
        f.requests,
        started.elapsed().as_secs_f64(),
        f.statuses,
        f.with_data,
        f.error_codes,
        f.rejection_codes
    );
    assert!(
        f.failures.is_empty(),
        "{} of {} fuzz requests broke a rule (seed {seed}; replay with FUZZ_SEED={seed}):\n{}",
        f.failures.len(),
        f.requests,
        f.failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
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
