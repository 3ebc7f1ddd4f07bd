//! Durability of acknowledged ingest: the real binary is killed with SIGKILL while
//! NDJSON batches are in flight, restarted on the same database, and every batch is
//! resent until acknowledged. An acknowledged event must never be lost, no event may
//! be stored twice, and a batch is stored whole or not at all.
//!
//! Runs on SQLite (a temporary file) and on PostgreSQL (a fresh database on
//! `TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`,
//! dropped afterwards). Without PostgreSQL that half is skipped with a note, except
//! under `CI=true`, where it fails.
//!
//! No HTTP or PostgreSQL client is a dependency of this crate, so both are spoken
//! here by hand over `std::net::TcpStream`: HTTP/1.1 with `Connection: close`, and
//! the PostgreSQL simple-query protocol (trust or cleartext-password authentication),
//! only to create and drop the database.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BATCHES: usize = 100;
const EVENTS_PER_BATCH: usize = 50;
/// The server is killed once this many batches are acknowledged.
const KILL_AFTER_ACKS: usize = 20;
/// Client threads sending at once, so that requests are in flight at the kill.
const SENDERS: usize = 4;
const AGENCY: &str = "durability";
const WORKSPACE: &str = "dur";

// ---------------------------------------------------------------------------------
// The binary

fn hourglass() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hourglass"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HOURGLASS_") {
            command.env_remove(key);
        }
    }
    command
}

/// A running `hourglass serve`; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    address: String,
    log: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(database_url: &str) -> Self {
        let mut child = hourglass()
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("HOURGLASS_LOG_FORMAT", "json")
            // The client sends as fast as it can; the rate limit is not under test.
            .env("HOURGLASS_RATE_LIMIT__REQUESTS_PER_SECOND", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (found, address) = mpsc::channel();
        let start_log = Arc::new(Mutex::new(Vec::new()));
        let early = start_log.clone();
        // Reads the log for the bound address, then keeps draining it so the server
        // never blocks on a full pipe; ends when the process dies.
        let log = std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &found
                    && let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && let Some(address) = entry["fields"]["address"].as_str()
                {
                    let _ = tx.send(address.to_owned());
                    found = None;
                } else if found.is_some() {
                    early.lock().unwrap().push(line);
                }
            }
        });
        let address = match address.recv_timeout(Duration::from_secs(120)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                let _ = log.join();
                panic!(
                    "the server did not log its address (exit: {status}); its log:\n{}",
                    start_log.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child,
            address,
            log: Some(log),
        }
    }

    /// SIGKILL: no shutdown, no draining, no closing of the database.
    fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
        if let Some(log) = self.log.take() {
            log.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn admin(database_url: &str, args: &[&str]) -> String {
    let output = hourglass()
        .arg("admin")
        .args(args)
        .args(["--database-url", database_url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hourglass admin {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

// ---------------------------------------------------------------------------------
// HTTP/1.1 by hand

/// Sends one request on a fresh connection and reads the whole answer.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn parse_response(raw: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers (connection cut?)"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line in {head}")))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name == "content-length" {
            length = value.parse::<usize>().ok();
        }
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        if rest.len() < length {
            return Err(invalid(format!(
                "body cut short: {} of {length} bytes",
                rest.len()
            )));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("chunk size line cut"))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(invalid("chunk cut"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A GraphQL answer's `data`, failing on any error.
fn graphql(address: &str, key: &str, query: &str, variables: &Value) -> Value {
    let auth = format!("Bearer {key}");
    let body = json!({ "query": query, "variables": variables }).to_string();
    let (status, answer) = http(
        address,
        "POST",
        "/graphql",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(status, 200, "{answer:#}");
    assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
    answer["data"].clone()
}

// ---------------------------------------------------------------------------------
// The batches

fn message_id(batch: usize, event: usize) -> String {
    format!("dur-{batch:03}-{event:02}")
}

fn ndjson(batch: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for event in 0..EVENTS_PER_BATCH {
        let line = json!({
            "messageId": message_id(batch, event),
            "kind": "PAGE_VIEW",
            "occurredAt": format!("2026-03-{:02}T{:02}:{:02}:00Z", 1 + batch % 28, event % 24, batch % 60),
            "contactId": format!("c{}", (batch * EVENTS_PER_BATCH + event) % 97),
            "assetId": format!("page-{}", event % 5),
            "channel": "email",
        });
        body.extend_from_slice(line.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

/// What the server said to one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    accepted: u64,
    duplicates: u64,
}

/// Posts one batch; `Ok(Some)` only for a 200 with a well-formed report. A batch
/// that got any other answer, or none, is not acknowledged.
fn send(address: &str, key: &str, batch: usize) -> io::Result<Option<Ack>> {
    let auth = format!("Bearer {key}");
    let (status, body) = http(
        address,
        "POST",
        &format!("/v1/events?workspace={WORKSPACE}"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-ndjson"),
        ],
        &ndjson(batch),
    )?;
    if status != 200 {
        eprintln!(
            "batch {batch}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        return Ok(None);
    }
    let report: Value = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
    assert_eq!(
        report["rejected"],
        json!([]),
        "batch {batch} had rejections: {report}"
    );
    Ok(Some(Ack {
        accepted: report["accepted"].as_u64().unwrap(),
        duplicates: report["duplicates"].as_u64().unwrap(),
    }))
}

/// Every stored messageId of the workspace, read through the events connection
/// (duplicates kept, so a double store would show).
fn stored_message_ids(address: &str, key: &str) -> Vec<String> {
    let query = "query($ws: ID!, $after: String) {
      events(workspace: $ws, first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { messageId }
      }
    }";
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = graphql(
            address,
            key,
            query,
            &json!({ "ws": WORKSPACE, "after": after }),
        );
        let events = &data["events"];
        for node in events["nodes"].as_array().unwrap() {
            ids.push(node["messageId"].as_str().unwrap().to_owned());
        }
        if events["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = events["pageInfo"]["endCursor"].clone();
        assert!(after.is_string(), "{data:#}");
    }
}

// ---------------------------------------------------------------------------------
// The scenario

fn acknowledged_events_survive_a_kill(database_url: &str) {
    let started = Instant::now();
    let mut server = Server::start(database_url);
    admin(database_url, &["create-agency", AGENCY]);
    let key = admin(
        database_url,
        &["create-key", "--agency", AGENCY, "--role", "ADMIN"],
    )
    .trim()
    .to_owned();
    assert!(
        !key.is_empty() && !key.contains(char::is_whitespace),
        "{key:?}"
    );
    graphql(
        &server.address,
        &key,
        "mutation($slug: String!) { createWorkspace(slug: $slug, name: \"Durability\") { slug } }",
        &json!({ "slug": WORKSPACE }),
    );

    // Phase 1: SENDERS threads take batches in order and record the acknowledged
    // ones, until the server dies under them.
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<Option<Ack>>>> = Arc::new(Mutex::new(vec![None; BATCHES]));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (next, acked, in_flight, dead, answers) = (
                next.clone(),
                acked.clone(),
                in_flight.clone(),
                dead.clone(),
                answers.clone(),
            );
            let (address, key) = (server.address.clone(), key.clone());
            std::thread::spawn(move || {
                loop {
                    let batch = next.fetch_add(1, Ordering::SeqCst);
                    if batch >= BATCHES || dead.load(Ordering::SeqCst) {
                        return;
                    }
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let answer = send(&address, &key, batch);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match answer {
                        Ok(Some(ack)) => {
                            answers.lock().unwrap()[batch] = Some(ack);
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        // No answer: the server is gone (or going); stop sending.
                        Ok(None) | Err(_) => dead.store(true, Ordering::SeqCst),
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < KILL_AFTER_ACKS {
        assert!(
            Instant::now() < deadline,
            "only {} batches acknowledged in 120 s",
            acked.load(Ordering::SeqCst)
        );
        if dead.load(Ordering::SeqCst)
            || (next.load(Ordering::SeqCst) >= BATCHES && in_flight.load(Ordering::SeqCst) == 0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !dead.load(Ordering::SeqCst),
        "a batch was refused before the kill (see above)"
    );
    // A few random milliseconds more, so the kill lands at a different point of the
    // in-flight requests each run (waiting, inside the transaction, committing,
    // answering).
    std::thread::sleep(Duration::from_micros(rand::random_range(0..20_000)));
    let in_flight_at_kill = in_flight.load(Ordering::SeqCst);
    server.kill();
    dead.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().unwrap();
    }
    let first_answers = answers.lock().unwrap().clone();
    let acknowledged: BTreeSet<usize> = (0..BATCHES)
        .filter(|b| first_answers[*b].is_some())
        .collect();
    eprintln!(
        "killed after {} acknowledged batches with {in_flight_at_kill} requests in flight",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() >= KILL_AFTER_ACKS && acknowledged.len() < BATCHES,
        "the kill should fall mid-stream: {} of {BATCHES} acknowledged",
        acknowledged.len()
    );
    for batch in &acknowledged {
        // Each batch was sent once before the kill, so all of it was new.
        assert_eq!(
            first_answers[*batch],
            Some(Ack {
                accepted: EVENTS_PER_BATCH as u64,
                duplicates: 0
            }),
            "first answer to batch {batch}"
        );
    }

    // Phase 2: restart on the same database; resend every unacknowledged batch and
    // a few acknowledged ones.
    let server = Server::start(database_url);
    let mut resent_accepted = 0;
    for batch in (0..BATCHES).filter(|b| !acknowledged.contains(b)) {
        let ack = send(&server.address, &key, batch)
            .unwrap()
            .unwrap_or_else(|| panic!("batch {batch} refused after the restart"));
        // One transaction per batch: a batch cut by the kill is stored whole or not
        // at all.
        let whole = EVENTS_PER_BATCH as u64;
        assert!(
            ack == Ack {
                accepted: whole,
                duplicates: 0
            } || ack
                == Ack {
                    accepted: 0,
                    duplicates: whole
                },
            "unacknowledged batch {batch} resent: {ack:?} (partly stored before the kill?)"
        );
        resent_accepted += ack.accepted;
    }
    let again: Vec<usize> = acknowledged.iter().copied().step_by(4).take(5).collect();
    for batch in &again {
        let ack = send(&server.address, &key, *batch).unwrap().unwrap();
        assert_eq!(
            ack,
            Ack {
                accepted: 0,
                duplicates: EVENTS_PER_BATCH as u64
            },
            "acknowledged batch {batch} resent after the restart: its events must all be stored already"
        );
    }

    // Every acknowledged event present exactly once; nothing else and nothing missing.
    let stored = stored_message_ids(&server.address, &key);
    let distinct: HashSet<&str> = stored.iter().map(String::as_str).collect();
    assert_eq!(
        distinct.len(),
        stored.len(),
        "some events are stored more than once"
    );
    for batch in &acknowledged {
        for event in 0..EVENTS_PER_BATCH {
            let id = message_id(*batch, event);
            assert!(
                distinct.contains(id.as_str()),
                "acknowledged event {id} (batch {batch}) is lost"
            );
        }
    }
    let sent: HashSet<String> = (0..BATCHES)
        .flat_map(|b| (0..EVENTS_PER_BATCH).map(move |e| message_id(b, e)))
        .collect();
    assert_eq!(stored.len(), BATCHES * EVENTS_PER_BATCH);
    assert!(
        distinct.iter().all(|id| sent.contains(*id)),
        "stored events that were never sent"
    );
    let kpis = graphql(
        &server.address,
        &key,
        "query($ws: ID!) { kpis(workspace: $ws) { pageViews eventCounts { kind count } } }",
        &json!({ "ws": WORKSPACE }),
    );
    assert_eq!(
        kpis["kpis"]["pageViews"],
        json!(BATCHES * EVENTS_PER_BATCH),
        "{kpis:#}"
    );
    assert_eq!(
        kpis["kpis"]["eventCounts"],
        json!([{ "kind": "PAGE_VIEW", "count": BATCHES * EVENTS_PER_BATCH }]),
    );
    eprintln!(
        "{} batches acknowledged before the kill, {} events of the unacknowledged ones \
         were already stored, {resent_accepted} stored on resend; {:.1} s",
        acknowledged.len(),
        (BATCHES - acknowledged.len()) * EVENTS_PER_BATCH - resent_accepted as usize,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sqlite_keeps_every_acknowledged_event_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("durability.db").display()
    );
    acknowledged_events_survive_a_kill(&url);
}

#[test]
fn postgres_keeps_every_acknowledged_event_across_a_kill() {
    let Some(database) = PostgresDatabase::create() else {
        return;
    };
    acknowledged_events_survive_a_kill(&database.url);
}

// ---------------------------------------------------------------------------------
// A throw-away PostgreSQL database, made and dropped over the wire protocol

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

struct PostgresDatabase {
    url: String,
    name: String,
}

impl PostgresDatabase {
    /// `None` (with a note) when PostgreSQL is unreachable outside CI.
    fn create() -> Option<Self> {
        let admin_url = postgres_admin_url();
        let name = format!("hourglass_dur_{}", rand::random::<u32>());
        match PgUrl::parse(&admin_url)
            .and_then(|url| url.simple_query(&format!("CREATE DATABASE \"{name}\"")))
        {
            Ok(()) => {}
            Err(e) if in_ci() => {
                panic!("CI=true needs PostgreSQL at {admin_url} for the durability test: {e}")
            }
            Err(e) => {
                eprintln!("skipping the PostgreSQL durability test ({admin_url}): {e}");
                return None;
            }
        }
        let server = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(s, _)| s);
        Some(Self {
            url: format!("{server}/{name}"),
            name,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let dropped = PgUrl::parse(&postgres_admin_url()).and_then(|url| {
            url.simple_query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// The parts of a `postgres://user[:password]@host[:port]/database` URL.
struct PgUrl {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    database: String,
}

impl PgUrl {
    fn parse(url: &str) -> io::Result<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| invalid(format!("not a postgres:// URL: {url}")))?;
        let rest = rest.split('?').next().unwrap_or_default();
        let (credentials, rest) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password.to_owned())),
            None => (credentials, None),
        };
        let (host_port, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| invalid(format!("bad port in {url}")))?,
            ),
            None => (host_port, 5432),
        };
        Ok(Self {
            user: user.to_owned(),
            password,
            host: host.to_owned(),
            port,
            database: if database.is_empty() {
                "postgres".into()
            } else {
                database.to_owned()
            },
        })
    }

    /// Connects, runs one statement with the simple-query protocol, disconnects.
    fn simple_query(&self, sql: &str) -> io::Result<()> {
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        // StartupMessage: length, protocol 3.0, then name/value pairs.
        let mut startup = Vec::new();
        startup.extend_from_slice(&196_608_u32.to_be_bytes());
        for (name, value) in [("user", &self.user), ("database", &self.database)] {
            startup.extend_from_slice(name.as_bytes());
            startup.push(0);
            startup.extend_from_slice(value.as_bytes());
            startup.push(0);
        }
        startup.push(0);
        write_message(&mut stream, None, &startup)?;
        loop {
            let (tag, body) = read_message(&mut stream)?;
            match tag {
                b'R' => match body
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                {
                    Some(0) => {}
                    Some(3) => {
                        let password = self.password.as_deref().ok_or_else(|| {
                            invalid("the server asks for a password; put it in TEST_POSTGRES_URL")
                        })?;
                        let mut message = password.as_bytes().to_vec();
                        message.push(0);
                        write_message(&mut stream, Some(b'p'), &message)?;
                    }
                    other => {
                        return Err(invalid(format!(
                            "authentication method {other:?} is not supported by this test \
                             (use trust or password authentication)"
                        )));
                    }
                },
                b'E' => return Err(invalid(server_error(&body))),
                b'Z' => break,
                _ => {}
            }
        }
        let mut query = sql.as_bytes().to_vec();
        query.push(0);
        write_message(&mut stream, Some(b'Q'), &query)?;
        let mut failure = None;
        loop {
            let (tag, body) = read_message(&mut stream)?;
            match tag {
                b'E' => failure = Some(server_error(&body)),
                b'Z' => break,
                _ => {}
            }
        }
        let _ = write_message(&mut stream, Some(b'X'), &[]);
        failure.map_or(Ok(()), |message| Err(invalid(message)))
    }
}

fn write_message(stream: &mut TcpStream, tag: Option<u8>, body: &[u8]) -> io::Result<()> {
    let mut message = Vec::with_capacity(body.len() + 5);
    if let Some(tag) = tag {
        message.push(tag);
    }
    let length = u32::try_from(body.len() + 4).map_err(|_| invalid("message too long"))?;
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(body);
    stream.write_all(&message)
}

fn read_message(stream: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0_u8; 5];
    stream.read_exact(&mut header)?;
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0; length.saturating_sub(4)];
    stream.read_exact(&mut body)?;
    Ok((header[0], body))
}

/// The human part of an ErrorResponse: its 'M' field (and 'C', the SQLSTATE).
fn server_error(body: &[u8]) -> String {
    let mut code = "";
    let mut message = "";
    for field in body.split(|b| *b == 0) {
        match field.first() {
            Some(b'C') => code = std::str::from_utf8(&field[1..]).unwrap_or_default(),
            Some(b'M') => message = std::str::from_utf8(&field[1..]).unwrap_or_default(),
            _ => {}
        }
    }
    format!("PostgreSQL error {code}: {message}")
}
