#!/usr/bin/env bash
# Runs the quick-start demo on the embedded log. Extra arguments go to the
# demo (e.g. --records 200000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --quiet -p tributary-examples --example demo -- "$@"
