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

step "cargo test (SQLite and PostgreSQL)"
cargo test --workspace --locked
