#!/usr/bin/env bash
# Runs the whole test suite: the set-up script's own tests, formatting,
# lints, unit, integration and doc tests of every crate (benchmarks and
# examples are compiled and their criterion benches run once in test mode;
# the `pipeline!` examples run and check their own output; the status
# page is tested in headless Chromium, which scripts/browser.sh installs;
# the Kafka backend's tests start brokers that scripts/kafka-broker.sh
# installs). Ends with a one-line total.
#
# The first run compiles RocksDB's C++ (about 15 minutes on 2 cores; cargo
# prints each crate as it compiles); after scripts/demo.sh it reuses that build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/browser.sh
# The Kafka-protocol brokers the Kafka backend's tests start (nisshi is
# built from crates.io on a fresh machine: about 14 minutes).
scripts/kafka-broker.sh install
results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "== scripts/test-setup.sh" >&2
scripts/test-setup.sh | tee -a "$results"
echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy --all-targets -- -D warnings (the first build takes about 15 minutes)" >&2
# The test profile, so that build scripts (RocksDB!) are shared with `cargo test`.
cargo clippy --workspace --all-targets --profile test -- -D warnings
echo "== cargo test --workspace --all-targets" >&2
# Built first with cargo's progress shown, then run quietly.
cargo test --workspace --all-targets --no-run
cargo test --workspace --all-targets --quiet 2>&1 | tee -a "$results"
echo "== cargo test --doc" >&2
cargo test --workspace --doc --quiet 2>&1 | tee -a "$results"
# Sum the per-binary "test result" lines (and the set-up tests' line) into one closing line.
awk '/^(test result|setup):/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
