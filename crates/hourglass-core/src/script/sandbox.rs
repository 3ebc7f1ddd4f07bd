//! Per-run state and the engine hooks that use it.
//!
//! One engine serves many threads, so what belongs to a run (its deadline, what it
//! printed, when to next measure its data) lives in thread-locals that [`RunGuard`]
//! sets at the start of a run and clears however the run ends.
//!
//! The hooks:
//! - `on_progress` (every operation) records the operation count and, every
//!   [`CLOCK_EVERY_OPS`] operations, reads the clock and ends a run past its deadline;
//! - `on_print`/`on_debug` keep lines in the run's log, capped;
//! - `on_var` (every variable access) now and then measures the variables a script
//!   built. Rhai checks sizes after most operations, but not when `m[key] = value` adds
//!   a key to a map: a loop doing that could hold gigabytes before the deadline. The
//!   measurement is amortized (its cost is spread over the operations that follow), so
//!   it stays cheap however large the script's data.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use rhai::{Dynamic, Engine, EvalAltResult, EvalContext, Position};

use super::limits::{MAX_LOG_LINE_BYTES, QueryDeadline};

/// The clock is read once every this many operations.
const CLOCK_EVERY_OPS: u64 = 128;
/// Operations between two measurements of a script's variables, at least...
const MEASURE_MIN_GAP_OPS: u64 = 32;
/// ... and at least the measured size divided by this.
const MEASURE_AMORTIZE: u64 = 4;

thread_local! {
    /// The deadline of the run on this thread, if one is running.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The query of the run on this thread, abandoned or not.
    static QUERY: RefCell<Option<QueryDeadline>> = const { RefCell::new(None) };
    /// Operations the run on this thread has done so far.
    static OPS: Cell<u64> = const { Cell::new(0) };
    /// The operation count at which the run's variables are next measured.
    static MEASURE_AT: Cell<u64> = const { Cell::new(0) };
    /// Whether the run's scope held shared values at the last measurement.
    static HAS_SHARED: Cell<bool> = const { Cell::new(false) };
    /// When each shared variable is next measured, by name.
    static SHARED_AT: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
    /// What the run on this thread printed.
    static LOGS: RefCell<LogBuffer> = const {
        RefCell::new(LogBuffer { lines: Vec::new(), dropped: 0, max: 0 })
    };
}

struct LogBuffer {
    lines: Vec<String>,
    dropped: usize,
    max: usize,
}

fn push_log(line: String) {
    LOGS.with_borrow_mut(|buf| {
        if buf.lines.len() >= buf.max {
            buf.dropped += 1;
            return;
        }
        let line = if line.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &line[..cut])
        } else {
            line
        };
        buf.lines.push(line);
    });
}

/// Ends a script that is past its deadline; also for helpers doing long native work.
pub(crate) fn check_deadline() -> Result<(), Box<EvalAltResult>> {
    let abandoned = QUERY.with_borrow(|q| q.as_ref().is_some_and(QueryDeadline::is_abandoned));
    match DEADLINE.get() {
        Some(d) if abandoned || Instant::now() >= d => {
            Err(EvalAltResult::ErrorTerminated("time limit".into(), Position::NONE).into())
        }
        _ => Ok(()),
    }
}

/// Top-level entries of a container, as a measure of what measuring it costs.
fn entries(value: &Dynamic) -> u64 {
    let n = match (value.as_map_ref(), value.as_array_ref()) {
        (Ok(m), _) => m.len(),
        (_, Ok(a)) => a.len(),
        _ => 0,
    };
    1 + n as u64
}

/// Measures the script-built containers in `ctx`'s scope (and `this`) against the size
/// limits. Returns the cost and whether the scope holds shared values (captured by
/// closures): those are measured by [`measure_shared`] when accessed, because reading
/// one that another part of the script holds locked could wait.
fn measure(ctx: &EvalContext) -> Result<(u64, bool), Box<EvalAltResult>> {
    let engine = ctx.engine();
    let (mut cost, mut shared) = (0, false);
    for (_, constant, value) in ctx.scope().iter_raw() {
        if value.is_shared() {
            shared = true;
        } else if !constant && (value.is_map() || value.is_array()) {
            engine.ensure_data_size_within_limits(value)?;
            cost += entries(value);
        }
    }
    if let Some(this) = ctx.this_ptr()
        && !this.is_shared()
        && (this.is_map() || this.is_array())
    {
        engine.ensure_data_size_within_limits(this)?;
        cost += entries(this);
    }
    Ok((cost, shared))
}

/// Measures the shared variable `name` as it is accessed, amortized per variable.
fn measure_shared(name: &str, ctx: &EvalContext, ops: u64) -> Result<(), Box<EvalAltResult>> {
    let Some(value) = ctx.scope().get(name) else {
        return Ok(());
    };
    if !value.is_shared() {
        return Ok(());
    }
    let due = SHARED_AT.with_borrow(|at| at.iter().find(|(n, _)| n == name).map_or(0, |(_, d)| *d));
    if ops < due || value.is_locked() {
        return Ok(());
    }
    ctx.engine().ensure_data_size_within_limits(value)?;
    let cost = value.read_lock::<Dynamic>().map_or(1, |v| entries(&v));
    let next = ops + (cost / MEASURE_AMORTIZE).max(MEASURE_MIN_GAP_OPS);
    SHARED_AT.with_borrow_mut(|at| match at.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = next,
        None => at.push((name.to_owned(), next)),
    });
    Ok(())
}

/// Installs the hooks on the one engine configuration.
pub(crate) fn install(engine: &mut Engine) {
    engine.on_print(|text| push_log(text.to_owned()));
    engine.on_debug(|text, _, pos| match pos.line() {
        Some(line) => push_log(format!("[line {line}] {text}")),
        None => push_log(text.to_owned()),
    });
    engine.on_progress(|ops| {
        OPS.set(ops);
        if ops % CLOCK_EVERY_OPS == 0 && check_deadline().is_err() {
            Some(Dynamic::from("time limit"))
        } else {
            None
        }
    });
    // `on_var` is marked deprecated only to say that its signature may change.
    #[allow(deprecated)]
    engine.on_var(|name, _, ctx| {
        let ops = OPS.get();
        if ops >= MEASURE_AT.get() {
            let (cost, shared) = measure(&ctx)?;
            MEASURE_AT.set(ops + (cost / MEASURE_AMORTIZE).max(MEASURE_MIN_GAP_OPS));
            HAS_SHARED.set(shared);
        }
        if HAS_SHARED.get() {
            measure_shared(name, &ctx, ops)?;
        }
        Ok(None)
    });
}

/// Holds this thread's run state for one run and clears it however the run ends.
pub(crate) struct RunGuard;

impl RunGuard {
    /// A run that stops at `deadline`, or when `query` is abandoned.
    pub fn start(deadline: Instant, query: &QueryDeadline, max_log_lines: usize) -> Self {
        DEADLINE.set(Some(deadline));
        QUERY.set(Some(query.clone()));
        OPS.set(0);
        MEASURE_AT.set(0);
        HAS_SHARED.set(false);
        SHARED_AT.with_borrow_mut(Vec::clear);
        LOGS.with_borrow_mut(|buf| {
            buf.lines.clear();
            buf.dropped = 0;
            buf.max = max_log_lines;
        });
        RunGuard
    }

    /// The lines kept; when some were dropped, the last says how many.
    pub fn logs(&self) -> Vec<String> {
        LOGS.with_borrow_mut(|buf| {
            let mut lines = std::mem::take(&mut buf.lines);
            if buf.dropped > 0
                && let Some(last) = lines.last_mut()
            {
                *last = format!(
                    "… {} more lines not kept (only {} are)",
                    buf.dropped + 1,
                    buf.max
                );
            }
            lines
        })
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        DEADLINE.set(None);
        QUERY.set(None);
        SHARED_AT.with_borrow_mut(Vec::clear);
        LOGS.with_borrow_mut(|buf| {
            buf.lines.clear();
            buf.max = 0;
        });
    }
}
