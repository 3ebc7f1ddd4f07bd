//! The one sandboxed engine: construction, compile, run for one organization and for
//! many in parallel.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{AST, Dynamic, Engine};

use super::convert::{PreparedShared, Reads, SharedInput, compile_scope, run_scope};
use super::error::{ScriptError, ScriptErrorKind, StopContext};
use super::limits::{MAX_FUNCTIONS, MAX_SOURCE_BYTES, MAX_VARIABLES, QueryDeadline, ScriptLimits};
use super::output::{ScriptOutput, to_output};
use super::sandbox::{self, RunGuard};
use super::{fields, library, lists};
use crate::engagement::OrgRecords;

/// Stack for the threads scripts run on: deep but bounded recursion stays far from it.
const SCRIPT_STACK_BYTES: usize = 16 * 1024 * 1024;

/// A compiled script: cheap to clone and to share between threads.
#[derive(Clone)]
pub struct CompiledScript {
    pub(crate) ast: Arc<AST>,
    pub(crate) reads: Reads,
}

impl CompiledScript {
    /// Whether the script reads `events`. One that does not is fed from the aggregate
    /// layer's facts, and storage need not load a single raw event for it.
    pub fn reads_events(&self) -> bool {
        self.reads.events
    }
}

impl fmt::Debug for CompiledScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledScript")
            .field("functions", &self.ast.iter_functions().count())
            .finish()
    }
}

/// The sandboxed Rhai engine. One instance serves every thread and every query.
pub struct ScriptEngine {
    pub(crate) engine: Engine,
    limits: ScriptLimits,
}

impl fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ScriptEngine {
    /// The one constructor of sandboxed engines. `limits` are sanitized: no limit can be
    /// turned off (see [`ScriptLimits`]).
    pub fn new(limits: ScriptLimits) -> Self {
        let limits = limits.sanitized();
        // A raw engine with chosen packages: the standard set's core package would bring
        // `sleep`, which blocks a thread without counting operations.
        let mut engine = Engine::new_raw();
        engine.register_global_module(ArithmeticPackage::new().as_shared_module());
        engine.register_global_module(LogicPackage::new().as_shared_module());
        engine.register_global_module(BasicStringPackage::new().as_shared_module());
        engine.register_global_module(MoreStringPackage::new().as_shared_module());
        engine.register_global_module(BasicMathPackage::new().as_shared_module());
        engine.register_global_module(BasicIteratorPackage::new().as_shared_module());
        engine.register_global_module(BasicFnPackage::new().as_shared_module());
        engine.register_global_module(BasicArrayPackage::new().as_shared_module());
        engine.register_global_module(BasicMapPackage::new().as_shared_module());

        engine.set_strict_variables(true);
        engine.disable_symbol("eval");
        engine
            .set_max_operations(limits.max_operations)
            .set_max_expr_depths(limits.max_expr_depth, limits.function_expr_depth())
            .set_max_call_levels(limits.max_call_levels)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_max_variables(MAX_VARIABLES)
            .set_max_functions(MAX_FUNCTIONS);

        sandbox::install(&mut engine);
        lists::register(&mut engine);
        fields::register(&mut engine);
        library::register(&mut engine);
        Self { engine, limits }
    }

    /// The limits this engine enforces (after sanitizing).
    pub fn limits(&self) -> &ScriptLimits {
        &self.limits
    }

    /// Compiles without running. Only ever returns [`ScriptErrorKind::Compile`] errors.
    pub fn compile(&self, source: &str) -> Result<CompiledScript, ScriptError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(ScriptError::new(
                ScriptErrorKind::Compile,
                format!("the script is longer than {MAX_SOURCE_BYTES} bytes"),
            ));
        }
        let ast = self
            .engine
            .compile_with_scope(&compile_scope(None), source)
            .map_err(|e| ScriptError::from_parse(&e, &self.limits))?;
        // Variables are strict: a script compiles without an input in scope exactly
        // when it never names it.
        let names = |input: &str| {
            self.engine
                .compile_with_scope(&compile_scope(Some(input)), source)
                .is_err()
        };
        Ok(CompiledScript {
            ast: Arc::new(ast),
            reads: Reads {
                events: names("events"),
                facts: names("facts"),
            },
        })
    }

    /// Runs once for one organization. `deadline` is the query's; the run's own is
    /// the earlier of it and `per_org_timeout` from the start.
    pub fn run(
        &self,
        script: &CompiledScript,
        org: &OrgRecords,
        shared: &SharedInput,
        deadline: &QueryDeadline,
    ) -> Result<ScriptOutput, ScriptError> {
        let prepared = PreparedShared::new(shared);
        let work = || self.run_prepared(script, org, &prepared, deadline);
        std::thread::scope(|s| {
            match std::thread::Builder::new()
                .name("hourglass-script".into())
                .stack_size(SCRIPT_STACK_BYTES)
                .spawn_scoped(s, work)
            {
                Ok(handle) => handle.join().unwrap_or_else(|_| Err(internal_failure())),
                // No thread to be had: run here, the limits still bound the stack.
                Err(_) => work(),
            }
        })
    }

    /// Runs for many organizations on `threads` OS threads; results in input order.
    /// One organization's failure never affects another's. Blocks: call it from a
    /// blocking context, never on an async executor thread.
    pub fn run_all(
        &self,
        script: &CompiledScript,
        orgs: &[OrgRecords],
        shared: &SharedInput,
        deadline: &QueryDeadline,
        threads: usize,
    ) -> Vec<Result<ScriptOutput, ScriptError>> {
        if orgs.is_empty() {
            return Vec::new();
        }
        let prepared = PreparedShared::new(shared);
        let next = AtomicUsize::new(0);
        let worker = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(org) = orgs.get(i) else { break };
                done.push((i, self.run_prepared(script, org, &prepared, deadline)));
            }
            done
        };
        let mut results: Vec<Option<Result<ScriptOutput, ScriptError>>> =
            (0..orgs.len()).map(|_| None).collect();
        let mut store = |done: Vec<(usize, Result<ScriptOutput, ScriptError>)>| {
            for (i, r) in done {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.clamp(1, orgs.len()))
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .name("hourglass-script".into())
                        .stack_size(SCRIPT_STACK_BYTES)
                        .spawn_scoped(s, worker)
                        .ok()
                })
                .collect();
            if handles.is_empty() {
                store(worker());
            }
            for handle in handles {
                if let Ok(done) = handle.join() {
                    store(done);
                }
            }
        });
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(internal_failure())))
            .collect()
    }

    fn run_prepared(
        &self,
        script: &CompiledScript,
        org: &OrgRecords,
        shared: &PreparedShared,
        query: &QueryDeadline,
    ) -> Result<ScriptOutput, ScriptError> {
        if query.has_passed() {
            return Err(ScriptError::new(
                ScriptErrorKind::LimitExceeded,
                "not run: the query ran out of time before this organization's turn",
            ));
        }
        // The organization's time covers building its inputs, not only the script:
        // a large organization's inputs cost time too.
        let start = Instant::now();
        let deadline = query.at();
        let own = start
            .checked_add(self.limits.per_org_timeout)
            .unwrap_or(deadline);
        let query_deadline_first = deadline < own;
        let guard = RunGuard::start(own.min(deadline), query, self.limits.max_log_lines);
        let mut scope = run_scope(org, shared, script.reads);
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.engine
                .eval_ast_with_scope::<Dynamic>(&mut scope, &script.ast)
        }));
        let logs = guard.logs();
        drop(guard);
        match result {
            Ok(Ok(value)) => to_output(value).map(|out| ScriptOutput { logs, ..out }),
            Ok(Err(err)) => Err(ScriptError::from_eval(
                *err,
                &StopContext {
                    limits: &self.limits,
                    query_deadline_first,
                    elapsed: start.elapsed(),
                },
            )),
            Err(_) => Err(internal_failure()),
        }
    }
}

fn internal_failure() -> ScriptError {
    ScriptError::new(
        ScriptErrorKind::Runtime,
        "the script engine failed unexpectedly on this organization",
    )
}
