//! Script errors: three kinds, each with a message a non-programmer can act on and the
//! line and column where the script went wrong, when there is one.
//!
//! `compile` only ever returns [`ScriptErrorKind::Compile`]; `run` returns
//! [`ScriptErrorKind::Runtime`] or [`ScriptErrorKind::LimitExceeded`].

use std::fmt;
use std::time::Duration;

use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

use super::convert::INPUT_NAMES;
use super::library::HELPERS;
use super::limits::ScriptLimits;

/// What went wrong, as the API's error codes say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptErrorKind {
    /// The script is not valid: syntax, an unknown variable, a disabled feature.
    Compile,
    /// The script failed while running: a bad return value, an unknown function, a type error.
    Runtime,
    /// The script hit a sandbox limit: time, operations, recursion, size.
    LimitExceeded,
}

impl ScriptErrorKind {
    /// The public error code.
    pub fn code(self) -> &'static str {
        match self {
            ScriptErrorKind::Compile => "SCRIPT_COMPILE_ERROR",
            ScriptErrorKind::Runtime => "SCRIPT_RUNTIME_ERROR",
            ScriptErrorKind::LimitExceeded => "SCRIPT_LIMIT_EXCEEDED",
        }
    }
}

/// A script error with its position (1-based line and column) where one exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub kind: ScriptErrorKind,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

impl ScriptError {
    pub(crate) fn new(kind: ScriptErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            line: None,
            column: None,
        }
    }

    fn at(mut self, pos: Position) -> Self {
        self.line = pos.line();
        self.column = pos.position();
        self
    }

    /// A compile error from Rhai's parser.
    pub(crate) fn from_parse(err: &ParseError, limits: &ScriptLimits) -> Self {
        let message = match err.0.as_ref() {
            ParseErrorType::VariableUndefined(name) => unknown_variable(name),
            ParseErrorType::Reserved(word) if matches!(word.as_str(), "import" | "export") => {
                format!("`{word}` is not available: KPI scripts cannot load modules")
            }
            ParseErrorType::Reserved(word) => {
                format!("'{word}' is a reserved word; use another name")
            }
            ParseErrorType::BadInput(rhai::LexError::ImproperSymbol(sym, _)) if sym == "eval" => {
                "`eval` is not available in KPI scripts: write the code directly".to_owned()
            }
            ParseErrorType::ExprTooDeep => format!(
                "expressions are nested more than {} levels deep ({} inside functions); \
                 split the expression into steps with `let`",
                limits.max_expr_depth,
                limits.function_expr_depth()
            ),
            other => other.to_string(),
        };
        Self::new(ScriptErrorKind::Compile, message).at(err.1)
    }

    /// A run-time error from Rhai, with what the run knows about why it was stopped.
    pub(crate) fn from_eval(err: EvalAltResult, ctx: &StopContext<'_>) -> Self {
        from_eval_inner(err, ctx, 0)
    }
}

/// What a run knows when mapping a termination to a message.
pub(crate) struct StopContext<'a> {
    pub limits: &'a ScriptLimits,
    /// The query-wide deadline came before the per-organization one.
    pub query_deadline_first: bool,
    pub elapsed: Duration,
}

/// An error raised by one of our helper functions; its message is shown as is.
#[derive(Debug, Clone)]
pub(crate) struct HelperError(pub String);

/// Makes a helper's error.
pub(crate) fn helper_error(message: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        rhai::Dynamic::from(HelperError(message.into())),
        Position::NONE,
    )
    .into()
}

fn from_eval_inner(mut err: EvalAltResult, ctx: &StopContext<'_>, depth: usize) -> ScriptError {
    use EvalAltResult as E;
    use ScriptErrorKind::{LimitExceeded, Runtime};
    let limits = ctx.limits;
    let pos = err.position();
    let (kind, message) = match err {
        E::ErrorInFunctionCall(name, _, inner, call_pos) if depth < 64 => {
            let mut e = from_eval_inner(*inner, ctx, depth + 1);
            if e.line.is_none() {
                e = e.at(call_pos);
            }
            if !name.starts_with("anon$") && !e.message.contains("(in function") {
                e.message = format!("{} (in function `{name}`)", e.message);
            }
            return e;
        }
        E::ErrorTerminated(..) => {
            let ms = ctx.elapsed.as_millis();
            let message = if ctx.query_deadline_first {
                format!("the script was stopped after {ms} ms: the query ran out of time")
            } else {
                format!(
                    "the script ran longer than {} ms (the limit per organization)",
                    limits.per_org_timeout.as_millis()
                )
            };
            (LimitExceeded, message)
        }
        E::ErrorTooManyOperations(_) => (
            LimitExceeded,
            format!(
                "the script ran more than {} operations",
                limits.max_operations
            ),
        ),
        E::ErrorStackOverflow(_) => (
            LimitExceeded,
            format!(
                "recursion deeper than {} calls: a function keeps calling itself",
                limits.max_call_levels
            ),
        ),
        E::ErrorTooManyVariables(_) => (
            LimitExceeded,
            format!(
                "more than {} variables at once",
                super::limits::MAX_VARIABLES
            ),
        ),
        E::ErrorDataTooLarge(ref what, _) => (LimitExceeded, too_large(what, limits)),
        E::ErrorFunctionNotFound(ref sig, _) => (Runtime, function_not_found(sig)),
        E::ErrorRuntime(ref value, _) => match value.clone().try_cast::<HelperError>() {
            Some(HelperError(message)) => (Runtime, message),
            None => (Runtime, format!("the script threw: {value}")),
        },
        E::ErrorMismatchDataType(ref expected, ref actual, _) => (
            Runtime,
            format!(
                "expected {} but got {}",
                type_phrase(expected),
                type_phrase(actual)
            ),
        ),
        E::ErrorArrayBounds(len, index, _) => (
            Runtime,
            format!("index {index} is outside the list, which has {len} items"),
        ),
        E::ErrorAssignmentToConstant(ref name, _)
        | E::ErrorNonPureMethodCallOnConstant(ref name, _)
            if INPUT_NAMES.contains(&name.as_str()) =>
        {
            (
                Runtime,
                format!(
                    "`{name}` is an input and cannot be changed; copy it first: `let my_{name} = {name};`"
                ),
            )
        }
        E::ErrorFor(_) => (
            Runtime,
            "`for` needs a list, a range or a string to loop over".to_owned(),
        ),
        _ => {
            err.set_position(Position::NONE);
            (Runtime, err.to_string())
        }
    };
    ScriptError::new(kind, message).at(pos)
}

fn too_large(what: &str, limits: &ScriptLimits) -> String {
    if what.contains("string") {
        format!(
            "a string grew beyond {} bytes (strings inside one list or map count together)",
            limits.max_string_size
        )
    } else if what.contains("array") {
        format!(
            "an array grew beyond {} items (nested arrays count together)",
            limits.max_array_size
        )
    } else if what.contains("map") {
        format!(
            "a map grew beyond {} entries (nested maps count together)",
            limits.max_map_size
        )
    } else {
        format!("a value grew too large ({what})")
    }
}

/// "foo (i64, string)" -> a sentence with friendly type names and a hint.
fn function_not_found(signature: &str) -> String {
    let (name, args) = match signature.find(" (") {
        Some(i) => (&signature[..i], &signature[i + 1..]),
        None => (signature, "()"),
    };
    let args = args
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(type_name)
        .collect::<Vec<_>>()
        .join(", ");
    let name = name.trim_start_matches("get$").trim_start_matches("set$");
    if matches!(
        name,
        "timestamp" | "time" | "sleep" | "now" | "today" | "date" | "clock"
    ) {
        return format!(
            "there is no function `{name}`: scripts have no clock; use `now` \
             (the end of the filter, in milliseconds since 1970)"
        );
    }
    if let Some((_, usage)) = HELPERS.iter().find(|(n, _)| *n == name) {
        return format!("`{name}` cannot take ({args}); use it as {usage}");
    }
    let mut message = format!("there is no function `{name}` that takes ({args})");
    if let Some(best) = closest(name, HELPERS.iter().map(|(n, _)| *n)) {
        message.push_str(&format!("; did you mean `{best}`?"));
    }
    message
}

fn unknown_variable(name: &str) -> String {
    let mut message = format!("unknown variable `{name}`");
    if let Some(best) = closest(name, INPUT_NAMES.iter().copied()) {
        message.push_str(&format!(" (did you mean `{best}`?)"));
    }
    message.push_str(&format!(
        ". A script can use {} and the variables it declares with `let`",
        INPUT_NAMES.join(", ")
    ));
    message
}

/// Rhai's type names as a script author knows them.
pub(crate) fn type_name(raw: &str) -> &str {
    use super::records::{AssetMap, ContactList, EventList};
    if raw == std::any::type_name::<EventList>() {
        return "event list";
    }
    if raw == std::any::type_name::<ContactList>() {
        return "contact list";
    }
    if raw == std::any::type_name::<AssetMap>() {
        return "asset map";
    }
    match raw {
        "i64" | "i32" | "INT" => "integer",
        "f64" | "f32" | "FLOAT" => "float",
        "ImmutableString" | "&str" | "String" | "string" => "string",
        "()" => "nothing",
        "Array" => "array",
        "Map" => "map",
        other => other.rsplit("::").next().unwrap_or(other),
    }
}

fn type_phrase(raw: &str) -> String {
    let name = type_name(raw);
    match name {
        "nothing" => "nothing (`()`)".to_owned(),
        n if n.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {n}"),
        n => format!("a {n}"),
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d > 0 && *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_the_public_ones() {
        assert_eq!(ScriptErrorKind::Compile.code(), "SCRIPT_COMPILE_ERROR");
        assert_eq!(ScriptErrorKind::Runtime.code(), "SCRIPT_RUNTIME_ERROR");
        assert_eq!(
            ScriptErrorKind::LimitExceeded.code(),
            "SCRIPT_LIMIT_EXCEEDED"
        );
    }

    #[test]
    fn typos_find_the_closest_name_and_nothing_far_away() {
        assert_eq!(
            closest("evnts", INPUT_NAMES.iter().copied()),
            Some("events")
        );
        assert_eq!(
            closest("contcts", INPUT_NAMES.iter().copied()),
            Some("contacts")
        );
        assert_eq!(closest("banana", INPUT_NAMES.iter().copied()), None);
    }

    #[test]
    fn display_puts_the_position_first() {
        let mut e = ScriptError::new(ScriptErrorKind::Runtime, "boom");
        e.line = Some(3);
        e.column = Some(7);
        assert_eq!(e.to_string(), "line 3, column 7: boom");
    }
}
