//! The `hourglass` binary as an operator runs it.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Server, hourglass};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display())
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// POSTs a GraphQL query with an API key; the whole HTTP response as text.
fn graphql_with_key(address: &str, key: &str, query: &str) -> String {
    let body = serde_json::json!({ "query": query }).to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&sqlite_url(&dir), &[]);
    let health = http_get(&server.address, "/health");
    assert!(
        health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"),
        "{health}"
    );
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn admin_bootstraps_an_agency_whose_key_works_once_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let admin = |args: &[&str]| {
        hourglass()
            .arg("admin")
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap()
    };
    let created = admin(&["create-agency", "northwind", "--name", "Northwind"]);
    assert!(created.status.success(), "{created:?}");
    let again = admin(&["create-agency", "northwind"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let issued = admin(&["create-key", "--agency", "northwind", "--role", "read"]);
    assert!(issued.status.success(), "{issued:?}");
    // stdout is the key and nothing else, so `KEY=$(hourglass admin create-key …)` works.
    let key = String::from_utf8(issued.stdout)
        .unwrap()
        .trim_end()
        .to_owned();
    assert!(
        key.starts_with("hg_") && !key.contains(char::is_whitespace),
        "{key}"
    );
    let public_id = key.split('_').nth(1).unwrap().to_owned();

    let listed = String::from_utf8(admin(&["list-keys", "--agency", "northwind"]).stdout).unwrap();
    assert!(
        listed.contains(&public_id) && listed.contains("READ"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "a listing never shows a secret");

    for (args, complaint) in [
        (
            &["create-key", "--agency", "nobody", "--role", "READ"][..],
            "agency 'nobody' was not found",
        ),
        (
            &["create-key", "--agency", "northwind", "--role", "OWNER"][..],
            "role",
        ),
        (
            &[
                "create-key",
                "--agency",
                "northwind",
                "--workspace",
                "none",
                "--role",
                "READ",
            ][..],
            "workspace 'none' was not found",
        ),
    ] {
        let refused = admin(args);
        assert!(!refused.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(complaint), "{args:?}: {stderr}");
    }

    // The server trusts a verified key for a second; the CLI is another process, so
    // its revocation reaches the server through the database within that second.
    let server = Server::start(&url, &[("HOURGLASS_AUTH__KEY_CACHE_SECONDS", "1")]);
    let address = &server.address;
    let answer = graphql_with_key(address, &key, "{ viewer { agency { slug } role } }");
    let verified = Instant::now();
    assert!(answer.contains("\"slug\":\"northwind\""), "{answer}");
    assert!(answer.contains("\"role\":\"READ\""), "{answer}");

    let revoked = admin(&["revoke-key", "--agency", "northwind", &public_id]);
    assert!(revoked.status.success(), "{revoked:?}");
    let refused = loop {
        let answer = graphql_with_key(address, &key, "{ viewer { role } }");
        if !answer.contains("\"role\":\"READ\"") {
            break answer;
        }
        assert!(
            verified.elapsed() < Duration::from_secs(3),
            "a revoked key still works {:?} after it was verified",
            verified.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        refused.starts_with("HTTP/1.0 401") || refused.starts_with("HTTP/1.1 401"),
        "{refused}"
    );
    assert!(refused.contains("UNAUTHENTICATED"), "{refused}");
}

#[test]
fn migrate_applies_lists_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let run = |args: &[&str]| {
        let output = hourglass()
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run(&["migrate", "status"]).starts_with("pending "));
    assert!(run(&["migrate", "up"]).starts_with("applied "));
    assert!(run(&["migrate", "down", "--steps", "1"]).contains("pending "));
}

#[test]
fn a_misspelled_environment_setting_stops_the_start_with_a_clear_message() {
    let output = hourglass()
        .args(["migrate", "status"])
        .env("HOURGLASS_DATABSE_URL", "sqlite://x.db")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("databse_url"), "{stderr}");
}

#[test]
fn schema_prints_the_committed_sdl() {
    let output = hourglass().arg("schema").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql"))
            .unwrap();
    assert!(
        String::from_utf8(output.stdout).unwrap() == committed,
        "`hourglass schema` differs from schema.graphql; see tests/tests/contracts.rs"
    );
}

#[test]
fn rollups_rebuild_recomputes_every_event_the_demo_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let run = |args: &[&str]| {
        let output = hourglass()
            .args(args)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, demo, stderr) = run(&["demo", "--events", "3000"]);
    assert!(ok, "{stderr}");
    // "demo workspace 'demo' of agency 'demo': N events stored, …"
    let stored: u64 = demo
        .split("': ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {demo}"));
    assert!(stored > 1_000, "{demo}");
    // The next step works as printed: the same program, on the same database.
    assert!(
        demo.contains(&format!(" serve --database-url '{url}'`")),
        "{demo}"
    );

    let (ok, all, stderr) = run(&["rollups", "rebuild"]);
    assert!(ok, "{stderr}");
    assert!(
        all.contains(&format!("workspace 'demo': {stored} events, ")),
        "{all}"
    );
    // The same workspace by name computes the same rows again.
    let (ok, one, stderr) = run(&[
        "rollups",
        "rebuild",
        "--agency",
        "demo",
        "--workspace",
        "demo",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(one, all);

    let (ok, _, stderr) = run(&["rollups", "rebuild", "--workspace", "demo"]);
    assert!(!ok, "--workspace needs --agency");
    assert!(stderr.contains("--agency"), "{stderr}");
    let (ok, _, stderr) = run(&[
        "rollups",
        "rebuild",
        "--agency",
        "demo",
        "--workspace",
        "nowhere",
    ]);
    assert!(!ok);
    assert!(stderr.contains("nowhere"), "{stderr}");
}

/// Names of what hourglass is built with: the operator needs none of them to use it.
const LIBRARY_WORDS: &[&str] = &[
    "actix",
    "sea-orm",
    "sea_orm",
    "seaorm",
    "sqlx",
    "figment",
    "async-graphql",
    "async_graphql",
    "tracing",
    "clap",
    "tokio",
    "anyhow",
    "serde",
    "indicatif",
    "crate",
];

/// Every command below `command`, with its path (`admin create-key`).
fn commands(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in command.get_subcommands() {
        let path = format!("{path} {}", sub.get_name()).trim().to_owned();
        out.push((path.clone(), sub.clone()));
        commands(sub, &path, out);
    }
}

#[test]
fn every_command_explains_itself_in_the_operators_words() {
    use clap::CommandFactory as _;
    let mut top = hourglass_server::cli::Cli::command();
    top.build();
    let mut all = vec![(String::new(), top.clone())];
    commands(&top, "", &mut all);
    assert!(all.len() > 20, "{} commands", all.len());
    for (path, command) in &all {
        let name = format!("hourglass {path}");
        assert!(command.get_about().is_some(), "`{name}` has no about");
        if path.starts_with("help") {
            // The parser's own `help` command and its copies of the others.
            continue;
        }
        let help = command.clone().render_long_help().to_string();
        let lower = help.to_lowercase();
        for word in LIBRARY_WORDS {
            assert!(
                !lower.contains(word),
                "`{name} --help` says {word}:\n{help}"
            );
        }
        let own_arguments: Vec<_> = command
            .get_arguments()
            .filter(|a| !["help", "version"].contains(&a.get_id().as_str()))
            .collect();
        for argument in &own_arguments {
            assert!(
                argument.get_help().is_some(),
                "`{name}`: {} has no help line",
                argument.get_id()
            );
        }
        // Every command that takes arguments of its own shows how, and so does
        // every command an operator reaches first.
        let takes_arguments = own_arguments.iter().any(|a| !a.is_global_set());
        let main_command = !path.contains(' ') && !["help", "schema"].contains(&path.as_str());
        if takes_arguments || main_command {
            assert!(
                help.contains("\nExamples:\n"),
                "`{name}` has no examples:\n{help}"
            );
        }
    }
}

#[test]
fn help_opens_with_what_hourglass_does() {
    let output = hourglass().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.starts_with("Self-hosted analytics for B2B marketing"),
        "{help}"
    );
    let output = hourglass()
        .args(["help", "admin", "create-key"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.starts_with("Issue an API key"), "{help}");
    assert!(
        help.contains("Examples:\n  hourglass admin create-key --agency northwind --role ADMIN"),
        "{help}"
    );
}

#[test]
fn a_command_that_succeeds_prints_its_result_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    // On a fresh file: migrations run, quietly.
    let output = hourglass()
        .args(["admin", "create-agency", "acme", "--database-url", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("agency 'acme' created"), "{stdout}");
    assert!(
        stdout.contains("admin create-key --agency acme --role ADMIN"),
        "{stdout}"
    );

    // What happens on the way, for those who ask: -v, or a log level set on purpose.
    for (flags, env) in [
        (&["-v"][..], None),
        (&[][..], Some(("HOURGLASS_LOG_LEVEL", "info"))),
    ] {
        let fresh = tempfile::tempdir().unwrap();
        let mut command = hourglass();
        command
            .args(flags)
            .args(["admin", "create-agency", "acme", "--database-url"])
            .arg(sqlite_url(&fresh));
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("INFO"), "{flags:?} {env:?}: {stderr}");
    }
}

#[test]
fn a_failing_command_says_what_went_wrong_and_what_to_do_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for (args, url, complaint, remedy) in [
        (
            &[
                "admin",
                "create-key",
                "--agency",
                "nobody",
                "--role",
                "READ",
            ][..],
            url.as_str(),
            "agency 'nobody' was not found",
            "hourglass admin create-agency",
        ),
        (
            &["admin", "list-keys", "--agency", "acme"][..],
            "postgres://postgres:hunter2@127.0.0.1:1/x",
            "cannot open the database at postgres://postgres:****@127.0.0.1:1/x",
            "database server is up and reachable, and --database-url or HOURGLASS_DATABASE_URL",
        ),
    ] {
        let output = hourglass()
            .args(args)
            .args(["--database-url", url])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(complaint), "{stderr}");
        assert!(stderr.contains(remedy), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn config_shows_each_setting_with_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hourglass.toml");
    std::fs::write(&file, "bind = \"0.0.0.0:9000\"\n[graphql]\nmax_depth = 5\n").unwrap();
    let config = |extra: &[&str]| {
        let output = hourglass()
            .arg("--config")
            .arg(&file)
            .arg("config")
            .args(["--bind", "127.0.0.1:7000"])
            .args(extra)
            .env(
                "HOURGLASS_DATABASE_URL",
                "postgres://app:hunter2@db/hourglass",
            )
            .env("HOURGLASS_RATE_LIMIT__BURST", "7")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(output.stderr.is_empty(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(!stdout.contains("hunter2"), "{stdout}");
        stdout
    };
    let text = config(&[]);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("bind"), "bind = \"127.0.0.1:7000\" (flag --bind)");
    assert_eq!(
        line("graphql.max_depth"),
        format!("graphql.max_depth = 5 (file {})", file.display())
    );
    assert_eq!(
        line("rate_limit.burst"),
        "rate_limit.burst = 7 (environment HOURGLASS_RATE_LIMIT__BURST)"
    );
    assert_eq!(
        line("database_url"),
        "database_url = \"postgres://app:****@db/hourglass\" (environment HOURGLASS_DATABASE_URL)"
    );
    assert_eq!(
        line("graphql.max_page_size"),
        "graphql.max_page_size = 100 (default)"
    );

    let json: serde_json::Value = serde_json::from_str(&config(&["--json"])).unwrap();
    assert_eq!(
        json["graphql.max_depth"],
        serde_json::json!({"value": 5, "source": "file", "from": file.display().to_string()})
    );
    assert_eq!(
        json["bind"],
        serde_json::json!({"value": "127.0.0.1:7000", "source": "flag", "from": "--bind"})
    );
    // Every setting the shipped config file lists (optional ones left out of the file
    // show as not set).
    use figment::providers::Format as _;
    let shipped: serde_json::Value = figment::Figment::from(figment::providers::Toml::file(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/default.toml"),
    ))
    .extract()
    .unwrap();
    let mut keys = Vec::new();
    flatten_keys("", &shipped, &mut keys);
    assert!(keys.len() > 40, "{keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| json.get(k.as_str()).is_none())
        .collect();
    assert!(missing.is_empty(), "not shown: {missing:?}");
}

fn flatten_keys(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value.as_object() {
        Some(map) => {
            for (name, value) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten_keys(&key, value, out);
            }
        }
        None => out.push(prefix.to_owned()),
    }
}
