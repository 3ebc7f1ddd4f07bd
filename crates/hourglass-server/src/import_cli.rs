//! `hourglass import FILE`: events exported from a CRM or a spreadsheet, streamed
//! into a workspace through the one ingest path (`ingest::ingest`, in batches of
//! `ingest.max_batch_events`), with the same validation and idempotency as
//! `POST /v1/events`.
//!
//! Memory stays flat whatever the file's size: rows are read one batch at a time.
//! A row without a `messageId` gets one derived from its content
//! (`core::event::derived_message_id`), so running the same import twice stores
//! nothing twice. Rejected rows go to a report file (line, messageId, code, reason);
//! the command exits with 2 when there were any.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal as _, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hourglass_core::event::derived_message_id;
use hourglass_core::identity::Identification;
use hourglass_core::segment::{TrackNames, Translated};
use hourglass_core::{EventDraft, Rejection, RejectionCode};
use hourglass_storage::WorkspaceStore;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};

use crate::cli::{ImportArgs, ImportFormat};
use crate::graphql::AppState;
use crate::ingest::{self, IngestReport, Item};
use crate::segment;
use crate::settings::Settings;

/// The fields a column can fill (NDJSON's names); `properties.NAME` fills a property.
pub const FIELDS: &[&str] = &[
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
];

/// How a CSV file's columns become event fields (`--mapping FILE`, TOML):
///
/// ```toml
/// [columns]            # column in the file = event field
/// "Email" = "contactId"
/// "Minutes" = "properties.minutes"
/// [constants]          # fields the file does not hold, the same for every row
/// kind = "REGISTRATION"
/// ```
///
/// Without one, each column is named after its field.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    constants: BTreeMap<String, Value>,
}

fn is_field(name: &str) -> bool {
    FIELDS.contains(&name)
        || name
            .strip_prefix("properties.")
            .is_some_and(|p| !p.is_empty())
}

impl Mapping {
    fn read(path: &Path) -> anyhow::Result<Self> {
        use figment::providers::{Format as _, Toml};
        let mapping: Self = figment::Figment::from(Toml::file(path))
            .extract()
            .with_context(|| format!("reading the mapping {}", path.display()))?;
        for field in mapping.columns.values().chain(mapping.constants.keys()) {
            if !is_field(field) {
                bail!(
                    "the mapping names '{field}', which is not an event field ({} or properties.NAME)",
                    FIELDS.join(", ")
                );
            }
        }
        Ok(mapping)
    }

    /// The field each column fills, by position; every column must fill one.
    fn fields_of(&self, headers: &csv::StringRecord) -> anyhow::Result<Vec<String>> {
        headers
            .iter()
            .map(|column| {
                let field = self.columns.get(column).map_or(column, String::as_str);
                if is_field(field) {
                    Ok(field.to_owned())
                } else {
                    bail!(
                        "the column '{column}' is not an event field: name it after one ({} or \
                         properties.NAME), or map it with --mapping",
                        FIELDS.join(", ")
                    )
                }
            })
            .collect()
    }
}

/// One row as the fields of an event, with a message id derived from them when it
/// has none.
fn draft_of(fields: Map<String, Value>) -> Result<EventDraft, Rejection> {
    let mut fields = fields;
    if !fields.contains_key("messageId") {
        let id = derived_message_id(&fields);
        fields.insert("messageId".into(), Value::String(id));
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        Rejection::new(
            RejectionCode::MalformedEvent,
            format!("the row is not an event: {e}"),
        )
    })
}

/// A CSV value in JSON: `value` and properties that read as numbers are numbers.
fn cell(field: &str, text: &str) -> Value {
    let numeric = field == "value" || field.starts_with("properties.");
    match text.parse::<f64>() {
        Ok(n) if numeric => {
            serde_json::Number::from_f64(n).map_or(Value::String(text.into()), Value::Number)
        }
        _ => Value::String(text.to_owned()),
    }
}

fn csv_fields(
    fields: &[String],
    record: &csv::StringRecord,
    constants: &BTreeMap<String, Value>,
) -> Map<String, Value> {
    let mut event = Map::new();
    let mut properties = Map::new();
    for (field, text) in fields.iter().zip(record.iter()) {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match field.strip_prefix("properties.") {
            Some(name) => {
                properties.insert(name.to_owned(), cell(field, text));
            }
            None => {
                event.insert(field.clone(), cell(field, text));
            }
        }
    }
    for (field, value) in constants {
        match field.strip_prefix("properties.") {
            Some(name) => {
                properties
                    .entry(name.to_owned())
                    .or_insert_with(|| value.clone());
            }
            None => {
                event.entry(field.clone()).or_insert_with(|| value.clone());
            }
        }
    }
    if !properties.is_empty() {
        event.insert("properties".into(), Value::Object(properties));
    }
    event
}

/// Counts the bytes read through it, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Refuses a CSV record longer than `max` bytes while it is read, so that a row
/// with an unterminated quote (which makes the rest of the file one record) cannot
/// fill memory: the csv crate keeps a record whole, whatever its size. A record
/// ends at a line break outside quotes; `""` inside quotes toggles twice.
struct RecordCap<R> {
    inner: R,
    max: usize,
    in_record: usize,
    quoted: bool,
}

impl<R: Read> Read for RecordCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for byte in &buf[..n] {
            match byte {
                b'"' => self.quoted = !self.quoted,
                b'\n' if !self.quoted => {
                    self.in_record = 0;
                    continue;
                }
                _ => {}
            }
            self.in_record += 1;
            if self.in_record > self.max {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "a CSV record longer than {} bytes (an unterminated quote?): the import \
                         stops here; rows before it are stored",
                        self.max
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// A batch of the file: its events (or why a row is none) with their line
/// numbers, and the identifications of a Segment file.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    identifications: Vec<Identification>,
}

impl Batch {
    fn len(&self) -> usize {
        self.items.len() + self.identifications.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rows of the file, a batch at a time, each with its line number.
enum Rows {
    Ndjson {
        reader: BufReader<Counting<File>>,
        line: usize,
        max_event_bytes: usize,
        /// How a Segment file's `track` names read (the workspace's), or `None` for
        /// hourglass's own NDJSON.
        segment: Option<TrackNames>,
    },
    Csv {
        records: csv::StringRecordsIntoIter<RecordCap<Counting<File>>>,
        fields: Vec<String>,
        constants: BTreeMap<String, Value>,
    },
}

impl Rows {
    /// The next rows, and why reading stopped early when the file cannot be read on
    /// (the rows read before are still returned, to be stored).
    fn next_batch(&mut self, size: usize) -> (Batch, Option<anyhow::Error>) {
        let mut batch = Batch::default();
        while batch.len() < size {
            match self {
                Rows::Ndjson {
                    reader,
                    line,
                    max_event_bytes,
                    segment,
                } => {
                    let read = match next_line(reader, *max_event_bytes) {
                        Ok(Some(read)) => read,
                        Ok(None) => break,
                        Err(e) => {
                            return (
                                batch,
                                Some(anyhow::Error::new(e).context("reading the file")),
                            );
                        }
                    };
                    *line += 1;
                    if let (Some(names), Line::Read(bytes)) = (&*segment, &read) {
                        let text = bytes.trim_ascii();
                        if text.is_empty() {
                            continue;
                        }
                        match segment_message(text, names, *max_event_bytes) {
                            Ok(Translated::Event(draft)) => batch.items.push((*line, Ok(draft))),
                            Ok(Translated::Identity(identity)) => {
                                batch.identifications.push(identity);
                            }
                            Err(rejection) => batch.items.push((*line, Err(rejection))),
                        }
                        continue;
                    }
                    let draft = match read {
                        Line::TooLong => Err(Rejection::new(
                            RejectionCode::EventTooLarge,
                            format!("the line is longer than {max_event_bytes} bytes"),
                        )),
                        Line::Read(bytes) => {
                            let text = bytes.trim_ascii();
                            if text.is_empty() {
                                continue;
                            }
                            ingest::parse_event_line(text, *max_event_bytes).and_then(
                                |draft| match (&draft.message_id, serde_json::from_slice(text)) {
                                    (None, Ok(Value::Object(fields))) => draft_of(fields),
                                    _ => Ok(draft),
                                },
                            )
                        }
                    };
                    batch.items.push((*line, draft));
                }
                Rows::Csv {
                    records,
                    fields,
                    constants,
                } => {
                    let Some(record) = records.next() else { break };
                    let (line, draft) = match record {
                        Ok(record) => {
                            let line = record.position().map_or(0, |p| p.line() as usize);
                            (line, draft_of(csv_fields(fields, &record, constants)))
                        }
                        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                            return (
                                batch,
                                Some(anyhow::Error::new(e).context("reading the file")),
                            );
                        }
                        Err(e) => {
                            let line = e.position().map_or(0, |p| p.line() as usize);
                            (
                                line,
                                Err(Rejection::new(
                                    RejectionCode::MalformedEvent,
                                    format!("the row is not CSV: {e}"),
                                )),
                            )
                        }
                    };
                    batch.items.push((line, draft));
                }
            }
        }
        (batch, None)
    }
}

/// One line of a Segment file: a message of the tracking spec, as a Segment export
/// or a tracker's archive holds them, one per line.
fn segment_message(
    text: &[u8],
    names: &TrackNames,
    max_event_bytes: usize,
) -> Result<Translated, Rejection> {
    let message: Value = serde_json::from_slice(text).map_err(|e| {
        Rejection::new(
            RejectionCode::MalformedEvent,
            format!("the line is not a Segment message in JSON: {e}"),
        )
    })?;
    segment::read_message(message, names, chrono::Utc::now(), max_event_bytes)
}

/// One line of an NDJSON file.
enum Line {
    Read(Vec<u8>),
    /// Longer than an event may be: only its first bytes were held, the rest skipped.
    TooLong,
}

/// The next line, holding at most `max` bytes of it in memory whatever its length;
/// `None` at the end of the file.
fn next_line(reader: &mut impl BufRead, max: usize) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    if reader.by_ref().take(limit).read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') || line.len() <= max {
        return Ok(Some(Line::Read(line)));
    }
    // Skip the rest of the line without keeping it.
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                break;
            }
            None => {
                let all = available.len();
                reader.consume(all);
            }
        }
    }
    Ok(Some(Line::TooLong))
}

/// What an import came to.
#[derive(Debug, Default)]
struct Totals {
    rows: u64,
    accepted: u64,
    duplicates: u64,
    identified: u64,
    rejected: u64,
}

/// Progress on a terminal: a bar with rate and ETA; elsewhere a plain line every
/// few seconds.
struct Progress {
    bar: Option<ProgressBar>,
    read: Arc<AtomicU64>,
    size: u64,
    last_line: Instant,
    started: Instant,
}

const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    fn new(size: u64, read: Arc<AtomicU64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(size);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            read,
            size,
            last_line: Instant::now(),
            started: Instant::now(),
        }
    }

    fn update(&mut self, totals: &Totals) {
        let read = self.read.load(Ordering::Relaxed);
        let message = format!(
            "{} rows: {} stored, {} duplicates, {} rejected",
            totals.rows, totals.accepted, totals.duplicates, totals.rejected
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(read);
                bar.set_message(message);
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                let rate = totals.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
                eprintln!(
                    "{:.0} % of the file, {message} ({rate:.0} rows/s)",
                    100.0 * read as f64 / self.size.max(1) as f64
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Writes rejected rows to the report file, created at the first one.
struct Report {
    path: PathBuf,
    writer: Option<csv::Writer<File>>,
}

impl Report {
    fn add(&mut self, report: &IngestReport) -> anyhow::Result<()> {
        for rejected in &report.rejected {
            if self.writer.is_none() {
                let mut writer = csv::Writer::from_path(&self.path)
                    .with_context(|| format!("creating the report {}", self.path.display()))?;
                writer.write_record(["line", "messageId", "code", "reason"])?;
                self.writer = Some(writer);
            }
            if let Some(writer) = &mut self.writer {
                writer.write_record([
                    rejected.index.to_string(),
                    rejected.message_id.clone().unwrap_or_default(),
                    rejected.rejection.code.as_str().to_owned(),
                    rejected.rejection.message.clone(),
                ])?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(writer) = &mut self.writer {
            writer.flush()?;
        }
        Ok(())
    }
}

pub async fn run(args: ImportArgs, settings: Settings) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        Some(format) => format,
        None if args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
        {
            ImportFormat::Csv
        }
        None => ImportFormat::Ndjson,
    };
    let mapping = match &args.mapping {
        Some(path) => Mapping::read(path)?,
        None => Mapping::default(),
    };
    let file =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: file,
        read: Arc::clone(&read),
    };
    let mut rows = match format {
        ImportFormat::Ndjson | ImportFormat::Segment => {
            if args.mapping.is_some() {
                bail!("--mapping is for CSV files; NDJSON lines name their fields");
            }
            Rows::Ndjson {
                reader: BufReader::new(counting),
                line: 0,
                max_event_bytes: settings.ingest.max_event_bytes,
                segment: (format == ImportFormat::Segment).then(TrackNames::default),
            }
        }
        ImportFormat::Csv => {
            let capped = RecordCap {
                inner: counting,
                // An event is at most max_event_bytes of JSON; its CSV row is shorter,
                // but quoting may double a field.
                max: settings.ingest.max_event_bytes.saturating_mul(2),
                in_record: 0,
                quoted: false,
            };
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(capped);
            let headers = reader.headers().context("reading the CSV header")?.clone();
            Rows::Csv {
                fields: mapping.fields_of(&headers)?,
                records: reader.into_records(),
                constants: mapping.constants,
            }
        }
    };

    let settings = Arc::new(settings);
    let store = crate::app::connect(&settings).await?;
    let ws: WorkspaceStore = store
        .agency_tenant(&args.agency)
        .await?
        .workspace(&args.workspace)
        .await
        .with_context(|| {
            format!(
                "the workspace '{}' of agency '{}'",
                args.workspace, args.agency
            )
        })?;
    if let Rows::Ndjson {
        segment: Some(names),
        ..
    } = &mut rows
    {
        *names = ws.track_names().await?;
    }
    let state = AppState::new(store.clone(), Arc::clone(&settings));
    let report_path = args.report.clone().unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".rejected.csv");
        PathBuf::from(name)
    });
    let mut report = Report {
        path: report_path,
        writer: None,
    };
    let mut totals = Totals::default();
    let mut progress = Progress::new(size, read);
    let started = Instant::now();
    let mut stopped = None;
    while stopped.is_none() {
        let (batch, stop) = rows.next_batch(settings.ingest.max_batch_events);
        stopped = stop;
        if batch.is_empty() {
            break;
        }
        totals.rows += batch.len() as u64;
        let stored =
            ingest::ingest_with_identities(&state, &ws, batch.items, batch.identifications)
                .await
                .map_err(|e| anyhow::anyhow!("storing a batch: {e}"))?;
        totals.accepted += stored.accepted;
        totals.identified += stored.identified;
        totals.duplicates += stored.duplicates;
        totals.rejected += stored.rejected.len() as u64;
        report.add(&stored)?;
        progress.update(&totals);
    }
    progress.finish();
    report.finish()?;
    store.close().await.ok();
    let seconds = started.elapsed().as_secs_f64();
    let identified = match totals.identified {
        0 => String::new(),
        n => format!(", {n} identifications"),
    };
    println!(
        "{} rows in {seconds:.1} s ({:.0} rows/s): {} stored, {} already there, {} rejected{identified}",
        totals.rows,
        totals.rows as f64 / seconds.max(1e-3),
        totals.accepted,
        totals.duplicates,
        totals.rejected
    );
    if totals.rejected > 0 {
        println!(
            "rejected rows, with their line and reason: {}",
            report.path.display()
        );
    }
    if let Some(error) = stopped {
        // The rows above are stored; the rest of the file was not read.
        return Err(error);
    }
    if totals.rejected > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_becomes_the_event_its_columns_name() {
        let headers = csv::StringRecord::from(vec!["Email", "When", "kind", "Minutes", "value"]);
        let mapping = Mapping {
            columns: [
                ("Email", "contactId"),
                ("When", "occurredAt"),
                ("Minutes", "properties.minutes"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
            constants: [("channel".to_owned(), Value::String("webinar".into()))]
                .into_iter()
                .collect(),
        };
        let fields = mapping.fields_of(&headers).unwrap();
        let record = csv::StringRecord::from(vec![
            "ann@acme.example",
            "2026-04-01T10:00:00Z",
            "ATTENDANCE",
            "55",
            "3300",
        ]);
        let event = csv_fields(&fields, &record, &mapping.constants);
        assert_eq!(
            Value::Object(event.clone()),
            serde_json::json!({"contactId": "ann@acme.example", "occurredAt": "2026-04-01T10:00:00Z",
                "kind": "ATTENDANCE", "value": 3300.0, "channel": "webinar", "properties": {"minutes": 55.0}})
        );
        // The same row always gets the same message id; another row another.
        let first = draft_of(event.clone()).unwrap().message_id;
        assert_eq!(first, draft_of(event.clone()).unwrap().message_id);
        let mut other = event;
        other.insert("value".into(), serde_json::json!(3301.0));
        assert_ne!(first, draft_of(other).unwrap().message_id);
    }

    #[test]
    fn a_line_too_long_is_skipped_without_being_held() {
        let text = format!("short\n{}\nafter", "x".repeat(100));
        let mut reader = std::io::Cursor::new(text.into_bytes());
        assert!(
            matches!(next_line(&mut reader, 10).unwrap(), Some(Line::Read(l)) if l == b"short\n")
        );
        assert!(matches!(
            next_line(&mut reader, 10).unwrap(),
            Some(Line::TooLong)
        ));
        assert!(
            matches!(next_line(&mut reader, 10).unwrap(), Some(Line::Read(l)) if l == b"after")
        );
        assert!(next_line(&mut reader, 10).unwrap().is_none());
    }

    #[test]
    fn a_runaway_csv_record_is_refused_while_it_is_read() {
        let good = "a,\"b, with \"\"quotes\"\" and\na line break\"\nc,d\n";
        let mut read = String::new();
        let mut capped = RecordCap {
            inner: good.as_bytes(),
            max: 40,
            in_record: 0,
            quoted: false,
        };
        capped.read_to_string(&mut read).unwrap();
        assert_eq!(read, good);
        let runaway = format!("a,\"never closed\n{}", "x,y\n".repeat(100));
        let mut capped = RecordCap {
            inner: runaway.as_bytes(),
            max: 40,
            in_record: 0,
            quoted: false,
        };
        let error = capped.read_to_string(&mut String::new()).unwrap_err();
        assert!(error.to_string().contains("unterminated quote"), "{error}");
    }

    #[test]
    fn an_unmapped_column_is_refused_before_anything_is_read() {
        let headers = csv::StringRecord::from(vec!["contactId", "Favourite colour"]);
        let error = Mapping::default()
            .fields_of(&headers)
            .unwrap_err()
            .to_string();
        assert!(error.contains("Favourite colour"), "{error}");
    }
}
