//! The server under test, as a child process of its own: its resident memory is
//! then the server's alone, and the bench can only reach it the way clients do.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A running `hourglass serve`; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    /// Starts the release `hourglass` binary on a free 127.0.0.1 port and waits
    /// until `/health` answers. Rate limits are off: the bench measures queries.
    /// `answer_cache` turns the KPI answer cache on or off, `metrics` the recording
    /// of metrics (served on a free port of its own).
    pub async fn start(
        hourglass: &Path,
        database_url: &str,
        answer_cache: bool,
        metrics: bool,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let mut command = Command::new(hourglass);
        if !answer_cache {
            command.env("HOURGLASS_KPIS__ANSWER_CACHE_ENTRIES", "0");
        }
        let child = command
            .args(["serve", "--bind", &address, "--database-url", database_url])
            .env("HOURGLASS_RATE_LIMIT__REQUESTS_PER_SECOND", "0")
            .env("HOURGLASS_LOG_LEVEL", "warn")
            // A free port: a second server (or an operator's) may hold the default.
            .env(
                "HOURGLASS_METRICS_BIND",
                if metrics { "127.0.0.1:0" } else { "" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", hourglass.display()))?;
        let mut server = Self { child, address };
        server.wait_until_healthy().await?;
        Ok(server)
    }

    async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("http://{}/health", self.address);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server exited at start-up: {status}");
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server did not answer {url} within 60 s")
    }

    /// The server's resident memory in MB (VmRSS), and its peak (VmHWM).
    pub fn memory_mb(&self) -> anyhow::Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's /proc status (Linux only)")?;
        let field = |name: &str| -> anyhow::Result<f64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} missing from /proc status"))?;
            let kb: f64 = line
                .split_whitespace()
                .nth(1)
                .with_context(|| format!("no number in {line}"))?
                .parse()?;
            Ok(kb / 1024.0)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Resets the peak (VmHWM) to the current resident memory, so that the next
    /// [`memory_mb`](Self::memory_mb) reports the peak since now.
    pub fn reset_peak_memory(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .context("resetting the server's peak memory (Linux only)")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: the bench is ending either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the OS picks it; the listener is dropped).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `hourglass` binary next to the bench's own (the same release build).
pub fn default_binary() -> anyhow::Result<PathBuf> {
    let bench = std::env::current_exe()?;
    let dir = bench
        .parent()
        .context("the bench binary has no directory")?;
    Ok(dir.join("hourglass"))
}

/// Runs `hourglass ARGS --database-url URL` and returns its stdout.
pub fn run_cli(hourglass: &Path, database_url: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(hourglass)
        .args(args)
        .args(["--database-url", database_url])
        .env("HOURGLASS_LOG_LEVEL", "warn")
        .output()
        .with_context(|| format!("running hourglass {}", args.join(" ")))?;
    anyhow::ensure!(
        output.status.success(),
        "hourglass {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}
