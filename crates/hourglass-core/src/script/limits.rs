//! The sandbox's limits and their safe defaults.

use std::time::Duration;

/// How far one run of a script may go. Every limit is enforced; none can be turned off:
/// a `0` (or a zero timeout) stands for the default, and the depth limits are capped
/// so that a deep script cannot overflow a thread's stack.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptLimits {
    /// Rhai operations (roughly: expressions and statements evaluated) per organization.
    pub max_operations: u64,
    /// Nesting depth of expressions at the top level of a script. Function bodies get
    /// half of it: they nest inside calls.
    pub max_expr_depth: usize,
    /// Depth of function calls (recursion).
    pub max_call_levels: usize,
    /// Largest string a script may build, in bytes (strings inside one array or map add up).
    pub max_string_size: usize,
    /// Most items in an array a script builds (nested arrays add up).
    pub max_array_size: usize,
    /// Most entries in a map a script builds (nested maps add up).
    pub max_map_size: usize,
    /// Wall-clock time per organization.
    pub per_org_timeout: Duration,
    /// `print`/`debug` lines kept per organization.
    pub max_log_lines: usize,
}

/// The highest call depth accepted: deeper recursion risks the thread's stack.
pub(crate) const MAX_CALL_LEVELS_CAP: usize = 256;
/// The highest expression depth accepted, for the same reason.
pub(crate) const MAX_EXPR_DEPTH_CAP: usize = 256;
/// Variables alive at once in one run.
pub(crate) const MAX_VARIABLES: usize = 1_000;
/// Functions a script may define.
pub(crate) const MAX_FUNCTIONS: usize = 256;
/// Longest source `compile` accepts (the API refuses far less; this guards direct callers).
pub(crate) const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// Longest `print`/`debug` line kept; longer ones are cut.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 2_000;

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            max_operations: 5_000_000,
            max_expr_depth: 64,
            max_call_levels: 64,
            max_string_size: 1024 * 1024,
            max_array_size: 50_000,
            max_map_size: 50_000,
            per_org_timeout: Duration::from_millis(500),
            max_log_lines: 100,
        }
    }
}

impl ScriptLimits {
    /// The limits an engine actually enforces: zeros replaced by defaults, depths capped.
    pub(crate) fn sanitized(&self) -> Self {
        let d = Self::default();
        let or = |v: usize, default: usize| if v == 0 { default } else { v };
        Self {
            max_operations: if self.max_operations == 0 {
                d.max_operations
            } else {
                self.max_operations
            },
            max_expr_depth: or(self.max_expr_depth, d.max_expr_depth).min(MAX_EXPR_DEPTH_CAP),
            max_call_levels: or(self.max_call_levels, d.max_call_levels).min(MAX_CALL_LEVELS_CAP),
            max_string_size: or(self.max_string_size, d.max_string_size),
            max_array_size: or(self.max_array_size, d.max_array_size),
            max_map_size: or(self.max_map_size, d.max_map_size),
            per_org_timeout: if self.per_org_timeout.is_zero() {
                d.per_org_timeout
            } else {
                self.per_org_timeout
            },
            max_log_lines: self.max_log_lines,
        }
    }

    /// Expression depth inside function bodies.
    pub(crate) fn function_expr_depth(&self) -> usize {
        (self.max_expr_depth / 2).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_fall_back_to_defaults_instead_of_unlimited() {
        let zero = ScriptLimits {
            max_operations: 0,
            max_expr_depth: 0,
            max_call_levels: 0,
            max_string_size: 0,
            max_array_size: 0,
            max_map_size: 0,
            per_org_timeout: Duration::ZERO,
            max_log_lines: 0,
        };
        let s = zero.sanitized();
        let d = ScriptLimits::default();
        assert_eq!(s.max_operations, d.max_operations);
        assert_eq!(s.max_expr_depth, d.max_expr_depth);
        assert_eq!(s.max_array_size, d.max_array_size);
        assert_eq!(s.per_org_timeout, d.per_org_timeout);
        assert_eq!(s.max_log_lines, 0, "no logs is a legitimate choice");
    }

    #[test]
    fn depth_limits_are_capped_to_protect_the_stack() {
        let huge = ScriptLimits {
            max_expr_depth: 100_000,
            max_call_levels: 100_000,
            ..ScriptLimits::default()
        };
        let s = huge.sanitized();
        assert_eq!(s.max_expr_depth, MAX_EXPR_DEPTH_CAP);
        assert_eq!(s.max_call_levels, MAX_CALL_LEVELS_CAP);
        assert_eq!(s.function_expr_depth(), MAX_EXPR_DEPTH_CAP / 2);
    }
}

/// When a query's script runs stop: at the query's deadline, or at their next check
/// once the request they answer has been abandoned (its client went away, or it
/// was stopped at its time limit), so that nobody's work holds a slot.
#[derive(Debug, Clone)]
pub struct QueryDeadline {
    at: std::time::Instant,
    abandoned: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl QueryDeadline {
    pub fn new(at: std::time::Instant) -> Self {
        Self {
            at,
            abandoned: Default::default(),
        }
    }

    pub fn at(&self) -> std::time::Instant {
        self.at
    }

    /// Stops every run of the query at its next check.
    pub fn abandon(&self) {
        self.abandoned
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether runs must stop now.
    pub fn has_passed(&self) -> bool {
        self.is_abandoned() || std::time::Instant::now() >= self.at
    }
}
