//! How much a command logs. A command prints its result and nothing else: the
//! migration runner's and the libraries' progress lines are for `-v`, or for an
//! operator who set `log_level` on purpose. The server logs at its `log_level`
//! (info by default): its log is how an operator sees it work.

use crate::observability::traces::{self, TraceGuard, TracingError};
use crate::settings::Settings;

/// What the command line and the settings say about logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity {
    /// How many `-v` flags were given.
    pub flags: u8,
    /// Whether `log_level` was set in the config file or the environment.
    pub level_configured: bool,
    /// Whether this is `serve`, whose log is part of its job.
    pub serving: bool,
}

/// Warnings only: something a command should say even when it succeeds.
const QUIET: &str = "warn";

impl Verbosity {
    /// The log filter to run with: `-v` is info, `-vv` debug, whatever the settings
    /// say (flags win); without flags, the configured level for the server or when
    /// set on purpose, else warnings only.
    pub fn filter<'s>(&self, configured: &'s str) -> &'s str {
        match self.flags {
            0 if self.serving || self.level_configured => configured,
            0 => QUIET,
            1 => "info",
            _ => "debug",
        }
    }
}

/// Starts logging to stderr, so that a command's output on stdout stays clean, and
/// trace export when configured; keep the guard until the command ends.
pub fn init(settings: &Settings, verbosity: Verbosity) -> Result<TraceGuard, TracingError> {
    // Trace export is the server's: a one-off command exports nothing.
    traces::install(
        settings,
        verbosity.filter(&settings.log_level),
        verbosity.serving,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verbosity(flags: u8, level_configured: bool, serving: bool) -> Verbosity {
        Verbosity {
            flags,
            level_configured,
            serving,
        }
    }

    #[test]
    fn commands_are_quiet_unless_asked_and_the_server_is_not() {
        assert_eq!(verbosity(0, false, false).filter("info"), "warn");
        assert_eq!(verbosity(0, true, false).filter("debug"), "debug");
        assert_eq!(verbosity(0, false, true).filter("info"), "info");
        assert_eq!(verbosity(1, false, false).filter("info"), "info");
        assert_eq!(verbosity(2, false, false).filter("info"), "debug");
        assert_eq!(verbosity(3, true, true).filter("warn"), "debug");
    }
}
