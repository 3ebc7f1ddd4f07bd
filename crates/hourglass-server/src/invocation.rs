//! How the operator ran this program, so that a "next:" line they can paste is in
//! the same form: `cargo run -- serve` from a checkout, `./target/release/hourglass
//! serve` or `hourglass serve` otherwise, with the `--config` and `--database-url`
//! they gave so the next command finds the same data.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How to run this program again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The words before the subcommand: `["cargo", "run", "--release", "--"]` or
    /// `["hourglass"]`.
    program: Vec<String>,
    /// Global options to carry over.
    options: Vec<String>,
    /// Whether `options` hold a password shown as `****`.
    masked: bool,
}

/// What [`Invocation::new`] reads from the process; a struct so tests can make one.
#[derive(Debug, Clone, Default)]
pub struct Process {
    /// `argv[0]`, as the shell passed it.
    pub arg0: Option<OsString>,
    /// The path of the running executable.
    pub exe: Option<PathBuf>,
    /// Whether cargo started this process (`cargo run` sets `CARGO` for it).
    pub under_cargo: bool,
}

impl Process {
    pub fn current() -> Self {
        Self {
            arg0: std::env::args_os().next(),
            exe: std::env::current_exe().ok(),
            under_cargo: std::env::var_os("CARGO").is_some(),
        }
    }
}

impl Invocation {
    /// How to run this program again with the same `config` file and `database_url`.
    pub fn new(process: &Process, config: Option<&Path>, database_url: Option<&str>) -> Self {
        let program = if process.under_cargo {
            let mut words = vec!["cargo".to_owned(), "run".to_owned()];
            // Built by cargo into <target>/<profile>/: the same profile again.
            let profile = process
                .exe
                .as_deref()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .and_then(|p| p.to_str());
            if profile == Some("release") {
                words.push("--release".into());
            }
            words.push("--".into());
            words
        } else {
            // As typed: a path (`./target/release/hourglass`) works from here, a bare
            // name was found on PATH and will be again.
            let typed = process
                .arg0
                .as_ref()
                .map(|a| a.to_string_lossy().into_owned())
                .filter(|a| !a.is_empty());
            vec![typed.unwrap_or_else(|| "hourglass".into())]
        };
        let mut options = Vec::new();
        if let Some(config) = config {
            options.push("--config".into());
            options.push(config.display().to_string());
        }
        let mut masked = false;
        if let Some(url) = database_url {
            let shown = crate::settings::redact(url);
            masked = shown != url;
            options.push("--database-url".into());
            options.push(shown);
        }
        Self {
            program,
            options,
            masked,
        }
    }

    /// The command line that runs `args` (`["serve"]`), quoted for a POSIX shell.
    pub fn command(&self, args: &[&str]) -> String {
        let words = self
            .program
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .chain(self.options.iter().map(String::as_str));
        words.map(quote).collect::<Vec<_>>().join(" ")
    }

    /// What to say after a [`command`](Self::command) shown with a masked password
    /// (outside the command, so that the command itself can be pasted).
    pub fn note(&self) -> &'static str {
        if self.masked {
            " (with your password in place of ****)"
        } else {
            ""
        }
    }
}

/// `word` as one shell word: as is when it is plain, else in single quotes.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(arg0: &str, exe: &str, under_cargo: bool) -> Process {
        Process {
            arg0: Some(arg0.into()),
            exe: Some(exe.into()),
            under_cargo,
        }
    }

    #[test]
    fn from_a_checkout_the_next_step_is_cargo_run() {
        let debug = process(
            "target/debug/hourglass",
            "/src/target/debug/hourglass",
            true,
        );
        assert_eq!(
            Invocation::new(&debug, None, None).command(&["serve"]),
            "cargo run -- serve"
        );
        let release = process(
            "/src/target/release/hourglass",
            "/src/target/release/hourglass",
            true,
        );
        assert_eq!(
            Invocation::new(&release, None, None).command(&["serve"]),
            "cargo run --release -- serve"
        );
    }

    #[test]
    fn otherwise_it_is_the_program_as_typed() {
        let installed = process("hourglass", "/usr/local/bin/hourglass", false);
        assert_eq!(
            Invocation::new(&installed, None, None).command(&["serve"]),
            "hourglass serve"
        );
        let built = process(
            "./target/release/hourglass",
            "/src/target/release/hourglass",
            false,
        );
        assert_eq!(
            Invocation::new(&built, None, None).command(&["serve"]),
            "./target/release/hourglass serve"
        );
        let unknown = Process::default();
        assert_eq!(
            Invocation::new(&unknown, None, None).command(&["serve"]),
            "hourglass serve"
        );
    }

    #[test]
    fn the_config_file_and_database_come_along_quoted() {
        let installed = process("hourglass", "/usr/local/bin/hourglass", false);
        let again = Invocation::new(
            &installed,
            Some(Path::new("my settings.toml")),
            Some("sqlite://demo.db?mode=rwc"),
        );
        assert_eq!(
            again.command(&["serve"]),
            "hourglass serve --config 'my settings.toml' --database-url 'sqlite://demo.db?mode=rwc'"
        );
        let cargo = process(
            "target/debug/hourglass",
            "/src/target/debug/hourglass",
            true,
        );
        let masked = Invocation::new(&cargo, None, Some("postgres://app:pw@db/hg"));
        assert_eq!(
            masked.command(&["admin", "create-key", "--agency", "it's"]),
            "cargo run -- admin create-key --agency 'it'\\''s' --database-url \
             'postgres://app:****@db/hg'"
        );
        assert_eq!(masked.note(), " (with your password in place of ****)");
    }
}
