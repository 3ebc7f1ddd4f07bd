#!/usr/bin/env bash
# Everything a change must pass, and what CI runs: formatting, lints, all tests.
#   scripts/check.sh          format check, clippy -D warnings, every test on SQLite and PostgreSQL
# PostgreSQL is expected at 127.0.0.1:5432 (user postgres); set TEST_POSTGRES_URL to point
# elsewhere. Without it the PostgreSQL half of each test is skipped, unless CI=true, where
# a missing server fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The test crate turns the server's `otlp` feature on; the default build has it off.
step "cargo clippy, the server as shipped (without the otlp feature)"
cargo clippy -p hourglass-server --bins --locked -- -D warnings

step "cargo test (SQLite and PostgreSQL)"
log="$(mktemp)"
skips="$(mktemp)"
trap 'rm -f "$log" "$skips"' EXIT
status=0
# A test half that cannot run (no PostgreSQL outside CI) returns early and counts as
# passed to cargo; it writes a line to this file, so the closing line counts it apart.
TEST_SKIPPED_LOG="$skips" cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo prints one per binary, doc-tests last).
awk -v skipped="$(wc -l < "$skips")" \
  '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
   END { printf "\ntests: %d passed, %d failed, %d skipped\n", p - skipped, f, s + skipped }' "$log"
if [ -s "$skips" ]; then
  printf 'skipped: %s (no PostgreSQL; CI=true makes this a failure)\n' "$(sort "$skips" | uniq -c | head -3 | tr -s ' ')"
fi
exit "$status"
