#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit, integration and doc
# tests of every crate, and a compile check of benchmarks and examples.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test --workspace" >&2
cargo test --workspace --all-targets --quiet
echo "== cargo test --doc" >&2
cargo test --workspace --doc --quiet
